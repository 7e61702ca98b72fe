"""Raw Codex app-server messages → codeswarm events (``docs/events.md``).

:func:`translate` is pure: the same message always gives the same events, and it never raises on
unexpected input (an unknown method gives no event; a malformed known one gives what can be read).
Events come back without ``seq``; :class:`EventStamper` numbers them per agent. ``ts`` is the
message's ``emittedAtMs`` when Codex sent one, else the ``now_ms`` the caller passes.
"""

from __future__ import annotations

import time

from codeswarm.core import events as ev

TYPE_CHECKING = False  # not `typing` at run time: `status` and `interrupt` replay events
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from codeswarm.core.events import Event

    Message = dict[str, Any]

APPROVAL_METHODS = {
    "item/commandExecution/requestApproval": "command",
    "item/fileChange/requestApproval": "file_change",
    "item/permissions/requestApproval": "permissions",
    "mcpServer/elicitation/request": "mcp_elicitation",
    "execCommandApproval": "legacy_exec",
    "applyPatchApproval": "legacy_patch",
}
""":data:`codeswarm.codex.approval.APPROVAL_METHODS`, copied: that module imports asyncio, which a
replay must not pay for (tests/control pin the two equal)."""


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _usage(breakdown: Any) -> dict[str, int]:
    b = _d(breakdown)

    def n(key: str) -> int:
        v = b.get(key)
        return v if isinstance(v, int) and not isinstance(v, bool) else 0

    return {
        "input_tokens": n("inputTokens"),
        "cached_input_tokens": n("cachedInputTokens"),
        "output_tokens": n("outputTokens"),
        "reasoning_output_tokens": n("reasoningOutputTokens"),
        "total_tokens": n("totalTokens"),
    }


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _changes(item: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for change in _list(item.get("changes")):
        c = _d(change)
        kind = _d(c.get("kind"))
        entry: dict[str, Any] = {"path": _s(c.get("path")), "kind": _s(kind.get("type"))}
        if _s(kind.get("move_path")):
            entry["move_path"] = kind["move_path"]
        out.append(entry)
    return out


def _item_started(item: dict[str, Any]) -> list[Event]:
    kind = item.get("type")
    iid = _s(item.get("id"))
    if kind == "commandExecution":
        return [
            {
                "type": ev.COMMAND_STARTED,
                "item_id": iid,
                "command": _s(item.get("command")),
                "cwd": _s(item.get("cwd")),
            }
        ]
    if kind == "mcpToolCall":
        return [
            {
                "type": ev.TOOL_STARTED,
                "item_id": iid,
                "server": _s(item.get("server")),
                "tool": _s(item.get("tool")),
                "arguments": item.get("arguments"),
            }
        ]
    return []


def _item_completed(item: dict[str, Any]) -> list[Event]:
    kind = item.get("type")
    iid = _s(item.get("id"))
    if kind == "agentMessage":
        return [{"type": ev.MESSAGE_COMPLETED, "item_id": iid, "text": _s(item.get("text")) or ""}]
    if kind == "reasoning":
        parts = [p for p in _list(item.get("summary")) if isinstance(p, str)]
        if not parts:
            return []
        return [{"type": ev.REASONING, "item_id": iid, "text": "\n".join(parts)}]
    if kind == "commandExecution":
        code = item.get("exitCode")
        return [
            {
                "type": ev.COMMAND_COMPLETED,
                "item_id": iid,
                "command": _s(item.get("command")),
                "cwd": _s(item.get("cwd")),
                "status": _s(item.get("status")),
                "exit_code": code if isinstance(code, int) else None,
                "output": _s(item.get("aggregatedOutput")),
                "duration_ms": item.get("durationMs"),
            }
        ]
    if kind == "fileChange":
        return [
            {
                "type": ev.FILE_CHANGED,
                "item_id": iid,
                "status": _s(item.get("status")),
                "changes": _changes(item),
            }
        ]
    if kind == "mcpToolCall":
        err = item.get("error")
        return [
            {
                "type": ev.TOOL_COMPLETED,
                "item_id": iid,
                "server": _s(item.get("server")),
                "tool": _s(item.get("tool")),
                "status": _s(item.get("status")),
                "error": _s(_d(err).get("message")) if isinstance(err, dict) else _s(err),
                "duration_ms": item.get("durationMs"),
            }
        ]
    return []


def _approval(msg: Message, params: dict[str, Any]) -> list[Event]:
    method = str(msg.get("method"))
    kind = APPROVAL_METHODS[method]
    meta = _d(params.get("_meta"))
    if kind == "mcp_elicitation" and meta.get("codex_approval_kind") == "mcp_tool_call":
        kind = "mcp_tool_call"
    command = params.get("command")
    if isinstance(command, list):
        command = " ".join(str(c) for c in command)
    return [
        {
            "type": ev.APPROVAL_REQUESTED,
            "request_id": msg.get("id"),
            "method": method,
            "kind": kind,
            "item_id": _s(params.get("itemId")),
            "command": _s(command),
            "cwd": _s(params.get("cwd")),
            "reason": _s(params.get("reason")) or _s(params.get("message")),
        }
    ]


def _error(params: dict[str, Any]) -> Event:
    """Codex's ``error`` notification: its message, the cause behind it (``additionalDetails``,
    e.g. "Connection refused") and the HTTP status when the model answered with one."""
    err = _d(params.get("error"))
    out: Event = {
        "type": ev.ERROR,
        "message": _s(err.get("message")) or "unknown error",
        "will_retry": bool(params.get("willRetry")),
    }
    details = _s(err.get("additionalDetails"))
    if details:
        out["details"] = details
    for info in _d(err.get("codexErrorInfo")).values():
        status = _d(info).get("httpStatusCode")
        if isinstance(status, int) and not isinstance(status, bool):
            out["http_status"] = status
    return out


def _body(msg: Message) -> list[Event]:
    method = msg.get("method")
    params = _d(msg.get("params"))
    if method == "item/agentMessage/delta":
        return [
            {
                "type": ev.MESSAGE_DELTA,
                "item_id": _s(params.get("itemId")),
                "delta": _s(params.get("delta")) or "",
            }
        ]
    if method == "item/commandExecution/outputDelta":
        return [
            {
                "type": ev.COMMAND_OUTPUT,
                "item_id": _s(params.get("itemId")),
                "delta": _s(params.get("delta")) or "",
            }
        ]
    if method == "item/started":
        return _item_started(_d(params.get("item")))
    if method == "item/completed":
        return _item_completed(_d(params.get("item")))
    if method == "turn/started":
        return [{"type": ev.TURN_STARTED, "turn_id": _s(_d(params.get("turn")).get("id"))}]
    if method == "turn/completed":
        turn = _d(params.get("turn"))
        out: Event = {
            "type": ev.TURN_COMPLETED,
            "turn_id": _s(turn.get("id")),
            "status": _s(turn.get("status")) or "completed",
        }
        err = turn.get("error")
        if isinstance(err, dict):
            out["error"] = _s(err.get("message"))
        return [out]
    if method == "turn/diff/updated":
        return [{"type": ev.DIFF_UPDATED, "diff": _s(params.get("diff")) or ""}]
    if method == "thread/tokenUsage/updated":
        usage = _d(params.get("tokenUsage"))
        return [
            {
                "type": ev.USAGE_UPDATED,
                "thread_id": _s(params.get("threadId")),
                "turn_id": _s(params.get("turnId")),
                "total": _usage(usage.get("total")),
                "last": _usage(usage.get("last")),
                "context_window": usage.get("modelContextWindow"),
            }
        ]
    if method == "error":
        return [_error(params)]
    if method == "serverRequest/resolved":
        return [{"type": ev.APPROVAL_RESOLVED, "request_id": params.get("requestId")}]
    if isinstance(method, str) and method in APPROVAL_METHODS and "id" in msg:
        return _approval(msg, params)
    return []


def translate(msg: Message, *, agent: str, now_ms: int | None = None) -> list[Event]:
    """The events for one raw Codex message (possibly none). Never raises for any JSON input."""
    if not isinstance(msg, dict):
        return []
    body = _body(msg)
    if not body:
        return []
    params = _d(msg.get("params"))
    emitted = msg.get("emittedAtMs")
    ts = emitted if isinstance(emitted, int) else (now_ms if now_ms is not None else 0)
    thread = _s(params.get("threadId"))
    turn = _s(params.get("turnId")) or _s(_d(params.get("turn")).get("id"))
    out = []
    for e in body:
        event: Event = {"type": e["type"], "agent": agent, "ts": ts}
        if thread is not None:
            event["thread_id"] = thread
        if turn is not None and "turn_id" not in e:
            event["turn_id"] = turn
        event.update(e)
        out.append(event)
    return out


class EventStamper:
    """Numbers an agent's events (``seq`` from 1, strictly increasing) and fills in ``ts``."""

    def __init__(
        self, agent: str, *, swarm: str | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.agent = agent
        self.swarm = swarm
        self.seq = 0
        self._clock = clock

    def events(self, msg: Message) -> list[Event]:
        """Translate ``msg`` and stamp the result."""
        out = translate(msg, agent=self.agent, now_ms=int(self._clock() * 1000))
        for e in out:
            self.stamp(e)
        return out

    def stamp(self, event: Event) -> Event:
        self.seq += 1
        event["seq"] = self.seq
        event["agent"] = self.agent
        if self.swarm is not None:
            event["swarm"] = self.swarm
        if not event.get("ts"):
            event["ts"] = int(self._clock() * 1000)
        return event
