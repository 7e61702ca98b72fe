"""Steering a swarm: messages, interrupts and approval answers, appended to agents' inboxes.

Several senders may append to one inbox at once (a person's `send`, the API, another agent), so
inbox writers take the file lock; every record gets a unique id, which the worker uses to make
delivery effectively once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from codeswarm.core import events as ev
from codeswarm.core.errors import CodeswarmError, UsageError
from codeswarm.core.events import Event
from codeswarm.core.swarm import RunDir, SwarmSpec, agent_id
from codeswarm.mailbox import Layout, Reader, Writer

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


# -- saying what an answer or an interrupt will really do -----------------------------------------
class History:
    """What the outboxes say became of inbox messages and approval requests, per agent: feed it
    every event of a replay (``Router.replay(sink=history)``)."""

    def __init__(self) -> None:
        self.taken: dict[str, set[str]] = {}
        """Inbox ids that became a turn (or were refused)."""
        self.requested: dict[str, set[str]] = {}
        """Every approval request id seen (answered or not)."""

    def __call__(self, event: Event) -> None:
        agent = str(event.get("agent"))
        kind = event["type"]
        if kind == ev.MESSAGE_ACCEPTED or (kind == ev.ERROR and event.get("inbox_id")):
            self.taken.setdefault(agent, set()).add(str(event.get("inbox_id")))
        elif kind == ev.APPROVAL_REQUESTED:
            self.requested.setdefault(agent, set()).add(str(event.get("request_id")))


def check_approval(agent: str, request_id: int | str, view: Mapping[str, Any],
                   history: History) -> None:  # fmt: skip
    """Raise :class:`UsageError` (exit 2, nothing sent) unless ``request_id`` is an approval
    request ``agent`` (its ``status`` view) waits on: already answered, or never asked."""
    pending = [str(p.get("request_id")) for p in view.get("pending_approvals") or ()]
    if str(request_id) in pending:
        return
    waiting = f"; {agent} waits on {', '.join(pending)}" if pending else ""
    if str(request_id) in history.requested.get(agent, ()):
        raise UsageError(f"request {request_id} of {agent} is already answered{waiting}")
    raise UsageError(f"{agent} has no approval request {request_id}"
                     + (waiting or f"; {agent} waits on no approval"))  # fmt: skip


def waiting_messages(run: RunDir, agent: str, history: History) -> int:
    """How many messages in ``agent``'s inbox have not yet become a turn."""
    path = Layout(run.root).inbox(agent)
    if not path.exists():
        return 0
    taken = history.taken.get(agent, set())
    count = 0
    with Reader(path) as reader:
        while batch := reader.read():
            count += sum(
                1
                for rec, _ in batch
                if rec.get("kind") == "message" and str(rec["id"]) not in taken
            )
    return count


BUSY_STATES = ("busy", "waiting_approval")


def interrupt_checked(
    run: RunDir, agents: list[str], views: Mapping[str, Mapping[str, Any]], history: History
) -> tuple[list[str], list[str]]:
    """Interrupt those of ``agents`` with a turn running (or a message about to become one);
    returns ``(interrupted, why_not)``: a line for each agent with nothing to interrupt. Raises
    :class:`CodeswarmError` (exit 1, nothing sent) when no agent had anything to interrupt."""
    chosen: list[str] = []
    idle: list[str] = []
    for a in agents:
        state = str((views.get(a) or {}).get("state") or "starting")
        if state in BUSY_STATES or (
            state in ("idle", "starting") and waiting_messages(run, a, history)
        ):
            chosen.append(a)
        else:
            idle.append(f"nothing to interrupt: {a} is {state.replace('_', ' ')}")
    if not chosen:
        raise CodeswarmError("; ".join(idle))
    interrupt(run, chosen)
    return chosen, idle
