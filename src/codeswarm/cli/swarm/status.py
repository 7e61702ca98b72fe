"""``codeswarm status``: replay the outboxes into fleet state; overlay what is actually running."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codeswarm.core.events import Event
from codeswarm.core.swarm import RunDir


def _with_leases(out: dict[str, Any], spec: Any) -> dict[str, Any]:
    """Add each agent's leases (what it holds in the coordination store) to the status."""
    if not spec.coord or not spec.coord_db:
        return out
    from codeswarm.coordination import Coord
    from codeswarm.coordination.models import agent_name
    from codeswarm.core.errors import CoordError
    from codeswarm.core.swarm import swarm_scope

    try:
        with Coord.open(spec.coord_db, root=swarm_scope(spec)) as coord:
            leases = coord.leases()
    except CoordError as exc:
        out["coordination"] = {"error": str(exc)}
        return out
    held: dict[str, list[dict[str, Any]]] = {}
    for lease in leases:
        held.setdefault(agent_name(lease.holder), []).append(
            {"path": lease.path, "mode": lease.mode, "note": lease.note, "token": lease.token}
        )
    for agent in out["agents"]:
        agent["leases"] = held.get(agent["id"], [])
    return out


def fleet_status(run: RunDir) -> dict[str, Any]:
    """The status JSON (the contract in the CLI docs)."""
    spec = run.load_spec()
    return _with_leases(_fleet_status(run, spec), spec)


def _fleet_status(
    run: RunDir, spec: Any, sink: Callable[[Event], None] | None = None
) -> dict[str, Any]:
    from codeswarm.control.fleet.router import Router
    from codeswarm.control.launch import backend_for
    from codeswarm.worker.wiring import role_of

    router = Router(run, start="begin", spec=spec)
    router.replay(sink)
    sections = backend_for(spec.backend).overlay(router.fleet, run, spec)
    out = {**router.fleet.as_json(), **sections, "backend": spec.backend}
    for agent in out["agents"]:
        agent["role"] = role_of(spec, agent["rank"])
    return out


def fleet_views(
    run: RunDir, spec: Any, sink: Callable[[Event], None] | None = None
) -> dict[str, dict[str, Any]]:
    """Each agent's status view by id (``sink`` gets every event of the replay)."""
    return {a["id"]: a for a in _fleet_status(run, spec, sink)["agents"]}


def run_status(swarm: str, *, json_out: bool, project: Path | None = None) -> None:
    from codeswarm.cli.args import find_run

    run = find_run(swarm, project)
    status = fleet_status(run)
    if json_out:
        import orjson

        sys.stdout.write(orjson.dumps(status).decode() + "\n")
        return
    from rich.console import Console

    from codeswarm.cli.swarm.render import approval_lines, usage_table

    console = Console(highlight=False)
    console.print(usage_table(status, console.width))
    for line in approval_lines(status):
        console.print(line, soft_wrap=True)
    if status.get("slurm"):
        console.print(f"[dim]slurm {status['slurm'].get('describe') or 'job unknown'}[/]")
        return
    sup = "running" if status["supervisor"]["running"] else "not running"
    console.print(f"[dim]supervisor {sup}[/]")
