"""``codeswarm toolchain install|path|doctor``."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(help="Install, locate and check the pinned Codex CLI.", no_args_is_help=True)


@app.command()
def install(
    force: bool = typer.Option(False, "--force", help="Reinstall even if present."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Print nothing when already installed."
    ),
    claude: bool = typer.Option(
        False, "--claude", help="Also install the pinned Claude Code CLI (its tests run it)."
    ),
) -> None:
    """Install the pinned @openai/codex with npm under ~/.cache/codeswarm (never globally).

    Commands that need Codex do this themselves on first use, unless CODESWARM_AUTO_INSTALL=0."""
    if claude:
        _install_claude(force=force, quiet=quiet)
    from codeswarm.cli.toolchain_install import install_with_progress
    from codeswarm.codex.toolchain import describe, managed_prefix
    from codeswarm.core.config import CODEX_VERSION

    wrapper = managed_prefix() / "node_modules" / ".bin" / "codex"
    if wrapper.exists() and not force:
        found = describe(wrapper, "managed")
        if found.version == CODEX_VERSION:
            if not quiet:
                print(f"codex {found.version} already installed: {found.executable}")
            return
    install_with_progress(force=force)


@app.command()
def path() -> None:
    """Print the path of the codex binary codeswarm runs."""
    from codeswarm.codex.toolchain import locate
    from codeswarm.core.config import load_config

    print(locate(load_config()).executable)


@app.command()
def doctor(
    json_out: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Check node, npm, the codex binary and version, and the login for a real model."""
    from codeswarm.codex.doctor import run_checks
    from codeswarm.core.config import load_config

    checks = run_checks(load_config())
    if json_out:
        import orjson

        sys.stdout.write(
            orjson.dumps(
                [
                    {"name": c.name, "ok": c.ok, "detail": c.detail, "required": c.required}
                    for c in checks
                ]
            ).decode()
            + "\n"
        )
    else:
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.required else "warn")
            print(f"{mark}  {c.name:<20} {c.detail}")
    if any(c.required and not c.ok for c in checks):
        raise typer.Exit(1)


def _install_claude(*, force: bool, quiet: bool) -> None:
    from codeswarm.codex import claude_toolchain as tc
    from codeswarm.core.errors import ToolchainError

    if not force:
        try:
            found = tc.locate()
        except ToolchainError:
            pass
        else:
            if found.source == "managed":
                if not quiet:
                    print(f"claude {found.version} already installed: {found.path}")
                return
    print(f"installing {tc.CLAUDE_PACKAGE}@{tc.CLAUDE_VERSION} with npm…", file=sys.stderr)
    found = tc.install(force=force)
    print(f"installed claude {found.version}: {found.path}", file=sys.stderr)
