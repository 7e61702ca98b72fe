"""Starting ``codex app-server`` (stdlib only).

Starting the process is kept apart from talking to it so that a command can start Codex first,
within milliseconds of its own start, and load the rest of codeswarm while Codex boots (about a
quarter of a second). :meth:`codeswarm.codex.AppServer.adopt` then connects to the process.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeswarm.codex.toolchain import CodexBinary
from codeswarm.core.errors import UsageError
from codeswarm.core.tomlfmt import config_flags

if TYPE_CHECKING:
    from typing import TypedDict

    class LaunchOptions(TypedDict, total=False):
        """:func:`launch`'s optional arguments, for a caller that passes them on."""

        cwd: Path | None
        config: Mapping[str, Any] | None
        env: Mapping[str, str] | None
        args: Sequence[str]
        seed_home: bool


def app_server_argv(
    binary: CodexBinary | Sequence[str],
    config: Mapping[str, Any] | None = None,
    args: Sequence[str] = (),
) -> list[str]:
    """The command line: the binary, ``-c`` overrides, ``app-server``, extra arguments."""
    head = [*binary.argv] if isinstance(binary, CodexBinary) else list(binary)
    return [*head, *config_flags(config or {}), "app-server", *args]


def launch(
    binary: CodexBinary | Sequence[str],
    *,
    codex_home: Path,
    cwd: Path | None = None,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    seed_home: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``codex app-server`` with ``CODEX_HOME=codex_home`` in its own process group, stdio
    piped. ``seed_home``: a ``codex_home`` Codex has not started in yet gets what Codex would
    first make there, copied from the binary's template (:func:`~codeswarm.codex.toolchain.seed_home`;
    for a home of codeswarm's own, never a person's). Raises :class:`UsageError` when the program
    cannot be started."""
    argv = app_server_argv(binary, config, args)
    extra = dict(binary.env) if isinstance(binary, CodexBinary) else {}
    full_env = {**os.environ, **extra, **(env or {}), "CODEX_HOME": str(codex_home)}
    codex_home.mkdir(parents=True, exist_ok=True)
    if seed_home and isinstance(binary, CodexBinary):
        from codeswarm.codex.toolchain import seed_home as seed

        seed(binary, codex_home)
    return popen_piped(argv, full_env, cwd)


def popen_piped(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: Path | None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own process group with stdin, stdout and stderr piped (a CLI driven
    over stdio: ``codex app-server``, ``claude``). Raises :class:`UsageError` (one line) when the
    program cannot be started."""
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            cwd=str(cwd) if cwd is not None else None,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
    except FileNotFoundError as exc:
        raise UsageError(f"cannot start {argv[0]}: no such file") from exc
    except PermissionError as exc:
        raise UsageError(f"cannot start {argv[0]}: permission denied") from exc
    except OSError as exc:
        raise UsageError(f"cannot start {argv[0]}: {exc.strerror or exc}") from exc
