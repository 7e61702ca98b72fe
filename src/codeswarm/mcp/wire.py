"""The MCP server's stdio framing: one JSON-RPC message per line in, one per line out, and the
JSON-RPC 2.0 error codes for what is not a message the server can take.

The SDK's own transport (``mcp.server.stdio``) hands a line it cannot read to the server as an
exception, which answers with an "Internal Server Error" log notification (no id, no error code),
and the SDK answers a request for a method MCP does not define with -32602. This transport
answers such lines itself, as JSON-RPC 2.0 says, and keeps serving:

======  ============================================================================  ==========
code    for                                                                           id
======  ============================================================================  ==========
-32700  parse error: not UTF-8, not JSON (``NaN`` and ``Infinity`` are not JSON)      null
-32600  invalid request: JSON, but not a JSON-RPC 2.0 message (a batch, no            its own if
        ``"jsonrpc": "2.0"``, a method that is not a string, an id that is neither a  usable,
        string nor an integer, a line over :data:`MAX_LINE` bytes)                    else null
-32601  method not found: a request for a method MCP does not define                  its own
-32602  invalid params: params that are not an object, or hold a number no double     its own
        can (``1e999``) or a string no UTF-8 can (a lone surrogate, ``"\ud800"``)
-32603  internal error: an answer of ours that cannot be encoded (never expected)      its own
======  ============================================================================  ==========

Everything else goes to the SDK, which answers bad params of a known method with -32602; an
unknown tool is answered in :mod:`codeswarm.mcp.server`. A notification is never answered
(JSON-RPC): a bad one is dropped.
"""

from __future__ import annotations

import json
import math
import sys
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, BinaryIO

import anyio
import anyio.lowlevel
import anyio.to_thread
import mcp.types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

MAX_LINE = 16 * 1024 * 1024
"""The longest message taken, in bytes: far over any tool call's limits (a message text is at
most 64 KiB), and a bound on what one line can make the server hold."""


def _methods(union: Any) -> frozenset[str]:
    """The method names of an SDK request or notification union (``types.ClientRequest``)."""
    variants = typing.get_args(union.model_fields["root"].annotation)
    return frozenset(
        name for v in variants for name in typing.get_args(v.model_fields["method"].annotation)
    )


REQUESTS = _methods(types.ClientRequest)
"""The requests a client may send (``initialize``, ``tools/call``, ...)."""
NOTIFICATIONS = _methods(types.ClientNotification)


@asynccontextmanager
async def stdio_transport(
    stdin: BinaryIO | None = None, stdout: BinaryIO | None = None
) -> AsyncIterator[
    tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[Any]]
]:
    """The streams ``mcp.server.lowlevel.Server.run`` takes, over ``stdin`` and ``stdout``
    (default: the process's, as bytes: a line that is not UTF-8 is a parse error, not replaced).
    """
    source = stdin or sys.stdin.buffer
    sink = anyio.wrap_file(stdout or sys.stdout.buffer)

    async def readline(limit: int) -> bytes:
        return await anyio.to_thread.run_sync(source.readline, limit)

    incoming: MemoryObjectSendStream[SessionMessage | Exception]
    received: MemoryObjectReceiveStream[SessionMessage | Exception]
    incoming, received = anyio.create_memory_object_stream(0)
    outgoing: MemoryObjectSendStream[SessionMessage | bytes]
    to_write: MemoryObjectReceiveStream[SessionMessage | bytes]
    outgoing, to_write = anyio.create_memory_object_stream(0)
    replies = outgoing.clone()  # our own answers, in order with the SDK's

    async def read_lines() -> None:
        try:
            async with incoming, replies:
                while line := await readline(MAX_LINE + 1):
                    if len(line) > MAX_LINE and not line.endswith(b"\n"):
                        while (more := await readline(MAX_LINE)) and not more.endswith(b"\n"):
                            pass  # the rest of the oversized line
                        await replies.send(
                            error_line(None, types.INVALID_REQUEST, f"over {MAX_LINE} bytes")
                        )
                        continue
                    taken = take(line)
                    if isinstance(taken, bytes):
                        await replies.send(taken)
                    elif taken is not None:
                        await incoming.send(SessionMessage(taken))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            await anyio.lowlevel.checkpoint()  # the server is shutting down

    async def write_lines() -> None:
        try:
            async with to_write:
                async for item in to_write:
                    data = item if isinstance(item, bytes) else _encode(item)
                    if data:
                        await sink.write(data)
                        await sink.flush()
        except anyio.ClosedResourceError:
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_lines)
        tg.start_soon(write_lines)
        yield received, outgoing


def _encode(item: SessionMessage) -> bytes:
    """A message of the server's as one line; an answer that cannot be written (a value with
    a lone surrogate from elsewhere) becomes -32603 for its request, anything else is dropped:
    the server keeps serving."""
    try:
        text = item.message.model_dump_json(by_alias=True, exclude_none=True)
        return text.encode() + b"\n"
    except (ValueError, UnicodeError):  # PydanticSerializationError is a ValueError
        root = item.message.root
        if isinstance(root, types.JSONRPCResponse | types.JSONRPCError):
            return error_line(root.id, types.INTERNAL_ERROR, "the answer could not be encoded")
        return b""


def take(line: bytes) -> types.JSONRPCMessage | bytes | None:
    """One input line: the message for the SDK, or the error line to answer it with, or None
    (a blank line, or a notification to drop)."""
    text = line.strip()
    if not text:
        return None
    try:
        obj = json.loads(text.decode("utf-8"), parse_constant=_not_json)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return error_line(None, types.PARSE_ERROR, _why(exc))
    if isinstance(obj, list):
        return error_line(None, types.INVALID_REQUEST, "batches are not supported")
    if not isinstance(obj, dict):
        return error_line(None, types.INVALID_REQUEST, "a message is a JSON object")
    rid = obj.get("id")
    has_id = isinstance(rid, str) or (isinstance(rid, int) and not isinstance(rid, bool))
    reply_to = rid if has_id else None
    if obj.get("jsonrpc") != "2.0":
        return error_line(reply_to, types.INVALID_REQUEST, 'no "jsonrpc": "2.0"')
    if "method" not in obj:  # a response to a request of ours
        if not has_id or ("result" in obj) == ("error" in obj) or _flaw(obj):
            return error_line(reply_to, types.INVALID_REQUEST, "neither a request nor a response")
        return _message(obj, reply_to)
    method, params = obj["method"], obj.get("params")
    if not isinstance(method, str):
        return error_line(reply_to, types.INVALID_REQUEST, "the method is not a string")
    if "id" not in obj:  # a notification: never answered
        if method not in NOTIFICATIONS or not isinstance(params, dict | None) or _flaw(obj):
            return None
        taken = _message(obj, None)
        return None if isinstance(taken, bytes) else taken
    if not has_id:
        return error_line(None, types.INVALID_REQUEST, "the id is neither a string nor an integer")
    if method not in REQUESTS:
        return error_line(rid, types.METHOD_NOT_FOUND, f"no method {method[:100]!r}")
    if not isinstance(params, dict | None):
        return error_line(rid, types.INVALID_PARAMS, "params must be an object")
    flaw = _flaw(params)
    if flaw:
        return error_line(rid, types.INVALID_PARAMS, flaw)
    return _message(obj, rid)


def error_line(rid: str | int | None, code: int, detail: str) -> bytes:
    """A JSON-RPC error response as one line; ``message`` is the spec's name for ``code`` and
    the one-line reason."""
    message = f"{_NAMES.get(code, 'Error')}: {detail}"
    reply = {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}
    return json.dumps(reply, separators=(",", ":")).encode() + b"\n"


_NAMES = {
    types.PARSE_ERROR: "Parse error",
    types.INVALID_REQUEST: "Invalid Request",
    types.METHOD_NOT_FOUND: "Method not found",
    types.INVALID_PARAMS: "Invalid params",
    types.INTERNAL_ERROR: "Internal error",
}


def _message(obj: dict[str, Any], rid: str | int | None) -> types.JSONRPCMessage | bytes:
    try:
        return types.JSONRPCMessage.model_validate(obj)
    except ValidationError:
        return error_line(rid, types.INVALID_REQUEST, "not a JSON-RPC 2.0 message")


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _why(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).splitlines()[0][:200]


def _flaw(value: Any) -> str:
    """What in ``value`` no message may hold, or "": an infinite number (``json`` reads ``1e999``
    as inf, which pydantic would pass on as null), a string with a lone surrogate (``json``
    reads the escape ``\\ud800``; no UTF-8 can hold it, and an answer echoing it could not be
    written)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return "a number too large for a double"
        elif isinstance(item, str):
            if not _utf8(item):
                return "a string that is not Unicode text (a lone surrogate)"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return ""


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
