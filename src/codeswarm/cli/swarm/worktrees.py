"""``codeswarm worktrees S``: each agent's worktree of a worktree swarm, with its state (ahead of
and behind the target, uncommitted changes, merged, in use)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from codeswarm.cli.args import PROJECT_HELP, find_run, project_dir
from codeswarm.core.errors import UsageError, say


def worktrees(
    swarm: str = typer.Argument(..., help="The swarm."),
    json_out: bool = typer.Option(False, "--json", help="JSON output."),
    project: Path | None = typer.Option(None, "--project", help=PROJECT_HELP),
) -> None:
    """Each agent's git worktree (--isolation worktree): branch, ahead/behind the target,
    uncommitted changes, merged, in use."""
    from codeswarm.control.worktrees.state import state

    run = find_run(swarm, project_dir(project))
    spec = run.load_spec()
    if spec.isolation != "worktree":
        raise UsageError(f"swarm {spec.name} has no worktrees (its isolation is {spec.isolation})")
    rows = state(spec, run)
    if json_out:
        import orjson

        doc = {"swarm": spec.name, "into": spec.into, "base_commit": spec.base_commit,
               "worktrees": [r.as_json() for r in rows]}  # fmt: skip
        sys.stdout.write(orjson.dumps(doc).decode() + "\n")
        return
    print(f"swarm {spec.name}: worktrees on {spec.into} (from {(spec.base_commit or '?')[:12]})")
    for r in rows:
        where = r.path if r.exists else "(no worktree)"
        ahead = "?" if r.ahead is None else str(r.ahead)
        behind = "?" if r.behind is None else str(r.behind)
        flags = []
        if r.dirty:
            flags.append(f"dirty ({len(r.dirty)})")
        flags.append("merged" if r.merged else "unmerged")
        if r.in_use:
            flags.append(f"in use: {r.in_use}")
        print(f"{r.agent:<16} {r.branch:<32} +{ahead}/-{behind}  {', '.join(flags)}  {where}")
    if not rows:
        say("no agents")
