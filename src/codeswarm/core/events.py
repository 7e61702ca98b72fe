"""The codeswarm event vocabulary (documented in ``docs/events.md``).

An event is a plain JSON object (a ``dict``) with at least ``type``, ``agent``, ``seq`` and ``ts``;
the other fields depend on the type. Plain dicts keep the hot path free of conversions: events are
produced once per Codex notification and serialised straight to JSONL, SSE or the terminal.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing` at run time: `status` and `interrupt` replay events
if TYPE_CHECKING:
    from collections.abc import Collection, Iterable
    from typing import Any, Final

    Event = dict[str, Any]
else:
    Event = dict

EVENTS_VERSION: Final = 1

# agent lifecycle
AGENT_STARTED: Final = "agent.started"
AGENT_READY: Final = "agent.ready"
AGENT_BUSY: Final = "agent.busy"
AGENT_IDLE: Final = "agent.idle"
AGENT_STOPPED: Final = "agent.stopped"
AGENT_FAILED: Final = "agent.failed"
AGENT_RESTARTED: Final = "agent.restarted"
# turns and items
MESSAGE_ACCEPTED: Final = "message.accepted"  # an inbox message became (part of) a turn
TURN_STARTED: Final = "turn.started"
TURN_COMPLETED: Final = "turn.completed"
MESSAGE_DELTA: Final = "message.delta"
MESSAGE_COMPLETED: Final = "message.completed"
REASONING: Final = "reasoning"
COMMAND_STARTED: Final = "command.started"
COMMAND_OUTPUT: Final = "command.output"
COMMAND_COMPLETED: Final = "command.completed"
FILE_CHANGED: Final = "file.changed"
DIFF_UPDATED: Final = "diff.updated"
TOOL_STARTED: Final = "tool.started"
TOOL_COMPLETED: Final = "tool.completed"
APPROVAL_REQUESTED: Final = "approval.requested"
APPROVAL_RESOLVED: Final = "approval.resolved"
USAGE_UPDATED: Final = "usage.updated"
BUDGET_WARNING: Final = "budget.warning"  # spent reached the warning share of a budget
BUDGET_EXCEEDED: Final = "budget.exceeded"  # spent went past a budget: the turn is interrupted
ERROR: Final = "error"

EVENT_TYPES: Final = frozenset(
    {
        AGENT_STARTED,
        AGENT_READY,
        AGENT_BUSY,
        AGENT_IDLE,
        AGENT_STOPPED,
        AGENT_FAILED,
        AGENT_RESTARTED,
        MESSAGE_ACCEPTED,
        TURN_STARTED,
        TURN_COMPLETED,
        MESSAGE_DELTA,
        MESSAGE_COMPLETED,
        REASONING,
        COMMAND_STARTED,
        COMMAND_OUTPUT,
        COMMAND_COMPLETED,
        FILE_CHANGED,
        DIFF_UPDATED,
        TOOL_STARTED,
        TOOL_COMPLETED,
        APPROVAL_REQUESTED,
        APPROVAL_RESOLVED,
        USAGE_UPDATED,
        BUDGET_WARNING,
        BUDGET_EXCEEDED,
        ERROR,
    }
)


def journal_event(
    record: dict[str, Any], kinds: Collection[str], seq_key: str, keys: Iterable[str]
) -> Event | None:
    """The event a control journal's record stands for (the watch log, the merge queue's
    journal), None for a record of another kind: ``type`` is the record's kind, ``agent`` the
    agent concerned, ``seq_key`` the record's seq in its journal, and each of ``keys`` the record
    has, as it has it."""
    kind = record.get("kind")
    if kind not in kinds:
        return None
    ts = record.get("ts")
    event: Event = {"type": kind, "agent": record.get("agent"),
                    "ts": ts if isinstance(ts, int) else 0, seq_key: record.get("seq")}  # fmt: skip
    for key in keys:
        if key in record:
            event[key] = record[key]
    return event
