"""The Typer app for the commands that are not on a hot path, and the one place where their
errors become one line on stderr (exit codes: :func:`codeswarm.core.errors.exit_code`)."""

from __future__ import annotations

import sys

import typer

# Typer vendors its own Click; these are the exceptions its parser raises.
from typer._click import exceptions as click_exc

from codeswarm.core.errors import EXIT_INTERRUPTED, EXIT_USAGE, run_guarded, say

app = typer.Typer(
    name="codeswarm",
    help="A fleet of persistent Codex agents on one codebase.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _fast(name: str, help: str) -> None:
    """List fast command ``name`` in ``codeswarm --help``. :mod:`codeswarm.cli` serves it before
    this app is built; called through the app, it hands its arguments to the command's own
    ``main`` (:data:`codeswarm.cli.FAST_COMMANDS`)."""

    def forward(ctx: typer.Context) -> None:
        import importlib

        from codeswarm.cli import FAST_COMMANDS

        raise typer.Exit(importlib.import_module(FAST_COMMANDS[name]).main(list(ctx.args)))

    app.command(
        name,
        help=help,
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )(forward)


def _register() -> None:
    from codeswarm.cli import mockmodel, sessions, toolchain
    from codeswarm.cli.install import install
    from codeswarm.cli.swarm import commands as swarm_commands

    swarm_commands.register(app)
    from codeswarm.cli.run import run as run_command

    app.command("run")(run_command)
    from codeswarm.cli.demo import demo

    app.command("demo")(demo)
    from codeswarm.cli.serve import serve

    app.command("serve")(serve)
    _fast("send", "Send a message to one agent, some, or all (see 'codeswarm send --help').")
    app.command("install")(install)
    app.add_typer(toolchain.app, name="toolchain")
    app.add_typer(sessions.app, name="sessions")
    from codeswarm.cli import merge

    app.add_typer(merge.app, name="merge")
    app.add_typer(mockmodel.app, name="mock-model")
    _fast(
        "mcp",
        "Serve the coordination store as MCP tools on stdio (identity from CODESWARM_AGENT_ID).",
    )
    _fast(
        "coord",
        "The coordination store: agents, leases, tasks, kv, messages "
        "(see 'codeswarm coord --help').",
    )
    _fast("exec", "Run one Codex agent on a prompt, streamed (see 'codeswarm exec --help').")


_register()


def _typer(args: list[str]) -> int:
    from codeswarm.cli.typerfast import install

    install()  # plain option values coerced without loading Pydantic (≈ 0.1 s of `up`)
    try:
        rc = app(args=args, prog_name="codeswarm", standalone_mode=False)
    except click_exc.NoArgsIsHelpError as exc:
        # a group called without a subcommand: its help, as the person asked for it
        print(exc.ctx.get_help())
        return 0
    except click_exc.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        say(f"error: {exc.format_message()}{hint}")
        return EXIT_USAGE
    except typer.Abort:
        say("aborted")
        return EXIT_INTERRUPTED
    except typer.Exit as exc:
        return int(exc.exit_code)
    return rc if isinstance(rc, int) else 0


ENDED_AT_ONCE = ("up", "down")
"""Commands that hold nothing once they return (no file, thread, connection or temporary left
to close): their process ends with :func:`codeswarm.cli.end` (output flushed, ``os._exit``), not
the interpreter's teardown of Typer, Rich, asyncio and the rest (≈ 20 ms of `up`)."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; never lets a traceback reach the person unless ``--debug``/CODESWARM_DEBUG."""
    args = sys.argv[1:] if argv is None else argv
    code = run_guarded(lambda: _typer(args))
    if args[:1] and args[0] in ENDED_AT_ONCE:
        from codeswarm.cli import end

        end(code, args)
    sys.exit(code)
