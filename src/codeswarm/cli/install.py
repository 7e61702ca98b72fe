"""``codeswarm install codex|claude|openclaw``: hooks, MCP server and the swarm picture command
(Codex: the ``$swarm`` skill; Claude Code: ``/swarm``) into a person's own client, or with
``--gateway`` the orchestrator's tools and a primer instead (docs/hooks.md "Gateway mode"); for
OpenClaw, the ``codeswarm`` skill that lets the assistant run swarms (docs/openclaw.md)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def install(
    client: str = typer.Argument(..., help="codex, claude or openclaw"),
    scope: str = typer.Option(
        "user", "--scope", help="user (your own config) or project (this repo)"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would change; change nothing."),
    uninstall: bool = typer.Option(False, "--uninstall", help="Take codeswarm out again."),
    repo: Path | None = typer.Option(
        None, "--repo", help="The project for --scope project (default: here)."
    ),
    gateway: bool = typer.Option(
        False,
        "--gateway",
        help="Gateway mode: your session conducts the swarm running in the project (the "
        "orchestrator's tools, a short primer; edit small things yourself, delegate the rest).",
    ),
) -> None:
    """Add codeswarm's lease hooks, its MCP server and $swarm (Codex) or /swarm (Claude Code);
    or the codeswarm skill to OpenClaw.

    Idempotent; keeps your own hooks and servers; --uninstall restores each file byte for byte
    (a gateway's too: --gateway --uninstall is the same as --uninstall)."""
    from codeswarm.core.errors import UsageError
    from codeswarm.core.paths import project_root
    from codeswarm.hooks.install import plan

    if client not in ("codex", "claude", "openclaw"):
        raise UsageError(
            f"install what? 'codex' or 'claude' (hooks), or 'openclaw' (its skill), not {client!r}"
        )
    if scope not in ("user", "project"):
        raise UsageError(f"--scope must be user or project, not {scope!r}")
    if client == "openclaw":
        if scope != "user" or repo is not None or gateway:
            raise UsageError(
                "OpenClaw skills are installed per user, without a gateway mode: drop --scope, "
                "--repo and --gateway"
            )
        _openclaw(dry_run=dry_run, uninstall=uninstall)
        return
    root = (repo or project_root()).resolve()
    chosen = plan(client, scope, repo=root, uninstall=uninstall, gateway=gateway)  # type: ignore[arg-type]
    changes = chosen.apply(dry_run=dry_run, uninstall=uninstall)
    verb = "would" if dry_run else "did"
    for ch in changes:
        print(("(dry run) " if dry_run else "") + ch.line())
    changed = [c for c in changes if c.action != "unchanged"]
    what = "uninstall" if uninstall else "install"
    mode = ", gateway" if gateway and not uninstall else ""
    print(f"{verb} {what} codeswarm for {client} ({scope}{mode}): {len(changed)} file(s) changed")
    if not uninstall and not dry_run and client == "codex" and scope == "project":
        _note_project_trust(root)
    if gateway and not uninstall and not dry_run:
        print(
            "gateway mode: your session gets the orchestrator's tools (delegate, check with "
            "wait, converse, list, end, finish) against the swarm running in its project "
            "(`codeswarm up` there); its own edits take leases like any agent's."
        )
    elif not uninstall and not dry_run and client == "codex":
        print(
            "codeswarm's hooks are trusted (the TUI and `codex exec` run them); type $swarm in "
            "Codex for the swarm's picture."
        )


def _openclaw(*, dry_run: bool, uninstall: bool) -> None:
    """The codeswarm skill into (or out of) OpenClaw's ``<state>/skills/codeswarm``."""
    import shutil

    from codeswarm.openclaw import install as skill

    target = skill.skill_dir()
    if uninstall:
        changes = skill.uninstall(dry_run=dry_run, target=target)
    else:
        changes = skill.install(dry_run=dry_run, target=target)
    for ch in changes:
        print(("(dry run) " if dry_run else "") + ch.line())
    changed = [c for c in changes if c.action not in ("unchanged", "keep")]
    verb = "would" if dry_run else "did"
    what = "uninstall" if uninstall else "install"
    print(f"{verb} {what} codeswarm for openclaw ({target}): {len(changed)} file(s) changed")
    if not uninstall and not dry_run:
        print("OpenClaw offers it as the `codeswarm` skill: `openclaw skills info codeswarm`")
        if shutil.which("codeswarm") is None:
            print(
                "note: `codeswarm` is not on PATH: OpenClaw counts the skill as not eligible "
                "until it is (docs/openclaw.md)"
            )


def _note_project_trust(root: Path) -> None:
    """Codex reads a project's ``.codex/`` (hooks, MCP server, skills) only once the person
    trusts the project: say so when they have not yet."""
    import tomllib

    from codeswarm.core.layers import user_codex_home

    config = user_codex_home() / "config.toml"
    try:
        doc = tomllib.loads(config.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        doc = {}
    projects = doc.get("projects") or {}
    entry = projects.get(str(root)) if isinstance(projects, dict) else None
    if not (isinstance(entry, dict) and entry.get("trust_level") == "trusted"):
        print(
            f"note: Codex reads {root}/.codex only in a project you trust: say yes when the "
            f"Codex TUI asks, or add [projects.{json.dumps(str(root))}] trust_level = "
            f'"trusted" to {config}.'
        )
