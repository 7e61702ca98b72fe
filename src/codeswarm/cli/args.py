"""argparse for the fast commands (``exec``, ``send``), which are parsed without Typer, and the
one check of a duration flag (:func:`seconds`) every command uses."""

from __future__ import annotations

import argparse

from codeswarm.core.errors import UsageError

TYPE_CHECKING = False  # not `typing` at run time: these commands start fast
if TYPE_CHECKING:
    from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose mistakes raise :class:`UsageError` (one line, exit 2) with a
    pointer to the command's help, instead of printing the usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


WEEK = 7 * 86400.0


def seconds(flag: str, value: float, lo: float, hi: float) -> float:
    """``value`` when ``lo <= value <= hi`` (so never NaN or infinite), else :class:`UsageError`:
    a duration flag of any command, checked before the command does anything."""
    if not lo <= value <= hi:
        raise UsageError(f"{flag} must be between {lo:g} and {hi:g} seconds, not {value:g}")
    return value
