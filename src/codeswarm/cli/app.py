"""The Typer app for the commands that are not on a hot path, and the one place where their
errors become one line on stderr (see :mod:`codeswarm.cli.errors` for the exit codes)."""

from __future__ import annotations

import sys

import typer

# Typer vendors its own Click; these are the exceptions its parser raises.
from typer._click import exceptions as click_exc

from codeswarm.cli.errors import run_guarded, say

app = typer.Typer(
    name="codeswarm",
    help="A fleet of persistent Codex agents on one codebase.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _register() -> None:
    from codeswarm.cli import mockmodel, toolchain
    from codeswarm.cli.swarm import commands as swarm_commands

    swarm_commands.register(app)
    from codeswarm.cli.install import install

    app.command("install")(install)
    app.add_typer(toolchain.app, name="toolchain")
    app.add_typer(mockmodel.app, name="mock-model")

    # Fast commands are dispatched before this app is built (codeswarm.cli.app); these entries
    # only list them in `codeswarm --help`.
    from codeswarm.cli.mcp import mcp_command

    app.command("mcp")(mcp_command)

    @app.command(
        "coord",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    def coord_(ctx: typer.Context) -> None:
        """The coordination store: agents, leases, tasks, kv, messages (see 'codeswarm coord --help')."""
        from codeswarm.cli.coord import command as coord_command

        raise typer.Exit(coord_command.main(list(ctx.args)))

    @app.command(
        "exec",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    def exec_(ctx: typer.Context) -> None:
        """Run one Codex agent on a prompt, streamed (see 'codeswarm exec --help')."""
        from codeswarm.cli.exec import command as exec_command

        raise typer.Exit(exec_command.main(list(ctx.args)))


_register()


def _typer(args: list[str]) -> int:
    try:
        rc = app(args=args, prog_name="codeswarm", standalone_mode=False)
    except click_exc.NoArgsIsHelpError as exc:
        # a group called without a subcommand: its help, as the person asked for it
        print(exc.ctx.get_help())
        return 0
    except click_exc.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        say(f"error: {exc.format_message()}{hint}")
        return 2
    except typer.Abort:
        say("aborted")
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code)
    return rc if isinstance(rc, int) else 0


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; never lets a traceback reach the person unless ``--debug``/CODESWARM_DEBUG."""
    args = sys.argv[1:] if argv is None else argv
    sys.exit(run_guarded(lambda: _typer(args)))
