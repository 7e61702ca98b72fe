"""Entry point: the Typer app, and the one place where errors become one line on stderr.

Exit codes: 0 ok, 1 failure, 2 bad input (flag, config, script), 130 interrupted.
"""

from __future__ import annotations

import os
import sys

import click
import typer

from codeswarm.core.errors import CodeswarmError, UsageError

app = typer.Typer(
    name="codeswarm",
    help="A fleet of persistent Codex agents on one codebase.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _register() -> None:
    from codeswarm.cli import exec_cmd, mock_model, toolchain_cmd

    app.add_typer(toolchain_cmd.app, name="toolchain")
    app.add_typer(mock_model.app, name="mock-model")
    app.command("exec")(exec_cmd.exec_command)


_register()


def _say(msg: str) -> None:
    print(f"codeswarm: {msg}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; never lets a traceback reach the person unless ``--debug``/CODESWARM_DEBUG."""
    args = sys.argv[1:] if argv is None else argv
    debug = bool(os.environ.get("CODESWARM_DEBUG"))
    if "--debug" in args:
        args = [a for a in args if a != "--debug"]
        debug = True
    try:
        rc = app(args=args, prog_name="codeswarm", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        # a group called without a subcommand: print its help, as the person asked for it
        click.echo(exc.ctx.get_help())
        rc = 0
    except click.exceptions.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        _say(f"error: {exc.format_message()}{hint}")
        rc = 2
    except click.exceptions.Abort:
        _say("aborted")
        rc = 130
    except click.exceptions.Exit as exc:
        rc = exc.exit_code
    except UsageError as exc:
        if debug:
            raise
        _say(f"error: {exc}")
        rc = 2
    except CodeswarmError as exc:
        if debug:
            raise
        _say(f"error: {exc}")
        rc = 1
    except KeyboardInterrupt:
        _say("interrupted")
        rc = 130
    sys.exit(rc if isinstance(rc, int) else 0)
