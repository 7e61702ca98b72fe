"""Turning one script entry into the Anthropic Messages-API answer Claude Code reads.

The same script drives both wires: a call entry becomes a ``tool_use`` block of the tool Claude
Code has for it (``exec`` -> ``Bash``, ``edit`` -> ``Edit``, ``write`` -> ``Write``, ``read`` ->
``Read``, ``patch`` -> ``Write``/``Edit``/``Bash rm``, ``tool`` -> ``mcp__<server>__<tool>``,
``call`` -> the tool it names). Pure functions: no I/O, no clock (see docs/scripted-model.md).
"""

from __future__ import annotations

import shlex
from typing import Any, Final

import msgspec
import orjson

from codeswarm.core.errors import PatchNotTranslatableError
from codeswarm.mockmodel.script import Entry
from codeswarm.mockmodel.sse import IdSource, Reply, estimate_usage, split_text

DEFAULT_MODEL: Final = "claude-scripted"
"""The model named in answers when the request names none."""

JSON_CHUNK: Final = 40
"""A tool's input is streamed as ``input_json_delta`` pieces of this many characters."""


def tool_uses(entry: Entry) -> list[tuple[str, dict[str, Any]]]:
    """The ``(tool name, input)`` of each tool call ``entry`` makes (none, or one; a patch may
    make one per file operation). Raises PatchNotTranslatableError for a patch that moves a file."""
    if (call := entry.exec_call) is not None:
        command = (
            call.cmd if call.workdir is None else f"cd {shlex.quote(call.workdir)} && {call.cmd}"
        )
        bash: dict[str, Any] = {"command": command}
        if call.justification:
            bash["description"] = call.justification
        return [("Bash", bash)]
    if entry.patch is not None:
        return patch_tool_uses(entry.patch)
    if (mcp := entry.mcp_call) is not None:
        server, tool = mcp
        return [(f"mcp__{server}__{tool}", orjson.loads(entry.arguments_json))]
    if entry.edit is not None:
        return [("Edit", msgspec.to_builtins(entry.edit))]
    if entry.write is not None:
        return [("Write", msgspec.to_builtins(entry.write))]
    if entry.read is not None:
        return [("Read", {"file_path": entry.read})]
    if entry.call is not None:
        return [(entry.call.name, dict(entry.call.input))]
    return []


def patch_tool_uses(patch: str) -> list[tuple[str, dict[str, Any]]]:
    """An ``apply_patch`` text as Claude Code tool calls: ``*** Add File`` -> ``Write``, each hunk
    of ``*** Update File`` -> ``Edit`` (its ``-`` and context lines replaced by its ``+`` and
    context lines), ``*** Delete File`` -> ``Bash rm -f --``."""
    out: list[tuple[str, dict[str, Any]]] = []
    op: str | None = None
    path = ""
    lines: list[str] = []

    def flush() -> None:
        if op == "add":
            content = "".join(line[1:] + "\n" for line in lines if line.startswith("+"))
            out.append(("Write", {"file_path": path, "content": content}))
        elif op == "update" and lines:
            old = [ln[1:] for ln in lines if ln[:1] in (" ", "-")]
            new = [ln[1:] for ln in lines if ln[:1] in (" ", "+")]
            out.append(
                (
                    "Edit",
                    {"file_path": path, "old_string": "\n".join(old), "new_string": "\n".join(new)},
                )
            )
        lines.clear()

    for line in patch.splitlines():
        if line.startswith(("*** Begin Patch", "*** End Patch", "*** End of File")):
            continue
        if line.startswith("*** Move to:"):
            raise PatchNotTranslatableError(
                f"a patch that moves {path} has no Claude Code tool call"
            )
        head = _PATCH_OPS.get(line.split(":", 1)[0]) if line.startswith("*** ") else None
        if head is not None:
            flush()
            op, path = head, line.split(":", 1)[1].strip()
            if op == "delete":
                out.append(("Bash", {"command": f"rm -f -- {shlex.quote(path)}"}))
            continue
        if line.startswith("@@") and op == "update":
            flush()  # a new hunk: one Edit each
            continue
        lines.append(line or " ")  # an empty line in a hunk is an empty context line
    flush()
    return out


_PATCH_OPS: Final = {
    "*** Add File": "add",
    "*** Update File": "update",
    "*** Delete File": "delete",
}


def usage_block(entry: Entry, request_bytes: int) -> tuple[dict[str, Any], int]:
    """``message_start``'s usage (input side) and the output token count, from the entry's
    usage (else the estimate). Cached input is reported as ``cache_read_input_tokens``, and
    ``input_tokens`` is the rest: the Messages API counts them apart."""
    usage = estimate_usage(entry, request_bytes)
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    start = {
        "input_tokens": usage.input_tokens - cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": 1,
    }
    return start, usage.output_tokens


def build_message_reply(
    entry: Entry, ids: IdSource, *, request_bytes: int, model: str | None, stream: bool
) -> Reply:
    """The answer to one Messages request from ``entry``: an HTTP error, a stream of SSE events
    (``stream``), or one Message object."""
    if entry.http_status is not None:
        body = entry.body
        if body is None:
            body = error_body(entry.http_status, f"scripted HTTP {entry.http_status}")
        return Reply(status=entry.http_status, error_body=body)
    try:
        calls = tool_uses(entry)
    except PatchNotTranslatableError as exc:
        return Reply(status=400, error_body=error_body(400, f"scripted model: {exc}"))
    blocks: list[dict[str, Any]] = []
    if entry.reasoning is not None:
        blocks.append(
            {"type": "thinking", "thinking": entry.reasoning, "signature": ids.new("sig")}
        )
    if entry.text is not None:
        blocks.append({"type": "text", "text": entry.text})
    if not entry.cut:
        blocks += [
            {"type": "tool_use", "id": ids.new("toolu"), "name": n, "input": i} for n, i in calls
        ]
    start_usage, output_tokens = usage_block(entry, request_bytes)
    message: dict[str, Any] = {
        "id": ids.new("msg"),
        "type": "message",
        "role": "assistant",
        "model": model or DEFAULT_MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    stop_reason = "tool_use" if calls else "end_turn"
    if not stream:
        if entry.fail is not None or entry.cut:
            return Reply(status=500, error_body=error_body(500, entry.fail or "scripted cut"))
        usage = {**start_usage, "output_tokens": output_tokens}
        return Reply(
            message={**message, "content": blocks, "stop_reason": stop_reason, "usage": usage}
        )
    events: list[dict[str, Any]] = [{"type": "message_start", "message": message}]
    for index, block in enumerate(blocks):
        events += _block_events(index, block, entry.chunk)
    if entry.cut:
        # drop the stream halfway through what was streamed (never after the last event)
        return Reply(events=events, cut_at=max(1, (len(events) + 1) // 2))
    if entry.fail is not None:
        events.append({"type": "error", "error": {"type": "api_error", "message": entry.fail}})
        return Reply(events=events)
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        }
    )
    events.append({"type": "message_stop"})
    return Reply(events=events)


def error_body(status: int, message: str) -> dict[str, Any]:
    """The Messages API's error object for ``status``."""
    kind = _ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _block_events(index: int, block: dict[str, Any], chunk: int | None) -> list[dict[str, Any]]:
    kind = block["type"]
    events: list[dict[str, Any]] = []

    def delta(d: dict[str, Any]) -> None:
        events.append({"type": "content_block_delta", "index": index, "delta": d})

    if kind == "text":
        start: dict[str, Any] = {"type": "text", "text": ""}
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        for piece in split_text(block["text"], chunk):
            delta({"type": "text_delta", "text": piece})
    elif kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        for piece in split_text(block["thinking"], chunk):
            delta({"type": "thinking_delta", "thinking": piece})
        delta({"type": "signature_delta", "signature": block["signature"]})
    else:
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        text = orjson.dumps(block["input"]).decode()
        size = chunk or JSON_CHUNK
        for i in range(0, len(text), size):
            delta({"type": "input_json_delta", "partial_json": text[i : i + size]})
    events.append({"type": "content_block_stop", "index": index})
    return events
