"""``--help`` of the fast commands (``exec``, ``send``) in the style of every other command.

The fast commands parse their line with argparse (Typer's import alone would cost more than the
command); only ``--help`` loads Typer, to print the same Rich panels the Typer commands print,
built from the argparse parser itself (one definition of each option, not two).
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import inspect
from pathlib import Path
from typing import Any


def print_rich_help(parser: argparse.ArgumentParser) -> None:
    """Print ``parser``'s help as Typer prints a command's: usage, description, an Arguments
    and an Options panel (choices as ``<a|b|c>``), the epilog."""
    import typer

    *group, name = parser.prog.split()
    params = [_param(a) for a in parser._actions if not isinstance(a, argparse._HelpAction)]

    def command(**_: Any) -> None:  # pragma: no cover - only its signature is used
        pass

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    app = typer.Typer(
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.command(name, help=parser.description, epilog=parser.epilog)(command)
    app.command("_", hidden=True)(command)  # two commands: Typer keeps the name in the usage
    with contextlib.suppress(typer.Exit):
        app(args=[name, "--help"], prog_name=" ".join(group) or name, standalone_mode=False)


def _sentence(text: str | None) -> str:
    """``the swarm`` → ``The swarm.``: the other commands' help texts are sentences."""
    text = (text or "").strip()
    if not text:
        return ""
    first = text.split(maxsplit=1)[0]
    if first.isalpha() and first.islower():  # not "ssh://…", "'mock'", "--wait"
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def _param(action: argparse.Action) -> inspect.Parameter:
    import typer

    base: Any = str
    if action.choices:
        base = _choices(action.dest, [str(c) for c in action.choices])
    elif action.type in (float, int, Path):
        base = action.type
    help_text = _sentence(action.help)
    default: Any
    annotation: Any
    if not action.option_strings:
        default = typer.Argument(..., help=help_text, metavar=action.dest, show_default=False)
        annotation = base
    elif isinstance(action, argparse._StoreTrueAction):
        default = typer.Option(False, *action.option_strings, help=help_text, show_default=False)
        annotation = bool
    else:
        metavar = action.metavar if isinstance(action.metavar, str) else None
        default = typer.Option(
            None, *action.option_strings, help=help_text, metavar=metavar, show_default=False
        )
        annotation = list[base] if isinstance(action, argparse._AppendAction) else base | None
    return inspect.Parameter(
        action.dest, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _choices(name: str, values: list[str]) -> Any:
    """An Enum of ``values``: how Typer shows ``<a|b|c>``."""
    return enum.Enum(name, {v: v for v in values})
