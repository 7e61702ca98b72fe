"""``codeswarm install codex|claude``: hooks, MCP server and /swarm into a person's own client."""

from __future__ import annotations

from pathlib import Path

import typer


def install(
    client: str = typer.Argument(..., help="codex or claude"),
    scope: str = typer.Option(
        "user", "--scope", help="user (your own config) or project (this repo)"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would change; change nothing."),
    uninstall: bool = typer.Option(False, "--uninstall", help="Take codeswarm out again."),
    repo: Path | None = typer.Option(
        None, "--repo", help="The project for --scope project (default: here)."
    ),
) -> None:
    """Add codeswarm's lease hooks, its MCP server and a /swarm command to Codex or Claude Code.

    Idempotent; keeps your own hooks and servers; --uninstall restores each file byte for byte."""
    from codeswarm.core.errors import UsageError
    from codeswarm.core.paths import project_root
    from codeswarm.hooks.install import plan

    if client not in ("codex", "claude"):
        raise UsageError(f"install what? 'codex' or 'claude', not {client!r}")
    if scope not in ("user", "project"):
        raise UsageError(f"--scope must be user or project, not {scope!r}")
    root = (repo or project_root()).resolve()
    chosen = plan(client, scope, repo=root, uninstall=uninstall)  # type: ignore[arg-type]
    changes = chosen.apply(dry_run=dry_run, uninstall=uninstall)
    verb = "would" if dry_run else "did"
    for ch in changes:
        print(("(dry run) " if dry_run else "") + ch.line())
    changed = [c for c in changes if c.action != "unchanged"]
    what = "uninstall" if uninstall else "install"
    print(f"{verb} {what} codeswarm for {client} ({scope}): {len(changed)} file(s) changed")
    if not uninstall and not dry_run and client == "codex":
        print("note: Codex runs a hook only once you trust it (Codex asks at the next session).")
