"""JSON-RPC over a byte transport, the way ``codex app-server`` speaks it.

Framing is apart from dispatch: :func:`iter_lines` turns bytes into lines; :class:`RpcConnection`
parses each line and routes it — a reply to the future of its request, a notification to every
matching :class:`Subscription` (in arrival order), a server→client request to the request handler,
which always answers (a JSON-RPC error when it cannot).

A line that is not JSON, not an object, or a reply to no pending request is counted and logged,
never fatal. When the peer goes away every pending request fails at once with the transport's
error (for a process: pid and exit code); nothing waits forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from codeswarm.codex.subscription import Message, Predicate, Subscription
from codeswarm.codex.transport import Transport
from codeswarm.core.errors import (
    ClosedError,
    CodexError,
    MethodNotSupportedError,
    ProtocolError,
    RpcError,
)

log = logging.getLogger("codeswarm.codex")

METHOD_NOT_FOUND = -32601
INTERNAL_ERROR = -32603
MAX_LOGGED_GARBAGE = 200
"""Characters of a bad line quoted in the log."""


RequestHandler = Callable[[Message], Awaitable[Any]]


class State(enum.Enum):
    NEW = "new"  # created; the read loop has not started
    OPEN = "open"  # reading and writing
    LOST = "lost"  # the peer went away; every call raises the peer's error
    CLOSED = "closed"  # closed by us; every call raises ClosedError


@dataclass(frozen=True)
class RpcStatistics:
    requests_sent: int
    replies_received: int
    notifications_received: int
    server_requests_received: int
    bad_lines: int
    unmatched_replies: int
    pending: int


class RpcConnection:
    def __init__(self, transport: Transport, handler: RequestHandler | None = None) -> None:
        self._transport = transport
        self._handler = handler
        self._state = State.NEW
        self._next_id = 0
        self._pending: dict[int | str, tuple[str, asyncio.Future[Any]]] = {}
        self._subs: list[Subscription] = []
        self._reader: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None
        self._lost = asyncio.Event()
        self._n_requests = 0
        self._n_replies = 0
        self._n_notes = 0
        self._n_server_requests = 0
        self._n_bad = 0
        self._n_unmatched = 0

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self._state

    @property
    def error(self) -> BaseException | None:
        """Why the connection ended (``None`` while open)."""
        return self._error

    def start(self) -> None:
        if self._state is not State.NEW:
            return
        self._state = State.OPEN
        self._reader = asyncio.create_task(self._read_loop(), name="codex-rpc-reader")

    async def wait_lost(self) -> BaseException | None:
        """Wait until the connection ends; returns why."""
        await self._lost.wait()
        return self._error

    def close_nowait(self) -> None:
        """Mark the connection closed by us: pending calls fail with :class:`ClosedError` and
        subscriptions end. The transport is left to the caller (see :meth:`aclose`)."""
        if self._state in (State.NEW, State.OPEN):
            self._end(ClosedError("connection closed by us"), State.CLOSED)

    async def aclose(self) -> None:
        """Close the transport, fail what is pending with :class:`ClosedError`. Idempotent."""
        self.close_nowait()
        await self._transport.aclose()
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                if (task := asyncio.current_task()) is not None and task.cancelling():
                    raise
        for task in list(self._handlers):
            task.cancel()

    def statistics(self) -> RpcStatistics:
        return RpcStatistics(
            self._n_requests,
            self._n_replies,
            self._n_notes,
            self._n_server_requests,
            self._n_bad,
            self._n_unmatched,
            len(self._pending),
        )

    # -- calls ----------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._state is State.OPEN:
            return
        if self._state is State.NEW:
            raise ClosedError("connection not started")
        assert self._error is not None
        raise self._error

    async def request(self, method: str, params: Any = None) -> Any:
        """Send a request and wait for its result; raises :class:`RpcError` on an error reply."""
        self._check_open()
        self._next_id += 1
        req_id = self._next_id
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = (method, fut)
        msg: dict[str, Any] = {"id": req_id, "method": method}
        if params is not None:
            msg["params"] = params
        self._n_requests += 1
        try:
            await self._transport.send(orjson.dumps(msg) + b"\n")
            return await fut
        finally:
            self._pending.pop(req_id, None)
            if fut.done() and not fut.cancelled():
                fut.exception()  # retrieved: when the send failed first, nothing warns at exit

    async def notify(self, method: str, params: Any = None) -> None:
        self._check_open()
        msg: dict[str, Any] = {"method": method}
        if params is not None:
            msg["params"] = params
        await self._transport.send(orjson.dumps(msg) + b"\n")

    def subscribe(
        self, predicate: Predicate | None = None, *, requests: bool = True
    ) -> Subscription:
        """Receive matching notifications (and server requests) from now on, in order."""
        sub = Subscription(predicate, self._unsubscribe, requests=requests)
        if self._state in (State.LOST, State.CLOSED):
            sub._finish(self._error if self._state is State.LOST else None)
        else:
            self._subs.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    # -- the read loop --------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        buf = b""
        try:
            while True:
                chunk = await self._transport.receive()
                if not chunk:
                    break
                if buf:
                    chunk = buf + chunk
                lines = chunk.split(b"\n")
                buf = lines.pop()  # b"" after a complete line, else a partial line
                for line in lines:
                    if line:
                        self._dispatch_line(line)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a transport failure: report it as the peer going away
            log.debug("read loop failed", exc_info=True)
            if self._state is State.OPEN:
                err = await self._transport.wait_lost()
                err.__cause__ = exc
                self._end(err, State.LOST)
            return
        if buf.strip():
            self._bad_line(buf, "partial line at end of stream")
        if self._state is State.OPEN:
            self._end(await self._transport.wait_lost(), State.LOST)

    def _bad_line(self, line: bytes, why: str) -> None:
        self._n_bad += 1
        text = line[:MAX_LOGGED_GARBAGE].decode("utf-8", "replace")
        log.warning("codex sent a bad line (%s): %r", why, text)

    def _dispatch_line(self, line: bytes) -> None:
        try:
            msg = orjson.loads(line)
        except orjson.JSONDecodeError:
            if line.strip():
                self._bad_line(line, "not JSON")
            return
        if type(msg) is not dict:
            self._bad_line(line, "not a JSON object")
            return
        method = msg.get("method")
        if method is None:
            self._on_reply(msg, line)
        elif "id" in msg:
            self._on_server_request(msg)
        else:
            self._n_notes += 1
            for sub in self._subs:
                pred = sub.predicate
                if pred is None or pred(msg):
                    sub._push(msg)

    def _on_reply(self, msg: Message, line: bytes) -> None:
        req_id = msg.get("id")
        entry = self._pending.get(req_id) if isinstance(req_id, int | str) else None
        if entry is None:
            self._n_unmatched += 1
            self._bad_line(line, "reply to no pending request")
            return
        self._n_replies += 1
        method, fut = entry
        if fut.done():
            return
        if "error" in msg:
            err = msg["error"]
            if isinstance(err, dict):
                code = err.get("code")
                fut.set_exception(
                    RpcError(
                        method,
                        code if isinstance(code, int) else INTERNAL_ERROR,
                        str(err.get("message", "")),
                        err.get("data"),
                    )
                )
            else:
                fut.set_exception(RpcError(method, INTERNAL_ERROR, str(err)))
        elif "result" in msg:
            fut.set_result(msg["result"])
        else:
            fut.set_exception(ProtocolError(f"{method}: reply has neither result nor error"))

    def _on_server_request(self, msg: Message) -> None:
        self._n_server_requests += 1
        for sub in self._subs:
            if sub.requests and (sub.predicate is None or sub.predicate(msg)):
                sub._push(msg)
        task = asyncio.create_task(self._answer(msg), name=f"answer-{msg.get('method')}")
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _answer(self, msg: Message) -> None:
        req_id = msg["id"]
        method = str(msg.get("method"))
        reply: dict[str, Any]
        try:
            if self._handler is None:
                raise MethodNotSupportedError(method)
            reply = {"id": req_id, "result": await self._handler(msg)}
        except MethodNotSupportedError as exc:
            reply = {"id": req_id, "error": {"code": METHOD_NOT_FOUND, "message": str(exc)}}
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("handler for %s failed: %s", method, exc, exc_info=True)
            reply = {
                "id": req_id,
                "error": {"code": INTERNAL_ERROR, "message": f"client failed: {exc}"},
            }
        if self._state is State.OPEN:
            with contextlib.suppress(CodexError):  # the peer is gone: the read loop reports it
                await self._transport.send(orjson.dumps(reply) + b"\n")

    def _end(self, exc: BaseException, state: State) -> None:
        self._state = state
        self._error = exc
        for _method, fut in self._pending.values():
            if not fut.done():
                fut.set_exception(exc)
        self._pending.clear()
        for sub in self._subs:
            sub._finish(exc if state is State.LOST else None)
        self._subs.clear()
        self._lost.set()
