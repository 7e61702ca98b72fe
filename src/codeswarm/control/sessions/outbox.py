"""A Claude Code agent's threads, read from its outbox: the same turns, items and tokens that
:mod:`~codeswarm.control.sessions.rollouts` reads from a Codex agent's rollouts.

A Claude agent leaves no Codex rollout: its worker writes Claude Code's stream into the outbox,
translated into Codex's notifications (``claude/codexview.py``), so the outbox's events
(``docs/events.md``) tell each turn (``turn.started``, ``turn.completed``), what was said and done
in it (``message.completed``, ``reasoning``, ``command.completed``, ``file.changed``,
``tool.completed``) and the thread's running token total (``usage.updated``). The person's
message that started a turn is the inbox record its ``turn.accepted`` names.
"""

from __future__ import annotations

from typing import Any

from codeswarm.control.events.records import record_events
from codeswarm.control.sessions.rollouts import Tokens, Turn
from codeswarm.core import events as ev
from codeswarm.core.errors import CodeswarmError
from codeswarm.core.swarm import RunDir
from codeswarm.mailbox import Layout, records_once


def _tokens(total: Any) -> Tokens:
    tokens = Tokens()
    if isinstance(total, dict):
        tokens.add(total)
    return tokens


def _minus(a: Tokens, b: Tokens) -> Tokens:
    return Tokens(a.input - b.input, a.cached_input - b.cached_input, a.output - b.output,
                  a.total - b.total)  # fmt: skip


def _item(event: dict[str, Any]) -> dict[str, Any] | None:
    """An event as the item :func:`~codeswarm.control.sessions.rollouts._item` makes of the same
    thing in a rollout."""
    kind = event.get("type")
    if kind == ev.MESSAGE_COMPLETED:
        return {"type": "agent_message", "text": str(event.get("text") or "")}
    if kind == ev.REASONING:
        return {"type": "reasoning", "text": str(event.get("text") or "")}
    if kind == ev.COMMAND_COMPLETED:
        return {"type": "command", "command": str(event.get("command") or ""),
                "exit_code": event.get("exit_code"), "status": event.get("status"),
                "output": str(event.get("output") or "")}  # fmt: skip
    if kind == ev.FILE_CHANGED:
        changes = [{"path": c.get("path"), "kind": str(c.get("kind") or "update")}
                   for c in event.get("changes") or [] if isinstance(c, dict)]  # fmt: skip
        return {"type": "file_change", "status": event.get("status"), "changes": changes}
    if kind == ev.TOOL_COMPLETED:
        return {"type": "tool_call", "server": event.get("server"), "tool": event.get("tool"),
                "status": event.get("status"), "error": event.get("error")}  # fmt: skip
    return None


def _texts(run: RunDir, agent: str) -> dict[str, str]:
    """Inbox record id -> its text: the person's messages to ``agent``."""
    out: dict[str, str] = {}
    try:
        for record in records_once(Layout(run.root).inbox(agent)):
            if isinstance(record.get("id"), str) and isinstance(record.get("text"), str):
                out[record["id"]] = record["text"]
    except (OSError, CodeswarmError):  # no texts: the turns are still told
        pass
    return out


def read_outbox(run: RunDir, agent: str, *, items: bool = True) -> dict[str, dict[str, Any]]:
    """thread id -> what ``agent``'s outbox says of it, as
    :func:`~codeswarm.control.sessions.rollouts.read_rollouts` says of rollouts: ``meta``
    (empty), ``turns`` (in order; a turn's ``tokens`` are what the thread's total grew by while
    it ran), ``tokens`` (the thread's total), ``last_ms`` (its newest event's time)."""
    threads: dict[str, dict[str, Any]] = {}
    turns: dict[str, tuple[str, Turn, Tokens]] = {}  # turn id -> thread, turn, total at start
    texts = _texts(run, agent) if items else {}
    asked: dict[str, str] = {}  # turn id -> the inbox record that started it
    for record in records_once(Layout(run.root).outbox(agent)):
        if record.get("kind") == "turn.accepted" and isinstance(record.get("turn_id"), str):
            asked[record["turn_id"]] = str(record.get("inbox_id") or "")
        for event in record_events(agent, record):
            kind, turn_id = event.get("type"), event.get("turn_id")
            thread_id = event.get("thread_id")
            if kind == ev.TURN_STARTED and isinstance(turn_id, str) and isinstance(thread_id, str):
                thread = threads.setdefault(thread_id, {"meta": {}, "turns": [], "tokens": Tokens(),
                                                        "last_ms": None})  # fmt: skip
                turn = Turn(turn_id, started_ms=event.get("ts"))
                text = texts.get(asked.get(turn_id, ""))
                if text is not None:
                    turn.items.append({"type": "user_message", "text": text})
                thread["turns"].append(turn)
                turns[turn_id] = (thread_id, turn, thread["tokens"])
            if not isinstance(turn_id, str) or turn_id not in turns:
                continue
            thread_id, turn, before = turns[turn_id]
            thread = threads[thread_id]
            thread["last_ms"] = event.get("ts") or thread["last_ms"]
            if kind == ev.TURN_COMPLETED:
                turn.status = str(event.get("status") or "completed")
                turn.error = event.get("error") if isinstance(event.get("error"), str) else None
                turn.ended_ms = event.get("ts")
            elif kind == ev.USAGE_UPDATED:
                thread["tokens"] = _tokens(event.get("total"))
                turn.tokens = _minus(thread["tokens"], before)
            elif items and (item := _item(event)) is not None:
                turn.items.append(item)
    return threads
