"""``codeswarm status``: replay the outboxes into fleet state; overlay what is actually running."""

from __future__ import annotations

import sys
from typing import Any

from codeswarm.core.swarm import RunDir


def _with_leases(out: dict[str, Any], spec: Any) -> dict[str, Any]:
    """Add each agent's leases (what it holds in the coordination store) to the status."""
    if not spec.coord or not spec.coord_db:
        return out
    from codeswarm.coordination import Coord
    from codeswarm.coordination.models import agent_name
    from codeswarm.core.errors import CoordError

    try:
        with Coord.open(spec.coord_db, root=spec.cwd) as coord:
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


def _fleet_status(run: RunDir, spec: Any) -> dict[str, Any]:
    from codeswarm.control.fleet.router import Router
    from codeswarm.control.launch import backend_for

    router = Router(run, start="begin", spec=spec)
    router.replay()
    sections = backend_for(spec.backend).overlay(router.fleet, run, spec)
    return {**router.fleet.as_json(), **sections, "backend": spec.backend}


def run_status(swarm: str, *, json_out: bool) -> None:
    run = RunDir.find(swarm)
    status = fleet_status(run)
    if json_out:
        import orjson

        sys.stdout.write(orjson.dumps(status).decode() + "\n")
        return
    from rich.console import Console

    from codeswarm.cli.swarm.render import usage_table

    console = Console(highlight=False)
    console.print(usage_table(status, console.width))
    if status.get("slurm"):
        console.print(f"[dim]slurm {status['slurm'].get('describe') or 'job unknown'}[/]")
        return
    sup = "running" if status["supervisor"]["running"] else "not running"
    console.print(f"[dim]supervisor {sup}[/]")
