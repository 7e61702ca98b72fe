"""Reading a thread's rollout (what Codex recorded of it on disk): its turns, items and tokens."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson


# -- tokens ---------------------------------------------------------------------------------------
@dataclass
class Tokens:
    """Token counts as Codex reports them: ``total`` = input + output; ``cached_input`` is part of
    ``input``."""

    input: int = 0
    cached_input: int = 0
    output: int = 0
    total: int = 0

    def add(self, usage: dict[str, Any]) -> None:
        self.input += int(usage.get("input_tokens") or 0)
        self.cached_input += int(usage.get("cached_input_tokens") or 0)
        self.output += int(usage.get("output_tokens") or 0)
        self.total += int(usage.get("total_tokens") or 0)

    def as_json(self) -> dict[str, int]:
        return {"input": self.input, "cached_input": self.cached_input,
                "output": self.output, "total": self.total}  # fmt: skip


# -- one thread, read from its rollouts -------------------------------------------------------------
@dataclass
class Turn:
    turn_id: str
    status: str = "unfinished"
    """completed | interrupted | failed | running (the live thread's last turn, no end yet) |
    unfinished (no end recorded: cut short by a crash)."""
    started_ms: int | None = None
    ended_ms: int | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    tokens: Tokens = field(default_factory=Tokens)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "turn_id": self.turn_id, "status": self.status, "started_ms": self.started_ms,
            "ended_ms": self.ended_ms, "items": self.items, "tokens": self.tokens.as_json(),
            "error": self.error,
        }  # fmt: skip


@dataclass
class Thread:
    """One agent thread: where it lives and what its rollouts say."""

    swarm: str
    agent: str
    rank: int
    role: str
    thread_id: str
    state: str
    rollouts: list[Path]
    cwd: str | None = None
    model_provider: str | None = None
    created_ms: int | None = None
    last_activity_ms: int | None = None
    tokens: Tokens = field(default_factory=Tokens)
    turns: list[Turn] = field(default_factory=list)
    current: bool = True
    """The agent's thread now (``state.json``); an older thread of the agent is kept on disk."""

    def summary(self) -> dict[str, Any]:
        return {
            "swarm": self.swarm, "agent": self.agent, "rank": self.rank, "role": self.role,
            "thread_id": self.thread_id, "state": self.state, "current": self.current,
            "turns": len(self.turns), "tokens": self.tokens.as_json(),
            "last_activity_ms": self.last_activity_ms, "created_ms": self.created_ms,
            "cwd": self.cwd, "rollouts": [str(p) for p in self.rollouts],
        }  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        return {**self.summary(), "turns": [t.as_json() for t in self.turns],
                "turn_count": len(self.turns)}  # fmt: skip


def stamp_ms(stamp: object) -> int | None:
    """Milliseconds since the epoch of an ISO timestamp (``2026-11-30T14:07:14.339Z``)."""
    if not isinstance(stamp, str):
        return None
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _texts(content: object) -> str:
    parts = content if isinstance(content, list) else []
    return "".join(str(p.get("text") or "") for p in parts if isinstance(p, dict))


def _command_text(command: object) -> str:
    if isinstance(command, list):
        words = [str(w) for w in command]
        if len(words) == 3 and words[1] in ("-lc", "-c"):
            return words[2]  # Codex runs everything as `bash -lc CMD`
        import shlex

        return shlex.join(words)
    return str(command or "")


def _item(raw: dict[str, Any], cwd: str | None) -> dict[str, Any] | None:
    """A completed rollout item, made small and stable (``docs/sessions.md``)."""
    kind = raw.get("type")
    if kind == "UserMessage":
        return {"type": "user_message", "text": _texts(raw.get("content"))}
    if kind == "AgentMessage":
        return {"type": "agent_message", "text": _texts(raw.get("content"))}
    if kind == "Reasoning":
        summary = raw.get("summary_text")
        text = "\n".join(str(s) for s in summary) if isinstance(summary, list) else ""
        return {"type": "reasoning", "text": text}
    if kind == "CommandExecution":
        return {
            "type": "command", "command": _command_text(raw.get("command")),
            "exit_code": raw.get("exit_code"), "status": raw.get("status"),
            "output": str(raw.get("aggregated_output") or ""),
        }  # fmt: skip
    if kind == "FileChange":
        changes = raw.get("changes") if isinstance(raw.get("changes"), dict) else {}
        assert isinstance(changes, dict)
        out = []
        for path, change in changes.items():
            shown = os.path.relpath(path, cwd) if cwd and path.startswith(cwd + "/") else path
            what = change.get("type") if isinstance(change, dict) else None
            out.append({"path": shown, "kind": str(what or "update")})
        return {"type": "file_change", "status": raw.get("status"), "changes": out}
    if kind == "McpToolCall":
        return {
            "type": "tool_call", "server": raw.get("server"), "tool": raw.get("tool"),
            "status": raw.get("status"), "error": raw.get("error"),
        }  # fmt: skip
    if isinstance(kind, str):
        return {"type": "other", "item_type": kind}
    return None


_WANTED = (b'"session_meta"', b'"token_usage_record"', b'"task_started"', b'"task_complete"',
           b'"turn_aborted"', b'"error"')  # fmt: skip
_ITEM = b'"item_completed"'


def read_rollouts(paths: list[Path], *, items: bool = True) -> dict[str, Any]:
    """What the rollout files of one thread say: ``meta`` (the first ``session_meta`` payload),
    ``turns`` (in order), ``tokens``, ``last_ms`` (the newest record's time). Lines that are not
    JSON (a write cut short) are skipped. With ``items=False`` the turns carry no items (cheaper:
    for listing)."""
    meta: dict[str, Any] = {}
    turns: dict[str, Turn] = {}
    tokens = Tokens()
    seen: set[str] = set()
    last_ms: int | None = None
    for path in paths:
        try:
            lines = path.read_bytes().splitlines()
        except OSError:
            continue
        for line in reversed(lines):  # the newest record's time
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                stamp = stamp_ms(orjson.loads(line).get("timestamp"))
                last_ms = max(last_ms or 0, stamp or 0) or None
                break
        for number, line in enumerate(lines):
            if not (any(key in line for key in _WANTED) or (items and _ITEM in line)):
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            payload = record.get("payload") if isinstance(record, dict) else None
            if not isinstance(payload, dict):
                continue
            kind = record.get("type")
            if kind == "session_meta" and not meta:
                meta = payload
            elif kind == "token_usage_record":
                key = str(payload.get("response_id") or f"{path}:{number}")
                usage = payload.get("usage")
                if key in seen or not isinstance(usage, dict):
                    continue
                seen.add(key)
                tokens.add(usage)
                turn_id = str(payload.get("turn_id") or "")
                turns.setdefault(turn_id, Turn(turn_id)).tokens.add(usage)
            elif kind == "event_msg":
                stamp = stamp_ms(record.get("timestamp"))
                _on_event(payload, turns, stamp, meta.get("cwd"), items=items)
    ordered = [t for t in turns.values() if t.started_ms is not None or t.items]
    return {"meta": meta, "turns": ordered, "tokens": tokens, "last_ms": last_ms}


def _on_event(
    payload: dict[str, Any], turns: dict[str, Turn], stamp: int | None, cwd: object, *, items: bool
) -> None:
    kind = payload.get("type")
    turn_id = str(payload.get("turn_id") or "")
    if kind == "task_started":
        turn = turns.setdefault(turn_id, Turn(turn_id))
        started = payload.get("started_at")
        turn.started_ms = int(started) * 1000 if isinstance(started, int) else stamp
    elif kind == "task_complete":
        turn = turns.setdefault(turn_id, Turn(turn_id))
        turn.status, turn.ended_ms = ("failed" if turn.error else "completed"), stamp
    elif kind == "turn_aborted":
        turn = turns.setdefault(turn_id, Turn(turn_id))
        turn.status, turn.ended_ms = "interrupted", stamp
        turn.error = turn.error or str(payload.get("reason") or "aborted")
    elif kind == "error" and turn_id in turns:
        turns[turn_id].error = str(payload.get("message") or "error")
    elif kind == "item_completed" and items:
        raw = payload.get("item")
        if isinstance(raw, dict):
            item = _item(raw, cwd if isinstance(cwd, str) else None)
            if item is not None:
                turns.setdefault(turn_id, Turn(turn_id)).items.append(item)
