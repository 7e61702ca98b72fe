"""The scripted model's HTTP server: Starlette routes under uvicorn, inside the caller's loop.

Each agent reaches the server under its own prefix, ``/agents/<agent>/v1`` (Codex: the Responses
API; OpenClaw and other OpenAI-compatible clients: Chat Completions at ``/chat/completions``) or
``/agents/<agent>`` (Claude Code: the Messages API at ``/v1/messages``), and plays its own cursor
over the script. Every model request is logged (in memory and optionally as JSONL).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import socket
import time
from pathlib import Path
from typing import IO, Any, Final, Self

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from codeswarm.core.errors import ClosedError, UsageError
from codeswarm.core.resource import AsyncResource
from codeswarm.mockmodel.chat import build_chat_reply, encode_chunk
from codeswarm.mockmodel.messages import build_message_reply, error_body
from codeswarm.mockmodel.overrides import claude_env, codex_overrides, openclaw_models
from codeswarm.mockmodel.script import Entry, Playback, Script, latest_user_text
from codeswarm.mockmodel.sse import IdSource, Reply, build_reply, encode_event

log = logging.getLogger("codeswarm.mockmodel")

DEFAULT_AGENT: Final = "default"
"""The agent a request to the plain ``/v1/responses`` path plays as (served by ``"*"``)."""

SHUTDOWN_GRACE: Final = 2.0
"""Seconds ``aclose()`` lets open requests finish before cancelling them. Streams end at once
(scripted delays are cut short), so this only matters for a request stuck elsewhere."""

_LOGGED_HEADERS: Final = (
    "session-id",
    "thread-id",
    "x-codex-turn-metadata",
    "x-codex-window-id",
    "originator",
    "x-claude-code-session-id",
    "anthropic-version",
    "anthropic-beta",
)
_SSE_HEADERS: Final = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
]


class _State(enum.Enum):
    NEW = "new"  # built; not listening yet
    RUNNING = "running"  # listening and answering
    CLOSED = "closed"  # shut down (or failed to start); cannot start again


class MockModel(AsyncResource):
    """A scripted Responses-API server on a local port, run as tasks of the current event loop.

    ::

        async with MockModel(load_script("demo.yaml")) as mm:
            flags = to_codex_flags(mm.codex_config(agent="demo_0"))

    ``port=0`` picks a free port; :attr:`port` tells which once started. Alternatively pass
    ``sock``, a listening socket bound by the caller (to know the address before the server is
    loaded, e.g. to start Codex meanwhile): the model takes it over and closes it on ``aclose()``.
    """

    def __init__(
        self,
        script: Script,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_path: str | os.PathLike[str] | None = None,
        keep_requests: bool = True,
        sock: socket.socket | None = None,
    ) -> None:
        self.script = script
        self.host = host
        self._port = port
        self._log_path = Path(log_path) if log_path is not None else None
        self._keep = keep_requests
        self._state = _State.NEW
        self._requests: list[dict[str, Any]] = []
        self._count = 0
        self._changed = asyncio.Condition()
        self._closing = asyncio.Event()
        self._holds: dict[str, asyncio.Event] = {}
        self._playbacks: dict[str, Playback] = {}
        self._ids = IdSource()
        self._log_file: IO[bytes] | None = None
        self._sock: socket.socket | None = None
        self._given_sock = sock
        if sock is not None:
            self.host, self._port = sock.getsockname()[:2]
        self._server: Any = None  # uvicorn.Server (untyped)
        self._ticker: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Start (see :meth:`start`); leaving the block closes it."""
        await self.start()
        return self

    async def start(self) -> None:
        """Bind the port and start answering. Raises UsageError if the address is unusable."""
        if self._state is not _State.NEW:
            raise ClosedError(f"scripted model already {self._state.value}")
        import uvicorn  # the CLI imports this module on every call; uvicorn only when serving

        self._state = _State.CLOSED  # until fully started: a failed start cannot be retried
        try:
            if self._log_path is not None:
                self._log_file = self._log_path.open("ab")
        except OSError as exc:
            raise UsageError(f"cannot open request log {self._log_path}: {exc.strerror}") from exc
        try:
            self._sock = self._given_sock or _bind(self.host, self._port)
            config = uvicorn.Config(
                self._app(),
                log_config=None,
                access_log=False,
                lifespan="off",
                http="h11",
                ws="none",
                proxy_headers=False,
                server_header=False,
                timeout_graceful_shutdown=int(SHUTDOWN_GRACE),
            )
            config.load()
            server = uvicorn.Server(config)
            server.lifespan = config.lifespan_class(config)
            await server.startup(sockets=[self._sock])
        except BaseException:
            self._close_files()
            raise
        self._server = server
        self._port = self._sock.getsockname()[1]
        self._ticker = asyncio.create_task(server.main_loop(), name="mockmodel-ticker")
        self._state = _State.RUNNING
        log.info("scripted model listening on %s", self.url)

    async def aclose(self) -> None:
        """Stop listening and end open streams; safe to call twice, and after a failed start."""
        was_running = self._state is _State.RUNNING
        self._state = _State.CLOSED
        self._closing.set()
        if was_running and self._server is not None:
            await _shutdown(self._server)
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        self._close_files()

    def _close_files(self) -> None:
        if self._sock is not None:
            self._sock.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # -- addresses -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The listening port (the one asked for, or the one picked when 0 was asked for)."""
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port``, the server root."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def base_url(self, agent: str | None = None) -> str:
        """Codex's ``base_url`` for ``agent``; ``None`` gives the shared ``/v1`` (agent "default")."""
        if agent is None:
            return f"{self.url}/v1"
        if not agent or "/" in agent:
            raise ValueError(f"not a usable agent id: {agent!r}")
        return f"{self.url}/agents/{agent}/v1"

    def codex_config(self, agent: str | None = None) -> dict[str, Any]:
        """Codex ``-c`` overrides (dotted keys) pointing Codex at this server as ``agent``."""
        return codex_overrides(self.base_url(agent))

    def anthropic_base_url(self, agent: str | None = None) -> str:
        """Claude Code's ``ANTHROPIC_BASE_URL`` for ``agent``; ``None``: the root (agent "default")."""
        if agent is None:
            return self.url
        if not agent or "/" in agent:
            raise ValueError(f"not a usable agent id: {agent!r}")
        return f"{self.url}/agents/{agent}"

    def claude_env(self, agent: str | None = None) -> dict[str, str]:
        """The environment that points Claude Code at this server as ``agent``, offline."""
        return claude_env(self.anthropic_base_url(agent))

    def openclaw_models(self, agent: str | None = None) -> dict[str, Any]:
        """OpenClaw's ``models`` config section pointing its Chat Completions provider at this
        server as ``agent`` (:func:`codeswarm.mockmodel.overrides.openclaw_models`)."""
        return openclaw_models(self.base_url(agent))

    # -- the request log -------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every model request so far, oldest first (empty with ``keep_requests=False``)."""
        return self._requests

    @property
    def request_count(self) -> int:
        """How many model requests were answered (or are being answered)."""
        return self._count

    def requests_for(self, agent: str) -> list[dict[str, Any]]:
        """The logged requests of one agent, oldest first."""
        return [r for r in self._requests if r["agent"] == agent]

    async def wait_requests(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:  # noqa: ASYNC109 (a deadline is the point of this call)
        """Wait until at least ``n`` model requests were logged; returns the first ``n``.

        Raises TimeoutError (saying how many came) if they do not within ``timeout`` seconds.
        """
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(lambda: self._count >= n)
            except TimeoutError:
                raise TimeoutError(
                    f"scripted model: {self._count} of {n} requests after {timeout} s"
                ) from None
        return self._requests[:n]

    async def _record(self, record: dict[str, Any]) -> None:
        self._count += 1
        if self._keep:
            self._requests.append(record)
        if self._log_file is not None:
            self._log_file.write(orjson.dumps(record) + b"\n")
            self._log_file.flush()
        async with self._changed:
            self._changed.notify_all()

    def release(self, name: str) -> None:
        """Let every answer scripted with ``hold: name`` go (now and from now on)."""
        self._hold(name).set()

    def _hold(self, name: str) -> asyncio.Event:
        return self._holds.setdefault(name, asyncio.Event())

    # -- HTTP ------------------------------------------------------------------------------

    def _app(self) -> Starlette:
        routes = [Route("/holds/{name}/release", self._release, methods=["POST"])]
        for prefix in ("/agents/{agent}/v1", "/agents/{agent}", "/v1", ""):
            routes.append(Route(f"{prefix}/responses", self._responses, methods=["POST"]))
            routes.append(Route(f"{prefix}/chat/completions", self._chat, methods=["POST"]))
        for prefix in ("/agents/{agent}", ""):
            # Claude Code: ANTHROPIC_BASE_URL is the prefix; it posts to .../v1/messages?beta=true
            routes.append(Route(f"{prefix}/v1/messages", self._messages, methods=["POST"]))
            routes.append(Route(prefix or "/", self._probe, methods=["HEAD"]))
        routes.append(Route("/agents/{agent}/", self._probe, methods=["HEAD"]))
        handlers = {404: self._not_found, 405: self._not_found}
        return Starlette(routes=routes, exception_handlers=handlers)  # type: ignore[arg-type]

    async def _not_found(self, request: Request, exc: HTTPException) -> Response:
        log.warning(
            "scripted model: %s %s: not served (%d)",
            request.method,
            request.url.path,
            exc.status_code,
        )
        body = {
            "error": {
                "message": f"the scripted model does not serve {request.method} {request.url.path}",
                "type": "not_found",
            }
        }
        return JSONResponse(body, status_code=exc.status_code)

    async def _release(self, request: Request) -> Response:
        """``POST /holds/NAME/release``: :meth:`release` over HTTP (for a client elsewhere)."""
        name = str(request.path_params["name"])
        if not 0 < len(name) <= 100:
            return JSONResponse({"error": {"message": "a hold's name has 1 to 100 characters"}},
                                status_code=400)  # fmt: skip
        self.release(name)
        return JSONResponse({"released": name})

    async def _probe(self, request: Request) -> Response:
        """Claude Code's connectivity probe (``HEAD`` on the base URL): answered, not logged."""
        return Response(status_code=200)

    async def _responses(self, request: Request) -> Response | _ReplySender:
        return await self._answer(request, "responses")

    async def _messages(self, request: Request) -> Response | _ReplySender:
        return await self._answer(request, "messages")

    async def _chat(self, request: Request) -> Response | _ReplySender:
        return await self._answer(request, "chat")

    async def _answer(self, request: Request, api: str) -> Response | _ReplySender:
        """Log one model request, pick its entry, and answer it in the ``api``'s wire format
        (``responses``: OpenAI Responses SSE; ``messages``: Anthropic Messages SSE or JSON;
        ``chat``: OpenAI Chat Completions SSE or JSON)."""
        agent = str(request.path_params.get("agent", DEFAULT_AGENT))
        try:
            raw = await request.body()
        except ClientDisconnect:
            return Response(status_code=499)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if self._state is not _State.RUNNING:
            return _error(503, "the scripted model is shutting down", api)
        playback = self._playbacks.get(agent)
        if playback is None:
            playback = self._playbacks[agent] = self.script.playback(agent)
        record = {
            "seq": self._count + 1,
            "ts": round(time.time(), 3),
            "agent": agent,
            "api": api,
            "path": request.url.path,
            "headers": _headers(request),
            "body": body,
            "script_key": playback.key,
            "entry_index": None,
            "entry": None,
        }
        if not isinstance(body, dict):  # logged, but it consumes no entry
            await self._record(record)
            return _error(400, "request body is not a JSON object", api)
        index, entry = playback.pick(latest_user_text(body))
        record["entry_index"] = index
        record["entry"] = entry.to_dict()
        await self._record(record)
        model = body.get("model")
        if api == "chat":
            options = body.get("stream_options")
            reply = build_chat_reply(
                entry,
                self._ids,
                request_bytes=len(raw),
                model=model if isinstance(model, str) else None,
                stream=body.get("stream") is True,
                include_usage=isinstance(options, dict) and options.get("include_usage") is True,
                created=int(time.time()),
            )
        elif api == "messages":
            reply = build_message_reply(
                entry,
                self._ids,
                request_bytes=len(raw),
                model=model if isinstance(model, str) else None,
                stream=body.get("stream") is True,
            )
        else:
            reply = build_reply(entry, self._ids, request_bytes=len(raw))
        hold = self._hold(entry.hold) if entry.hold is not None else None
        return _ReplySender(entry, reply, self._closing, api, hold)


class _ReplySender:
    """The ASGI answer to one request: scripted delay, then an error or the SSE stream.

    Stops quietly when the client goes away or the server closes: no traceback, no 500.
    """

    def __init__(
        self,
        entry: Entry,
        reply: Reply,
        closing: asyncio.Event,
        api: str,
        hold: asyncio.Event | None = None,
    ) -> None:
        self.entry = entry
        self.reply = reply
        self.closing = closing
        self.api = api
        self.hold = hold

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, gone))
        try:
            await self._send(scope, send, gone)
        finally:
            watcher.cancel()

    async def _send(self, scope: Scope, send: Send, gone: asyncio.Event) -> None:
        entry, reply = self.entry, self.reply
        held = self.hold is not None and not await self._pause(None, gone, self.hold)
        if held or (entry.delay and not await self._pause(entry.delay, gone)):
            if not gone.is_set():  # closing: the client is still there, tell it
                closing = _error(503, "the scripted model is shutting down", self.api)
                await closing(scope, _no_receive, send)
            return
        if reply.message is not None:  # a non-streaming Messages or Chat request: one object
            await JSONResponse(reply.message)(scope, _no_receive, send)
            return
        if reply.status != 200:
            answer: Response
            if isinstance(reply.error_body, str):  # a string body goes out as it is
                answer = Response(reply.error_body, reply.status, media_type="text/plain")
            else:
                answer = JSONResponse(reply.error_body, status_code=reply.status)
            await answer(scope, _no_receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        events = reply.events if reply.cut_at is None else reply.events[: reply.cut_at]
        encode = encode_chunk if self.api == "chat" else encode_event
        deltas_sent = 0
        for event in events:
            is_delta = str(event["type"]).endswith((".delta", "content_block_delta"))
            pause = is_delta and deltas_sent and entry.delta_delay  # between deltas, not before
            if pause and not await self._pause(entry.delta_delay, gone):
                break
            if gone.is_set():
                return
            await send({"type": "http.response.body", "body": encode(event), "more_body": True})
            deltas_sent += is_delta
        # a cut (or closing) stream ends here without response.completed
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pause(
        self, seconds: float | None, gone: asyncio.Event, until: asyncio.Event | None = None
    ) -> bool:
        """Sleep ``seconds`` (or until ``until`` is set); False if the client left or the
        server is closing meanwhile."""
        stops = [asyncio.ensure_future(gone.wait()), asyncio.ensure_future(self.closing.wait())]
        goes = asyncio.ensure_future(until.wait()) if until is not None else None
        try:
            done, _ = await asyncio.wait(
                [*stops, *([goes] if goes else [])],
                timeout=seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for stop in [*stops, *([goes] if goes else [])]:
                stop.cancel()
        return not (done & set(stops))


async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


async def _no_receive() -> Message:  # pragma: no cover - JSONResponse never reads
    return {"type": "http.disconnect"}


def _error(status: int, message: str, api: str = "responses") -> JSONResponse:
    if api == "messages":
        return JSONResponse(error_body(status, message), status_code=status)
    return JSONResponse(
        {"error": {"message": message, "type": "scripted_model"}}, status_code=status
    )


def _headers(request: Request) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _LOGGED_HEADERS:
        value = request.headers.get(name)
        if value is None:
            continue
        if name == "x-codex-turn-metadata":
            try:
                out[name] = orjson.loads(value)
                continue
            except orjson.JSONDecodeError:
                pass
        out[name] = value
    return out


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; UsageError with the reason if it cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


async def _shutdown(server: Any) -> None:
    """Stop a started ``uvicorn.Server`` without its fixed 0.1 s polls.

    Closes the listeners, asks every connection to close once its response is sent (idle
    keep-alive connections close now), waits up to SHUTDOWN_GRACE for open requests, cancels
    the rest (saying so), then waits for the connections to be gone.
    """
    for listener in server.servers:
        listener.close()
    state = server.server_state
    for connection in list(state.connections):
        connection.shutdown()
    tasks = list(state.tasks)
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)
        if pending:
            log.warning(
                "scripted model: cancelling %d request(s) still open after %.1f s",
                len(pending),
                SHUTDOWN_GRACE,
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    for listener in server.servers:
        await listener.wait_closed()
    # transports close on the next loop iterations; give them those iterations (bounded)
    deadline = time.monotonic() + SHUTDOWN_GRACE
    while state.connections and time.monotonic() < deadline:
        for connection in list(state.connections):
            connection.shutdown()
        await asyncio.sleep(0.005)
