"""Turning one script entry into the Responses-API answer Codex reads: SSE events or an error.

Pure functions: no I/O, no clock. The server decides when to send what these return.
"""

from __future__ import annotations

import itertools
import re
import secrets
import shlex
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import orjson

from codeswarm.mockmodel.overrides import MODEL
from codeswarm.mockmodel.script import Entry, ExecCall, Usage

"""The model slug the scripted model reports (and Codex must be told): one from Codex's catalog."""

WORDS_PER_DELTA: Final = 3
"""Default delta size when an entry gives no ``chunk``: this many words (with their spacing)."""

_WORD = re.compile(r"\s*\S+\s*")


class IdSource:
    """Ids for responses, items and calls, unique within one server run (and across runs)."""

    def __init__(self) -> None:
        self._run = secrets.token_hex(3)
        self._counter = itertools.count(1)

    def new(self, prefix: str) -> str:
        return f"{prefix}_{self._run}_{next(self._counter)}"


@dataclass
class Reply:
    """What to send for one request: either an HTTP error, or a stream of SSE events.

    ``cut_at`` is the number of events to send before dropping the stream without
    ``response.completed`` (None: send them all).
    """

    status: int = 200
    error_body: Any = None
    events: list[dict[str, Any]] = field(default_factory=list)
    cut_at: int | None = None
    message: dict[str, Any] | None = None
    """A whole answer as one JSON object instead of a stream (a non-streaming Messages request)."""


def split_text(text: str, chunk: int | None) -> list[str]:
    """Split ``text`` into deltas: ``chunk`` characters each, or a few words each by default.

    Joining the result always gives ``text`` back.
    """
    if not text:
        return [text]
    if chunk is not None:
        return [text[i : i + chunk] for i in range(0, len(text), chunk)]
    words = _WORD.findall(text)  # each word keeps the spacing around it: they join back to text
    if not words:  # only whitespace
        return [text]
    return ["".join(words[i : i + WORDS_PER_DELTA]) for i in range(0, len(words), WORDS_PER_DELTA)]


def estimate_usage(entry: Entry, request_bytes: int) -> Usage:
    """The usage declared by ``entry``, else a deterministic estimate: a quarter of the request
    body's bytes in, a quarter of the characters the entry produces out (at least 1 each)."""
    if entry.usage is not None:
        return entry.usage
    out = max(1, produced_chars(entry) // 4)
    return Usage(input_tokens=max(1, request_bytes // 4), output_tokens=out)


def usage_object(entry: Entry, request_bytes: int) -> dict[str, Any]:
    """The Responses ``usage`` object: the declared one exactly, else the estimate."""
    usage = estimate_usage(entry, request_bytes)
    total = usage.total_tokens
    if total is None:
        total = usage.input_tokens + usage.output_tokens
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": total,
    }


def build_reply(entry: Entry, ids: IdSource, *, request_bytes: int) -> Reply:
    """The answer to one request from ``entry`` (see docs/scripted-model.md for the sequence)."""
    if entry.http_status is not None:
        body = entry.body
        if body is None:
            body = {
                "error": {
                    "message": f"scripted HTTP {entry.http_status}",
                    "type": "scripted_error",
                }
            }
        return Reply(status=entry.http_status, error_body=body)

    response_id = ids.new("resp")
    stream = _Stream(response_id)
    stream.add({"type": "response.created", "response": stream.response("in_progress")})
    if entry.reasoning is not None:
        stream.reasoning(ids.new("rs"), entry.reasoning, entry.chunk)
    if entry.text is not None:
        stream.message(ids.new("msg"), entry.text, entry.chunk)
    if entry.cut:
        # drop the stream halfway through what was streamed (never after the last event)
        return Reply(events=stream.events, cut_at=max(1, (len(stream.events) + 1) // 2))
    exec_call = entry.exec_call
    if exec_call is None and entry.read is not None:
        exec_call = ExecCall(cmd=f"cat -- {shlex.quote(entry.read)}")
    patch = entry.patch if entry.patch is not None else edit_patch(entry)
    if exec_call is not None:
        args = orjson.dumps(msgspec.to_builtins(exec_call)).decode()
        stream.item(_function_call(ids.new("fc"), ids.new("call"), "exec_command", args))
    elif patch is not None:
        item = {
            "type": "custom_tool_call",
            "id": ids.new("ctc"),
            "call_id": ids.new("call"),
            "name": "apply_patch",
            "input": patch,
            "status": "completed",
        }
        stream.item(item)
    elif (mcp := entry.mcp_call) is not None:
        server, tool = mcp
        item = _function_call(ids.new("fc"), ids.new("call"), tool, entry.arguments_json)
        item["namespace"] = f"mcp__{server}"
        stream.item(item)
    elif entry.call is not None:
        args = orjson.dumps(entry.call.input).decode()
        stream.item(_function_call(ids.new("fc"), ids.new("call"), entry.call.name, args))
    if entry.fail is not None:
        failed = stream.response("failed")
        failed["error"] = {"code": "server_error", "message": entry.fail}
        stream.add({"type": "response.failed", "response": failed})
        return Reply(events=stream.events)
    done = stream.response("completed")
    done["usage"] = usage_object(entry, request_bytes)
    stream.add({"type": "response.completed", "response": done})
    return Reply(events=stream.events)


def edit_patch(entry: Entry) -> str | None:
    """An ``edit`` or ``write`` entry as the ``apply_patch`` text Codex applies (else None).

    ``edit`` becomes one hunk replacing the lines of ``old_string`` by those of ``new_string``
    (apply_patch matches whole lines); ``write`` adds the file with ``content``.
    """
    if entry.edit is not None:
        old = "".join(f"-{line}\n" for line in entry.edit.old_string.splitlines())
        new = "".join(f"+{line}\n" for line in entry.edit.new_string.splitlines())
        body = f"*** Update File: {entry.edit.file_path}\n@@\n{old}{new}"
    elif entry.write is not None:
        lines = "".join(f"+{line}\n" for line in entry.write.content.splitlines())
        body = f"*** Add File: {entry.write.file_path}\n{lines}"
    else:
        return None
    return f"*** Begin Patch\n{body}*** End Patch\n"


def produced_chars(entry: Entry) -> int:
    """How many characters an entry's answer carries (for the estimated output tokens)."""
    parts = [entry.text, entry.reasoning, entry.patch, entry.read]
    if entry.exec_call is not None:
        parts.append(entry.exec_call.cmd)
    if entry.tool is not None:
        parts.append(entry.arguments_json)
    for call in (entry.edit, entry.write, entry.call):
        if call is not None:
            parts.append(orjson.dumps(msgspec.to_builtins(call)).decode())
    return sum(len(s) for s in parts if s)


def encode_event(event: dict[str, Any]) -> bytes:
    """One SSE frame: ``event: <type>`` and ``data: <json>``, then a blank line."""
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def _function_call(item_id: str, call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


class _Stream:
    """Accumulates the events of one response and the output items they announce."""

    def __init__(self, response_id: str) -> None:
        self.id = response_id
        self.events: list[dict[str, Any]] = []
        self.output: list[dict[str, Any]] = []

    def response(self, status: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "response",
            "model": MODEL,
            "status": status,
            "output": list(self.output),
        }

    def add(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def _added(self, item: dict[str, Any]) -> int:
        index = len(self.output)
        self.add({"type": "response.output_item.added", "output_index": index, "item": item})
        return index

    def _done(self, index: int, item: dict[str, Any]) -> None:
        self.output.append(item)
        self.add({"type": "response.output_item.done", "output_index": index, "item": item})

    def item(self, item: dict[str, Any]) -> None:
        """An item that is not streamed (a tool call): added, then done."""
        index = self._added({**item, "status": "in_progress"})
        self._done(index, item)

    def message(self, item_id: str, text: str, chunk: int | None) -> None:
        base = {"type": "message", "id": item_id, "role": "assistant"}
        index = self._added({**base, "status": "in_progress", "content": []})
        part = {"type": "output_text", "text": "", "annotations": []}
        self.add(
            {
                "type": "response.content_part.added",
                "item_id": item_id,
                "output_index": index,
                "content_index": 0,
                "part": part,
            }
        )
        for delta in split_text(text, chunk):
            self.add(
                {
                    "type": "response.output_text.delta",
                    "item_id": item_id,
                    "output_index": index,
                    "content_index": 0,
                    "delta": delta,
                }
            )
        self.add(
            {
                "type": "response.output_text.done",
                "item_id": item_id,
                "output_index": index,
                "content_index": 0,
                "text": text,
            }
        )
        content = [{"type": "output_text", "text": text, "annotations": []}]
        self._done(index, {**base, "status": "completed", "content": content})

    def reasoning(self, item_id: str, summary: str, chunk: int | None) -> None:
        index = self._added({"type": "reasoning", "id": item_id, "summary": []})
        self.add(
            {
                "type": "response.reasoning_summary_part.added",
                "item_id": item_id,
                "output_index": index,
                "summary_index": 0,
                "part": {"type": "summary_text", "text": ""},
            }
        )
        for delta in split_text(summary, chunk):
            self.add(
                {
                    "type": "response.reasoning_summary_text.delta",
                    "item_id": item_id,
                    "output_index": index,
                    "summary_index": 0,
                    "delta": delta,
                }
            )
        item = {
            "type": "reasoning",
            "id": item_id,
            "summary": [{"type": "summary_text", "text": summary}],
        }
        self._done(index, item)
