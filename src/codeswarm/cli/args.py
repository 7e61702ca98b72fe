"""argparse for the fast commands (``exec``, ``send``), which are parsed without Typer, and the
checks every command uses: a duration flag (:func:`seconds`), ``--project`` (:func:`project_dir`,
:func:`find_run`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from codeswarm.core.errors import UsageError

TYPE_CHECKING = False  # not `typing` at run time: these commands start fast
if TYPE_CHECKING:
    from typing import NoReturn

    from codeswarm.core.swarm import RunDir


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose mistakes raise :class:`UsageError` (one line, exit 2) with a
    pointer to the command's help, instead of printing the usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")

    def print_help(self, file: object = None) -> None:
        """``--help`` in the style of every other command (Typer's Rich panels)."""
        from codeswarm.cli.helpfmt import print_rich_help

        print_rich_help(self)


WEEK = 7 * 86400.0


def seconds(flag: str, value: float, lo: float, hi: float) -> float:
    """``value`` when ``lo <= value <= hi`` (so never NaN or infinite), else :class:`UsageError`:
    a duration flag of any command, checked before the command does anything."""
    if not lo <= value <= hi:
        raise UsageError(f"{flag} must be between {lo:g} and {hi:g} seconds, not {value:g}")
    return value


PROJECT_HELP = (
    "the project whose state to use (any directory in it; default: the one holding the "
    "working directory)"
)


def project_dir(value: str | os.PathLike[str] | None) -> Path | None:
    """The directory ``--project`` names, absolute, or None when the flag was not given.
    :class:`UsageError` unless it is an existing directory. The project is the repository that
    holds it (:func:`codeswarm.core.paths.project_root`), wherever the command runs from."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        why = "not a directory" if path.exists() else "no such directory"
        raise UsageError(f"--project {path}: {why}")
    return path.resolve()


def find_run(swarm: str, project: Path | None) -> RunDir:
    """Swarm ``swarm`` of ``project`` when the project was named (``--project``); else as a
    person means it (:meth:`RunDir.find`: this project's, or the one of that name elsewhere)."""
    from codeswarm.core.swarm import RunDir

    return RunDir.find(swarm) if project is None else RunDir.of(swarm, project)


def print_log_tail(path: Path, agent: str, *, codex: bool, lines: int) -> None:
    """The last ``lines`` lines (0: all) of an agent's worker log (``codex``: its Codex log);
    a missing log is a UsageError naming it."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        raise UsageError(f"no log yet at {path}") from None
    if not text:
        print(f"{agent}'s {'Codex' if codex else 'worker'} log is empty ({path})")
        return
    for line in text[-lines:] if lines else text:
        print(line)
