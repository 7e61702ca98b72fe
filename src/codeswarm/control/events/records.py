"""Worker outbox records → codeswarm events (pure; see docs/events.md).

A worker relays Codex's raw messages (``kind: "codex"``) and adds records of its own; this is
the one place that knows both. Events come back unstamped (no ``seq``): the router numbers them
per agent in outbox order, so a replay numbers them the same way.
"""

from __future__ import annotations

from codeswarm.control.events.translate import translate
from codeswarm.core import events as ev

TYPE_CHECKING = False  # not `typing` at run time: `status` and `interrupt` replay events
if TYPE_CHECKING:
    from codeswarm.core.events import Event
    from codeswarm.mailbox import MailRecord


def _ts(record: MailRecord) -> int:
    ts = record.get("ts")
    return ts if isinstance(ts, int) else 0


def record_events(agent: str, record: MailRecord) -> list[Event]:
    """The events one outbox record stands for (possibly none). Never raises."""
    if not isinstance(record, dict):
        return []
    kind = record.get("kind")
    ts = _ts(record)
    if kind == "codex":
        msg = record.get("msg")
        return translate(msg, agent=agent, now_ms=ts) if isinstance(msg, dict) else []
    base: Event = {"agent": agent, "ts": ts}
    if kind == "worker.started":
        return [
            {
                **base,
                "type": ev.AGENT_STARTED,
                "pid": record.get("pid"),
                "host": record.get("host"),
                "node": record.get("node"),
                "rank": record.get("rank"),
                "restarted": bool(record.get("restarted")),
            }
        ]
    if kind == "agent.ready":
        return [
            {
                **base,
                "type": ev.AGENT_READY,
                "thread_id": record.get("thread_id"),
                "model": record.get("model"),
                "resumed": bool(record.get("resumed")),
            }
        ]
    if kind in ("turn.accepted", "turn.steered"):
        return [
            {
                **base,
                "type": ev.MESSAGE_ACCEPTED,
                "inbox_id": record.get("inbox_id"),
                "turn_id": record.get("turn_id"),
                "steered": kind == "turn.steered",
                "recovered": bool(record.get("recovered")),
            }
        ]
    if kind == "agent.restarted":
        return [{**base, "type": ev.AGENT_RESTARTED, "reason": record.get("reason")}]
    if kind == "turn.aborted":
        return [
            {
                **base,
                "type": ev.TURN_COMPLETED,
                "turn_id": record.get("turn_id"),
                "status": "failed",
                "error": f"turn aborted: {record.get('reason')}",
            }
        ]
    if kind == "turn.recovered":  # its end, as the resumed thread told a restarted worker
        turn_id = record.get("turn_id")
        said: list[Event] = []
        if isinstance(record.get("text"), str) and record["text"]:
            said.append({**base, "type": ev.MESSAGE_COMPLETED, "turn_id": turn_id,
                        "item_id": None, "text": record["text"]})  # fmt: skip
        end: Event = {
            **base,
            "type": ev.TURN_COMPLETED,
            "turn_id": turn_id,
            "status": str(record.get("status") or "completed"),
            "recovered": True,
        }
        if record.get("error"):
            end["error"] = str(record["error"])
        return [*said, end]
    if kind in ("error", "inbox.rejected"):
        message = record.get("message") or record.get("reason") or "error"
        out: Event = {**base, "type": ev.ERROR, "message": str(message), "will_retry": False}
        if kind == "inbox.rejected":
            out["inbox_id"] = record.get("inbox_id")
        if record.get("login_missing"):
            out["login_missing"] = True
        if record.get("budget"):
            out["budget"] = True
        return [out]
    if kind == "turn.gave_up":  # Codex only retried: the worker interrupts the turn, says why
        return [
            {
                **base,
                "type": ev.ERROR,
                "turn_id": record.get("turn_id"),
                "message": str(record.get("reason") or "the turn was given up"),
                "will_retry": False,
                "gave_up": True,
            }
        ]
    if kind in ("budget.warning", "budget.exceeded"):
        out = {
            **base,
            "type": ev.BUDGET_WARNING if kind == "budget.warning" else ev.BUDGET_EXCEEDED,
            "scope": record.get("scope"),
            "limit": record.get("limit"),
            "spent": record.get("spent"),
        }
        if record.get("task_id") is not None:
            out["task_id"] = record.get("task_id")
        if record.get("turn_id") is not None:
            out["turn_id"] = record.get("turn_id")
        return [out]
    if kind == "agent.stopped":
        return [{**base, "type": ev.AGENT_STOPPED, "reason": record.get("reason")}]
    if kind == "worker.exited":
        return [
            {
                **base,
                "type": ev.AGENT_FAILED,
                "reason": record.get("reason") or f"worker exited with code {record.get('code')}",
                "exit_code": record.get("code"),
                "restart_in": record.get("restart_in"),
                "final": bool(record.get("final")),
            }
        ]
    return []
