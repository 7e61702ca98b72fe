"""Claude Code's stream-json lines, seen as Codex app-server notifications (pure).

A :class:`View` follows one session's stdout lines and returns, for each, the Codex
notifications that say the same thing, in the shapes ``control/events/translate.py`` and
``worker/budget.usage_of`` read: so everything above the worker treats a Claude agent like a
Codex agent. What maps to what (Claude Code 2.1.197, verified against the real CLI):

==============================================  ==============================================
Claude Code (stdout)                            Codex notification
==============================================  ==============================================
``stream_event`` ``content_block_delta``        ``item/agentMessage/delta``
(``text_delta``)
``assistant`` text block                        ``item/completed`` ``agentMessage``
``assistant`` thinking block                    ``item/completed`` ``reasoning``
``assistant`` ``tool_use`` (then ``user``       ``item/started`` / ``item/completed``: Bash →
``tool_result``)                                ``commandExecution``; Edit, Write, MultiEdit,
                                                NotebookEdit → ``fileChange``; ``mcp__S__T`` →
                                                ``mcpToolCall`` (server S, tool T); any other
                                                tool → ``mcpToolCall`` (server ``claude``)
``system`` ``api_retry``                        ``error`` with ``willRetry: true``
``result``                                      ``thread/tokenUsage/updated``, ``turn/completed``
``control_request`` ``can_use_tool``            an approval server request (:meth:`View.approval`)
==============================================  ==============================================

Turn status: ``result`` success → ``completed``; ``terminal_reason`` ``aborted_*`` (an
interrupt) → ``interrupted``; any other error → ``failed`` with the result's text (``API Error:
400 …``). Usage: ``result.usage`` is the sum over the turn's API calls; Codex's ``inputTokens``
counts cached input, so it is ``input_tokens + cache_creation_input_tokens +
cache_read_input_tokens`` and ``cachedInputTokens`` is ``cache_read_input_tokens``. An
interrupted turn's ``result.usage`` is all zero: its usage is then summed from the streamed
``message_start`` / ``message_delta`` events. The running ``total`` starts from the ``totals``
the view is given (the worker keeps it across restarts).

Lines of a subagent (``parent_tool_use_id`` set) and Claude Code's synthetic assistant messages
(model ``<synthetic>``: an API error's text, which the ``result`` carries too) map to nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from codeswarm.core.usage import Tokens

Message = dict[str, Any]

FILE_TOOLS = {
    "Edit": "file_path",
    "Write": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}
"""Claude Code's file-changing tools and the input field naming their file."""
OTHER_SERVER = "claude"
"""The ``server`` of a built-in tool that is neither a command nor a file change (Read, Agent…)."""
INTERRUPTED_MARK = "[Request interrupted by user"

_EXIT_CODE = re.compile(r"^Exit code (\d+)")


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _n(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def breakdown(tokens: Tokens) -> dict[str, int]:
    """A Codex ``tokenUsage`` breakdown."""
    return {
        "inputTokens": tokens.input,
        "cachedInputTokens": tokens.cached_input,
        "outputTokens": tokens.output,
        "reasoningOutputTokens": 0,
        "totalTokens": tokens.total,
    }


def tokens_of(usage: Any) -> Tokens:
    """A Messages API ``usage`` object as Codex counts it (cached input is part of input)."""
    u = _d(usage)
    cached = _n(u.get("cache_read_input_tokens"))
    inp = _n(u.get("input_tokens")) + _n(u.get("cache_creation_input_tokens")) + cached
    out = _n(u.get("output_tokens"))
    return Tokens(inp, cached, out, inp + out)


def tool_result_text(content: Any) -> str:
    """The text of a ``tool_result`` block's content (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    parts = [str(b.get("text", "")) for b in content or () if isinstance(b, dict)]
    return "\n".join(p for p in parts if p)


def tool_item(block: Mapping[str, Any], cwd: str | None) -> dict[str, Any]:
    """The Codex item a ``tool_use`` block starts (status ``inProgress``)."""
    name = str(block.get("name") or "")
    iid = str(block.get("id") or "")
    inp = _d(block.get("input"))
    if name == "Bash":
        return {
            "type": "commandExecution",
            "id": iid,
            "command": _s(inp.get("command")) or "",
            "cwd": cwd,
            "status": "inProgress",
            "exitCode": None,
            "aggregatedOutput": None,
        }
    if name in FILE_TOOLS:
        path = _s(inp.get(FILE_TOOLS[name])) or ""
        kind = "add" if name == "Write" else "update"
        return {
            "type": "fileChange",
            "id": iid,
            "status": "inProgress",
            "changes": [{"path": path, "kind": {"type": kind}}],
        }
    server, tool = OTHER_SERVER, name
    if name.startswith("mcp__") and "__" in name[5:]:
        server, tool = name[5:].split("__", 1)
    return {
        "type": "mcpToolCall",
        "id": iid,
        "server": server,
        "tool": tool,
        "arguments": inp,
        "status": "inProgress",
        "error": None,
        "result": None,
    }


def finish_tool(item: dict[str, Any], block: Mapping[str, Any], detail: Any) -> dict[str, Any]:
    """``item`` completed by its ``tool_result`` ``block`` (``detail``: the user line's
    ``tool_use_result``)."""
    failed = bool(block.get("is_error"))
    text = tool_result_text(block.get("content"))
    done = {**item, "status": "failed" if failed else "completed"}
    kind = item.get("type")
    if kind == "commandExecution":
        done["aggregatedOutput"] = text
        match = _EXIT_CODE.match(text) if failed else None
        done["exitCode"] = int(match.group(1)) if match else (None if failed else 0)
    elif kind == "fileChange":
        made = _d(detail).get("type")
        if made in ("create", "update"):
            change = dict(item["changes"][0])
            change["kind"] = {"type": "add" if made == "create" else "update"}
            done["changes"] = [change]
    elif kind == "mcpToolCall":
        done["error"] = {"message": text} if failed else None
        done["result"] = None if failed else {"content": [{"type": "text", "text": text}]}
    return done


class View:
    """One Claude Code session's lines as Codex notifications; see the module docstring.

    Call :meth:`begin` when a turn's user message was accepted, then :meth:`events` for every
    stdout line, in order. :attr:`totals` is the running usage total (persist it to continue the
    sum after a restart)."""

    def __init__(self, session_id: str, totals: Tokens | None = None, cwd: str | None = None):
        self.session_id = session_id
        self.totals = totals if totals is not None else Tokens()
        self.cwd = cwd
        self.turn_id: str | None = None
        self.items: dict[str, dict[str, Any]] = {}
        """Tool items started and not completed, by id (approvals read a file change's paths)."""
        self._open_text: dict[str, list[str]] = {}  # message id -> streamed text items, in order
        self._blocks: dict[str, int] = {}  # message id -> content blocks seen
        self._calls: dict[str, list[int]] = {}  # message id -> [input, cached, output] streamed
        self._streaming: str | None = None  # the message id of the current stream

    # -- helpers ---------------------------------------------------------------------------------
    def _note(self, method: str, **params: Any) -> Message:
        return {
            "method": method,
            "params": {"threadId": self.session_id, "turnId": self.turn_id, **params},
        }

    def _item_id(self, msg_id: str, kind: str) -> str:
        n = self._blocks.get(msg_id, 0)
        self._blocks[msg_id] = n + 1
        if kind == "text":
            opened = self._open_text.get(msg_id)
            if opened:
                return opened.pop(0)
        return f"{msg_id}-{n}"

    # -- turns -----------------------------------------------------------------------------------
    def begin(self, turn_id: str) -> list[Message]:
        """A turn starts (its user message was accepted): ``turn/started``."""
        self.turn_id = turn_id
        self._open_text.clear()
        self._blocks.clear()
        self._calls.clear()
        self._streaming = None
        turn: dict[str, Any] = {"id": turn_id, "status": "inProgress", "items": [], "error": None}
        return [{"method": "turn/started", "params": {"threadId": self.session_id, "turn": turn}}]

    def events(self, raw: Mapping[str, Any]) -> list[Message]:
        """The Codex notifications one stdout line stands for (often none)."""
        kind = raw.get("type")
        if kind == "stream_event":
            return self._stream(_d(raw.get("event")))
        if raw.get("parent_tool_use_id"):  # a subagent's: its tools are its own business
            return []
        if kind == "assistant":
            return self._assistant(_d(raw.get("message")))
        if kind == "user":
            return self._user(raw)
        if kind == "result":
            return self._result(raw)
        if kind == "system":
            if raw.get("subtype") == "init" and isinstance(raw.get("cwd"), str):
                self.cwd = raw["cwd"]
            elif raw.get("subtype") == "api_retry":
                return [self._retry(raw)]
        return []

    def _stream(self, event: dict[str, Any]) -> list[Message]:
        kind = event.get("type")
        if kind == "message_start":
            message = _d(event.get("message"))
            msg_id = str(message.get("id") or "")
            self._streaming = msg_id
            t = tokens_of(message.get("usage"))
            self._calls[msg_id] = [t.input, t.cached_input, t.output]
        elif kind == "content_block_start" and self._streaming is not None:
            block = _d(event.get("content_block"))
            if block.get("type") == "text":
                item = f"{self._streaming}-{_n(event.get('index'))}"
                self._open_text.setdefault(self._streaming, []).append(item)
        elif kind == "content_block_delta" and self._streaming is not None:
            delta = _d(event.get("delta"))
            if delta.get("type") == "text_delta" and delta.get("text"):
                item = f"{self._streaming}-{_n(event.get('index'))}"
                return [self._note("item/agentMessage/delta", itemId=item, delta=delta["text"])]
        elif kind == "message_delta" and self._streaming in self._calls:
            out = _d(event.get("usage")).get("output_tokens")
            if isinstance(out, int):
                self._calls[self._streaming][2] = out
        return []

    def _assistant(self, message: dict[str, Any]) -> list[Message]:
        if message.get("model") == "<synthetic>":
            return []
        msg_id = str(message.get("id") or "")
        out: list[Message] = []
        item: dict[str, Any]
        for block in message.get("content") or ():
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                item = {
                    "type": "agentMessage",
                    "id": self._item_id(msg_id, "text"),
                    "text": str(block.get("text") or ""),
                }
                out.append(self._note("item/completed", item=item))
            elif kind == "thinking":
                item = {
                    "type": "reasoning",
                    "id": self._item_id(msg_id, "thinking"),
                    "summary": [str(block.get("thinking") or "")],
                    "content": [],
                }
                out.append(self._note("item/completed", item=item))
            elif kind == "tool_use":
                self._item_id(msg_id, "tool_use")
                tool = tool_item(block, self.cwd)
                self.items[tool["id"]] = tool
                out.append(self._note("item/started", item=tool))
        return out

    def _user(self, raw: Mapping[str, Any]) -> list[Message]:
        content = _d(raw.get("message")).get("content")
        if not isinstance(content, list):
            return []
        out: list[Message] = []
        for block in content:
            if not isinstance(block, dict) or block.get("type") != "tool_result":
                continue
            item = self.items.pop(str(block.get("tool_use_id")), None)
            if item is not None:
                done = finish_tool(item, block, raw.get("tool_use_result"))
                out.append(self._note("item/completed", item=done))
        return out

    def _retry(self, raw: Mapping[str, Any]) -> Message:
        status = raw.get("error_status")
        attempt, most = raw.get("attempt"), raw.get("max_retries")
        message = f"{raw.get('error') or 'API error'}"
        if isinstance(status, int):
            message += f" (HTTP {status})"
        if isinstance(attempt, int) and isinstance(most, int):
            message += f"; retry {attempt} of {most}"
        error: dict[str, Any] = {"message": message, "additionalDetails": None}
        if isinstance(status, int):
            error["codexErrorInfo"] = {"claude": {"httpStatusCode": status}}
        return self._note("error", error=error, willRetry=True)

    def _result(self, raw: Mapping[str, Any]) -> list[Message]:
        last = tokens_of(raw.get("usage"))
        if last.input == 0 and last.output == 0 and self._calls:  # an interrupted turn
            inp, cached, out = (sum(c[i] for c in self._calls.values()) for i in range(3))
            last = Tokens(inp, cached, out, inp + out)
        self.totals = self.totals + last
        window = None
        for model in _d(raw.get("modelUsage")).values():
            window = _d(model).get("contextWindow") or window
        usage = {
            "total": breakdown(self.totals),
            "last": breakdown(last),
            "modelContextWindow": window if isinstance(window, int) else None,
        }
        notes = [self._note("thread/tokenUsage/updated", tokenUsage=usage)]
        status, error = turn_status(raw)
        # tools the turn left open (an interrupt, a denial) end with it
        for item in list(self.items.values()):
            done = {**item, "status": "failed"}
            notes.append(self._note("item/completed", item=done))
        self.items.clear()
        turn: dict[str, Any] = {
            "id": self.turn_id,
            "status": status,
            "items": [],
            "error": {"message": error} if error is not None else None,
        }
        notes.append(
            {"method": "turn/completed", "params": {"threadId": self.session_id, "turn": turn}}
        )
        self.turn_id = None
        return notes

    # -- approvals -------------------------------------------------------------------------------
    def approval(self, request_id: str, request: Mapping[str, Any]) -> list[Message]:
        """A ``can_use_tool`` control request as a Codex approval server request (carrying
        ``id``), preceded by ``item/started`` if its tool was not seen yet."""
        name = str(request.get("tool_name") or "")
        inp = _d(request.get("input"))
        iid = _s(request.get("tool_use_id")) or request_id
        out: list[Message] = []
        item = self.items.get(iid)
        if item is None:
            item = tool_item({"id": iid, "name": name, "input": inp}, self.cwd)
            self.items[iid] = item
            out.append(self._note("item/started", item=item))
        reason = _s(request.get("decision_reason")) or _s(request.get("description"))
        base = {
            "threadId": self.session_id,
            "turnId": self.turn_id,
            "itemId": iid,
            "toolName": name,
            "input": inp,
        }
        if item["type"] == "commandExecution":
            method = "item/commandExecution/requestApproval"
            params = {**base, "command": item["command"], "cwd": self.cwd, "reason": reason}
        elif item["type"] == "fileChange":
            method = "item/fileChange/requestApproval"
            params = {**base, "reason": reason}
        else:
            method = "mcpServer/elicitation/request"
            meta = {"codex_approval_kind": "mcp_tool_call", "tool_name": item["tool"]}
            params = {**base, "serverName": item["server"], "message": reason, "_meta": meta}
        out.append({"id": request_id, "method": method, "params": params})
        return out

    def resolved(self, request_id: str) -> Message:
        """``serverRequest/resolved`` for an answered (or withdrawn) approval."""
        return self._note("serverRequest/resolved", requestId=request_id)


def turn_status(result: Mapping[str, Any]) -> tuple[str, str | None]:
    """A ``result`` line's turn status (``completed``, ``interrupted``, ``failed``) and error."""
    if not result.get("is_error") and result.get("subtype") == "success":
        return "completed", None
    if str(result.get("terminal_reason") or "").startswith("aborted"):
        return "interrupted", None
    text = _s(result.get("result"))
    if not text:
        errors = [str(e) for e in result.get("errors") or () if e]
        text = "; ".join(errors) or str(result.get("subtype") or "error")
    return "failed", text


def turns_from_transcript(
    entries: Iterable[Mapping[str, Any]], client_ids: Mapping[str, str]
) -> list[dict[str, Any]]:
    """``thread/turns/list``'s ``data`` from a session transcript's entries: one turn per user
    message whose ``uuid`` is in ``client_ids`` (the messages codeswarm sent; the turn id is
    that uuid), newest first, each ``{"id", "status", "error", "items"}`` with a ``userMessage``
    item (``clientId``) and its ``agentMessage`` items. Status: ``completed`` (the last
    assistant message ended the turn), ``interrupted``, ``failed`` (an API error), else
    ``inProgress`` (the process died mid-turn)."""
    turns: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for entry in entries:
        kind = entry.get("type")
        if entry.get("isSidechain"):
            continue
        uid = _s(entry.get("uuid"))
        if kind == "user" and uid is not None and uid in client_ids:
            current = {
                "id": uid,
                "status": "inProgress",
                "error": None,
                "items": [{"type": "userMessage", "id": uid, "clientId": client_ids[uid]}],
            }
            turns.append(current)
            continue
        if current is None:
            continue
        message = _d(entry.get("message"))
        content = message.get("content")
        if kind == "user":
            if isinstance(content, str):
                texts = [content]
            else:
                texts = [
                    str(b.get("text") or "")
                    for b in content or ()
                    if isinstance(b, dict) and b.get("type") == "text"
                ]
            if any(t.startswith(INTERRUPTED_MARK) for t in texts):
                current["status"] = "interrupted"
            elif isinstance(content, list) and current["status"] == "completed":
                current["status"] = "inProgress"  # a tool result: the turn went on
        elif kind == "assistant":
            text = "".join(
                str(b.get("text") or "")
                for b in content or ()
                if isinstance(b, dict) and b.get("type") == "text"
            )
            if message.get("model") == "<synthetic>":  # an API error, or "No response requested."
                if entry.get("isApiErrorMessage"):
                    current["status"], current["error"] = "failed", {"message": text}
                continue
            if text:
                current["items"].append({"type": "agentMessage", "id": uid or "", "text": text})
            stop = message.get("stop_reason")
            if stop in ("end_turn", "stop_sequence", "max_tokens", "refusal"):
                current["status"] = "completed"
            elif current["status"] != "interrupted":
                current["status"] = "inProgress"
    turns.reverse()
    return turns
