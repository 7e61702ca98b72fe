"""The ``codeswarm`` command line.

Importing this package is cheap: the Typer app (and Rich, Click) load only for the commands that
need them. Hot paths that agents and hooks run on every call (``codeswarm coord …``) are
dispatched before any of that is imported.
"""

from __future__ import annotations

import sys

FAST_COMMANDS = {
    "coord": "codeswarm.cli.coord.command",
    "exec": "codeswarm.cli.exec.command",
    "mcp": "codeswarm.cli.mcp",
    "send": "codeswarm.cli.swarm.send",
}
"""Subcommands served without Typer: module with a ``main(argv) -> int``."""
HOT_COMMANDS = ("send", "status", "interrupt")
"""Subcommands whose ordinary lines :mod:`codeswarm.cli.hot` serves with the standard library
alone (about ``python -c pass`` plus a few milliseconds); the rest of their lines go on as
before."""
HUB_FIRST = ("up", "run", "demo")
"""Subcommands that start a local swarm: its coordination hub starts importing first
(:func:`codeswarm.worker.mcphub.prestart`), while the command line is parsed …"""


SUPERVISOR_FIRST = ("up", "run")
"""… or its supervisor does, which forks the worker zygote and the hub
(:mod:`codeswarm.control.launch.pending`; not for ``demo``, which changes its environment before
the swarm starts)."""


def _first(args: list[str], commands: tuple[str, ...], coord: bool = True) -> bool:
    """Whether ``args`` start a local swarm by one of ``commands`` (with coordination, if
    ``coord``)."""
    if not args or args[0] not in commands:
        return False
    for i, arg in enumerate(args):
        if arg in ("--help", "-h", "--dry-run") or (coord and arg == "--no-coord"):
            return False
        if arg == "--backend" and args[i + 1 : i + 2] not in ([], ["local"]):
            return False
        if arg.startswith("--backend=") and arg != "--backend=local":
            return False
    return True


def end(code: int, args: list[str]) -> None:
    """End the process with ``code`` now, when ``args`` is its whole command line (the caller
    would exit with the code next): standard output and error flushed, ``os._exit`` instead of
    the interpreter's teardown (a last garbage collection, every module cleared: ~2 ms of a
    ~20 ms hot command; :mod:`codeswarm.cli.hot`, ``coord``). Nothing on those paths registers
    an exit handler or leaves a thread or a file to close. It returns (the ordinary exit follows)
    for a caller in a process of its own (``--debug`` taken out, the Typer app, a test) and when
    a flush fails (a closed pipe: the ordinary exit says so, as ever)."""
    if sys.argv[1:] != args:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    import os  # (loaded at start-up already)

    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if "--debug" in args:  # tracebacks instead of one-line errors, for every command
        import os

        os.environ["CODESWARM_DEBUG"] = "1"
        args = [a for a in args if a != "--debug"]
    if args and "--remote" in args:
        from codeswarm.cli.remote import FORWARDED

        if args[0] in FORWARDED:  # one-shot on the far host, over ssh
            from codeswarm.cli.remote import run_forwarded
            from codeswarm.core.errors import run_guarded

            sys.exit(run_guarded(lambda: run_forwarded(args)))
    if args and args[0] in HOT_COMMANDS:  # an ordinary line: served with the stdlib alone
        from codeswarm.cli.hot import main as hot

        rc = hot(args)
        if rc is not None:
            sys.exit(rc)
    hub_first = _first(args, HUB_FIRST)
    if _first(args, SUPERVISOR_FIRST, coord=False):  # its hub forked by it (control/launch/prefork)
        from codeswarm.control.launch.pending import prestart as prestart_supervisor

        prestart_supervisor(hub=hub_first)
    elif hub_first:
        from codeswarm.worker.mcphub import prestart

        prestart()
    if args[:1] == ["up"]:  # an ordinary line: without Typer (the rest go on to it)
        from codeswarm.cli.swarm.upline import main as up_line

        rc = up_line(args[1:])
        if rc is not None:
            end(rc, args)
            sys.exit(rc)
    if args and args[0] in FAST_COMMANDS:
        name = FAST_COMMANDS[args[0]]
        __import__(name)  # not importlib.import_module: `import importlib` costs ~1 ms
        sys.exit(sys.modules[name].main(args[1:]))
    from codeswarm.cli.app import main as typer_main

    typer_main(args)


__all__ = ["end", "main"]
