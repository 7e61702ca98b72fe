"""Steering a swarm: messages, interrupts and approval answers, appended to agents' inboxes.

Several senders may append to one inbox at once (a person's `send`, the API, another agent), so
inbox writers take the file lock; every record gets a unique id, which the worker uses to make
delivery effectively once.
"""

from __future__ import annotations

from typing import Any

from codeswarm.core.errors import UsageError
from codeswarm.core.swarm import RunDir, SwarmSpec, agent_id
from codeswarm.mailbox import Layout, Writer

MAX_MESSAGE_CHARS = 200_000


def resolve_targets(spec: SwarmSpec, target: str) -> list[str]:
    """``all``, an agent id, a rank, or a comma list of those → agent ids (in the given order,
    without repeats). Unknown names raise :class:`UsageError` listing what exists."""
    agents = [agent_id(spec.name, r) for r in range(spec.size)]
    if target.strip() == "all":
        return agents
    out: list[str] = []
    for part in target.split(","):
        name = part.strip()
        if not name:
            raise UsageError(f"empty target in {target!r}")
        if name.isdigit():
            name = agent_id(spec.name, int(name))
        if name not in agents:
            raise UsageError(
                f"no agent {part.strip()!r} in swarm {spec.name!r} "
                f"(agents: {agents[0]} … {agents[-1]}, ranks 0 … {spec.size - 1}, or 'all')"
            )
        if name not in out:
            out.append(name)
    return out


def _append(run: RunDir, agent: str, kind: str, **fields: Any) -> dict[str, Any]:
    layout = Layout(run.root)
    with Writer.open(layout.inbox(agent), lock=True) as writer:
        record: dict[str, Any] = writer.append(kind, **fields)
    return record


def message_fields(text: str, mode: str | None) -> dict[str, Any]:
    """The fields of a ``message`` inbox record; bad input raises :class:`UsageError`."""
    if not text.strip():
        raise UsageError("the message is empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise UsageError(f"the message is {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}")
    if mode not in (None, "queue", "steer"):
        raise UsageError(f"--mode must be queue or steer, not {mode!r}")
    fields: dict[str, Any] = {"text": text}
    if mode:
        fields["mode"] = mode
    return fields


def send(
    run: RunDir, agents: list[str], text: str, *, mode: str | None = None
) -> dict[str, dict[str, Any]]:
    """Append a user message to each agent's inbox; returns the record per agent."""
    fields = message_fields(text, mode)
    return {a: _append(run, a, "message", **fields) for a in agents}


def interrupt(run: RunDir, agents: list[str]) -> None:
    for a in agents:
        _append(run, a, "interrupt")


def shutdown(run: RunDir, agents: list[str]) -> None:
    """Ask these agents' workers to stop for good: each ends its turn (interrupted), leaves the
    coordination store and exits; its keeper (the supervisor, a Slurm task) does not restart
    it. A later ``up`` resumes its thread."""
    for a in agents:
        _append(run, a, "shutdown")


def approve(
    run: RunDir, agent: str, request_id: int | str, decision: str, *, item_id: str | None = None
) -> dict[str, Any]:
    if decision not in ("accept", "acceptForSession", "decline", "cancel"):
        raise UsageError(f"unknown decision {decision!r}")
    fields: dict[str, Any] = {"request_id": request_id, "decision": decision}
    if item_id:
        fields["item_id"] = item_id
    return _append(run, agent, "approval", **fields)
