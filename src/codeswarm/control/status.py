"""A swarm's status (the ``codeswarm status --json`` contract, docs/fleet.md): replay the
outboxes into fleet state, overlay what is actually running, add the leases each agent holds.
Pure reads: the CLI and the HTTP API both answer with it."""

from __future__ import annotations

from collections.abc import Callable
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
    out["budgets"] = budgets_of(spec, out["agents"])
    return out


def budgets_of(spec: Any, agents: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The swarm's token budgets and what they count (input + output), or None when it has
    none: ``{swarm, agent, warn, spent}`` (``swarm``/``agent``: the limits, None when unset;
    ``spent``: every agent together)."""
    if spec.budget_tokens is None and spec.agent_budget_tokens is None:
        return None
    spent = sum(a["tokens"]["input"] + a["tokens"]["output"] for a in agents)
    return {"swarm": spec.budget_tokens, "agent": spec.agent_budget_tokens,
            "warn": spec.budget_warn, "spent": spent}  # fmt: skip


def fleet_views(
    run: RunDir, spec: Any, sink: Callable[[Event], None] | None = None
) -> dict[str, dict[str, Any]]:
    """Each agent's status view by id (``sink`` gets every event of the replay)."""
    return {a["id"]: a for a in _fleet_status(run, spec, sink)["agents"]}


def swarm_row(run: RunDir, spec: Any) -> dict[str, Any]:
    """One swarm as ``codeswarm ls --json`` lists it."""
    from codeswarm.control.launch import backend_for
    from codeswarm.core.errors import CodeswarmError

    backend = backend_for(spec.backend)
    try:
        running = backend.running(run) is not None
    except CodeswarmError:  # e.g. Slurm cannot be asked from here
        running = False
    return {
        "swarm": spec.name,
        "agents": spec.size,
        "running": running,
        "backend": spec.backend,
        "live_workers": backend.live_workers(run, spec),
        "cwd": spec.cwd,
        "model_provider": spec.model_provider,
    }
