"""Turning one script entry into the OpenAI Chat Completions answer (what OpenClaw's
``openai-completions`` providers, and most OpenAI-compatible clients, read).

The same script drives every wire. A call entry becomes a ``tool_calls`` item named after the
tool OpenClaw has for it (``exec`` -> ``exec``, ``read`` -> ``read``, ``write`` -> ``write``,
``edit`` -> ``edit``, ``patch`` -> ``apply_patch``, ``tool`` -> ``<server>__<tool>``, ``call`` ->
the tool it names). Pure functions: no I/O, no clock (see docs/scripted-model.md).

The streamed events are kept as ``{"type": ..., "data": ...}`` so the server can tell deltas
from the rest (``type`` ends in ``.delta``); :func:`encode_chunk` writes them as the wire's
``data: <json>`` frames and the closing ``data: [DONE]``.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from codeswarm.mockmodel.script import Entry
from codeswarm.mockmodel.sse import IdSource, Reply, estimate_usage, split_text

DEFAULT_MODEL: Final = "scripted-model"
"""The model named in answers when the request names none."""

ARGUMENTS_CHUNK: Final = 40
"""A tool call's arguments are streamed in pieces of this many characters."""


def tool_calls(entry: Entry) -> list[tuple[str, dict[str, Any]]]:
    """The ``(function name, arguments)`` of the tool call ``entry`` makes (none, or one), named
    and shaped as OpenClaw's tools take them."""
    if (call := entry.exec_call) is not None:
        args: dict[str, Any] = {"command": call.cmd}
        if call.workdir is not None:
            args["workdir"] = call.workdir
        if call.justification:
            args["title"] = call.justification
        return [("exec", args)]
    if entry.read is not None:
        return [("read", {"path": entry.read})]
    if entry.write is not None:
        return [("write", {"path": entry.write.file_path, "content": entry.write.content})]
    if entry.edit is not None:
        edit = {"oldText": entry.edit.old_string, "newText": entry.edit.new_string}
        return [("edit", {"path": entry.edit.file_path, "edits": [edit]})]
    if entry.patch is not None:
        return [("apply_patch", {"input": entry.patch})]
    if (mcp := entry.mcp_call) is not None:
        server, tool = mcp
        return [(f"{server}__{tool}", orjson.loads(entry.arguments_json))]
    if entry.call is not None:
        return [(entry.call.name, dict(entry.call.input))]
    return []


def usage_object(entry: Entry, request_bytes: int) -> dict[str, Any]:
    """The Chat Completions ``usage`` object: the entry's declared usage exactly, else the
    estimate (docs/scripted-model.md)."""
    usage = estimate_usage(entry, request_bytes)
    total = usage.total_tokens
    if total is None:
        total = usage.input_tokens + usage.output_tokens
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def build_chat_reply(
    entry: Entry,
    ids: IdSource,
    *,
    request_bytes: int,
    model: str | None,
    stream: bool,
    include_usage: bool = True,
    created: int = 0,
) -> Reply:
    """The answer to one Chat Completions request from ``entry``: an HTTP error, a stream of
    ``chat.completion.chunk`` events (``stream``; the usage chunk only with ``include_usage``,
    as OpenAI sends it only when ``stream_options.include_usage`` asks), or one
    ``chat.completion`` object."""
    if entry.http_status is not None:
        body = entry.body
        if body is None:
            body = error_body(f"scripted HTTP {entry.http_status}", "scripted_error")
        return Reply(status=entry.http_status, error_body=body)
    completion_id = "chatcmpl-" + _alnum(ids.new("c"))
    # OpenClaw keeps only letters and digits of a call id: give it ids it leaves alone
    calls = [(_alnum(ids.new("call")), name, args) for name, args in tool_calls(entry)]
    finish = "tool_calls" if calls else "stop"
    usage = usage_object(entry, request_bytes)
    head = {
        "id": completion_id,
        "created": created,
        "model": model or DEFAULT_MODEL,
        "system_fingerprint": None,
    }
    if not stream:
        if entry.fail is not None or entry.cut:
            return Reply(status=500, error_body=error_body(entry.fail or "scripted cut"))
        message: dict[str, Any] = {"role": "assistant", "content": entry.text}
        if entry.reasoning is not None:
            message["reasoning_content"] = entry.reasoning
        if calls:
            message["tool_calls"] = [_call(cid, name, orjson.dumps(a)) for cid, name, a in calls]
        choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
        return Reply(
            message={**head, "object": "chat.completion", "choices": [choice], "usage": usage}
        )

    events: list[dict[str, Any]] = []

    def chunk(kind: str, delta: dict[str, Any], finish_reason: str | None = None) -> None:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        data = {**head, "object": "chat.completion.chunk", "choices": [choice]}
        events.append({"type": kind, "data": data})

    chunk("chunk", {"role": "assistant", "content": ""})
    if entry.reasoning is not None:
        for piece in split_text(entry.reasoning, entry.chunk):
            chunk("reasoning.delta", {"reasoning_content": piece})
    if entry.text is not None:
        for piece in split_text(entry.text, entry.chunk):
            chunk("content.delta", {"content": piece})
    if entry.cut:
        # drop the stream halfway through what was streamed (never after the last event)
        return Reply(events=events, cut_at=max(1, (len(events) + 1) // 2))
    if entry.fail is not None:
        events.append({"type": "error", "data": error_body(entry.fail, "server_error")})
        return Reply(events=events)
    for index, (cid, name, args) in enumerate(calls):
        text = orjson.dumps(args).decode()
        start = {**_call(cid, name, b""), "index": index}
        chunk("tool_call", {"tool_calls": [start]})
        size = entry.chunk or ARGUMENTS_CHUNK
        for i in range(0, len(text), size):
            more = {"index": index, "function": {"arguments": text[i : i + size]}}
            chunk("arguments.delta", {"tool_calls": [more]})
    chunk("finish", {}, finish)
    if include_usage:
        data = {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage}
        events.append({"type": "usage", "data": data})
    events.append({"type": "done", "data": None})
    return Reply(events=events)


def encode_chunk(event: dict[str, Any]) -> bytes:
    """One SSE frame of the Chat Completions wire: ``data: <json>`` (no ``event:`` line), or
    ``data: [DONE]`` to close."""
    if event["type"] == "done":
        return b"data: [DONE]\n\n"
    return b"data: " + orjson.dumps(event["data"]) + b"\n\n"


def error_body(message: str, kind: str = "scripted_model") -> dict[str, Any]:
    """The OpenAI error object."""
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _call(call_id: str, name: str, arguments: bytes) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments.decode()},
    }


def _alnum(text: str) -> str:
    return "".join(c for c in text if c.isalnum())
