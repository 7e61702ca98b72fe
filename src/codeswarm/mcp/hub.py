"""The coordination hub: the swarm's MCP tools for every agent on this node, over streamable
HTTP on 127.0.0.1, one process per swarm per node (``python -m codeswarm.mcp.hub RUN_DIR``).

Started and kept alive by the node's workers (:mod:`codeswarm.worker.mcphub`): it receives the
listening socket (``--fd``) and the hub lock it holds for its life (``--lock-fd``), and ends once
no worker of the run on this node is left (``<host>.workers`` free).

Each request's bearer token names the agent it acts for: the SHA-256 of the token must have a
grant in ``<run>/mcp/tokens/`` (written by that agent's worker, removed when it stops), else
the answer is 401 and nothing runs. Per agent, the hub builds the same server as the stdio one
(:func:`codeswarm.mcp.server.build_server`: the same tools, ``submit`` in a worktree swarm, the
orchestrator's tools for that role, ``report_chars`` cuts, fencing) bound to that agent's
identity, store and working directory, when it is first needed. Stateless: every POST is
answered on its own (JSON), so a restarted hub serves a client that was talking to the one
before. No heartbeats here: the agent's worker keeps its registration alive.

What every agent's Codex asks when it mounts the hub (``initialize``, then
``notifications/initialized`` and ``tools/list``) is answered alike by every server of one
shape (:class:`~codeswarm.mcp.server.Shape`): the SDK answers it once per shape and request
(headers and body, less the token and the JSON-RPC id), and later agents get that answer again
(their own id in it) without their server being built or the SDK run (≈ 4 ms of CPU per agent
otherwise: `up -n 50` mounts 50). A tool call always goes to the agent's own server.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and sys.argv[1:2] == ["--pending"]:  # before the heavy imports
    from codeswarm.core.procself import die_with_parent

    die_with_parent(int(sys.argv[2]))

import argparse
import asyncio
import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import anyio
from anyio.abc import TaskGroup, TaskStatus
from mcp.server.streamable_http import StreamableHTTPServerTransport

from codeswarm.coordination import Coord
from codeswarm.core.errors import CodeswarmError
from codeswarm.mcp.identity import Identity
from codeswarm.mcp.server import CoordServer, Shape, StoreLater, build_server, shape_of
from codeswarm.worker.mcphub import PATH, HubFiles, digest, tokens_dir

log = logging.getLogger("codeswarm.mcp.hub")

THREADS = 512
"""Threads for the agents' store calls, at most (asyncio's default is cores + 4: a few agents
waiting on `inbox` would stall every other agent's calls)."""

MOUNT = frozenset({"initialize", "notifications/initialized", "tools/list"})
"""What a Codex asks when it mounts the hub: answered once per shape (see the module docstring)."""
MOUNT_BODY = 4096
"""A request body longer than this (by its ``content-length``) is not one of :data:`MOUNT`."""
MOUNT_ANSWERS = 64
"""Answers kept at most (a few shapes times a few requests are all there are)."""
SKIPPED_HEADERS = frozenset({b"authorization", b"content-length"})
"""Request headers an answer does not depend on (the rest are part of what is answered)."""

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Any
Send = Any
AnswerKey = tuple[Shape, str, bytes, tuple[tuple[bytes, bytes], ...], str]


class Agent:
    """One agent, from its grant; its server is built when first needed."""

    def __init__(
        self, name: str, grant: Path, shape: Shape, build: Callable[[], CoordServer]
    ) -> None:
        self.name = name
        self.grant = grant
        self.shape = shape
        self._build = build
        self._server: CoordServer | None = None

    @property
    def server(self) -> CoordServer:
        if self._server is None:
            self._server = self._build()
        return self._server


class Answer:
    """The SDK's answer to one of :data:`MOUNT`, kept to be sent again with another id."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], head: bytes, tail: bytes):
        self.status = status
        self.headers = headers
        self.head = head  # the body up to the id
        self.tail = tail  # the body after it

    @classmethod
    def of(cls, sent: list[Message], request_id: int | None) -> Answer | None:
        """The answer ``sent`` (a plain 200 result or a 202 for a notification), or None when it
        is anything else (an error, a stream): that is never sent again."""
        if len(sent) != 2:
            return None
        start, body = sent
        if start.get("type") != "http.response.start" or body.get("type") != "http.response.body":
            return None
        if body.get("more_body") or start.get("trailers"):
            return None
        status, content = start.get("status"), bytes(body.get("body", b""))
        headers = [(bytes(k), bytes(v)) for k, v in start.get("headers") or []]
        if request_id is None:
            return cls(202, headers, b"", b"") if status == 202 and not content else None
        head = b'{"jsonrpc":"2.0","id":'
        rid = str(request_id).encode()
        if status != 200 or not content.startswith(head + rid + b',"result":'):
            return None
        return cls(200, headers, head, content[len(head) + len(rid) :])

    async def send(self, send: Send, request_id: int | None) -> None:
        body = b"" if request_id is None else self.head + str(request_id).encode() + self.tail
        length = str(len(body)).encode()
        headers = [(k, length if k.lower() == b"content-length" else v) for k, v in self.headers]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def mount_key(shape: Shape, scope: Scope, body: bytes) -> tuple[AnswerKey, int | None] | None:
    """What identifies a request of :data:`MOUNT` among those of agents of ``shape`` (its
    headers but the token, its body but the id) and its id; None for any other request."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return None
    method = message.get("method")
    if method not in MOUNT:
        return None
    has_id = "id" in message  # (a notification has none: not even null)
    request_id = message.pop("id", None)
    if method.startswith("notifications/") == has_id:
        return None
    if has_id and (type(request_id) is not int or request_id < 0):
        return None
    headers = tuple(
        (bytes(k), bytes(v))
        for k, v in scope.get("headers") or []
        if bytes(k).lower() not in SKIPPED_HEADERS
    )
    rest = json.dumps(message, sort_keys=True, separators=(",", ":"))
    where = str(scope.get("path", ""))
    return (shape, where, bytes(scope.get("query_string", b"")), headers, rest), request_id


async def read_small(scope: Scope, receive: Receive) -> tuple[bytes | None, Receive]:
    """The request's body if it says it is at most :data:`MOUNT_BODY` bytes long (else None),
    and a ``receive`` that gives what was read again, then the rest."""
    headers = scope.get("headers") or []
    length = next((bytes(v) for k, v in headers if bytes(k).lower() == b"content-length"), None)
    if length is None or not length.isdigit() or int(length) > MOUNT_BODY:
        return None, receive
    read: list[Message] = []
    body = b""
    while True:
        message = await receive()
        read.append(message)
        if message.get("type") != "http.request":
            return None, _again(read, receive)  # the client went away: the SDK sees it
        body += message.get("body", b"")
        if len(body) > MOUNT_BODY:
            return None, _again(read, receive)
        if not message.get("more_body"):
            return body, _again(read, receive)


def _again(read: list[Message], receive: Receive) -> Receive:
    async def again() -> Message:
        if read:
            return read.pop(0)
        message: Message = await receive()
        return message

    return again


class Hub:
    """The ASGI app: authenticate, then answer with the agent's own server."""

    def __init__(self, run_root: Path) -> None:
        self.tokens = tokens_dir(run_root / "mcp")
        self._agents: dict[str, Agent] = {}
        self._stores: dict[tuple[str | None, str | None, str | None, str | None], StoreLater] = {}
        self._answers: dict[AnswerKey, Answer] = {}
        self._asking: dict[AnswerKey, asyncio.Future[Answer | None]] = {}
        """Requests of :data:`MOUNT` being answered by the SDK: the same ones wait for it."""
        self._lock = threading.Lock()
        self._tg: TaskGroup | None = None

    # -- who is asking --------------------------------------------------------------------------
    def agent(self, headers: list[tuple[bytes, bytes]]) -> Agent | None:
        token = ""
        for name, value in headers:
            if name.lower() == b"authorization":
                kind, _, rest = value.decode("latin-1").partition(" ")
                if kind.lower() == "bearer":
                    token = rest.strip()
        if not token or len(token) > 200:
            return None
        key = digest(token)
        grant = self.tokens / f"{key}.json"
        if not grant.exists():  # revoked (the worker stopped) or never granted
            self._agents.pop(key, None)
            return None
        found = self._agents.get(key)
        if found is None:
            found = self._build(key, grant)
        return found

    def _build(self, key: str, grant: Path) -> Agent | None:
        try:
            body = json.loads(grant.read_bytes())
            env = {str(k): str(v) for k, v in body["env"].items()}
            cwd, name = str(body["cwd"]), str(body["agent"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        worktree = env.get("CODESWARM_WORKTREE") or None
        scope = env.get("CODESWARM_SCOPE") or None
        db = env.get("CODESWARM_DB") or None
        report = env.get("CODESWARM_REPORT_CHARS") or None
        store_key = (db, worktree or scope, scope if worktree else None, report)
        with self._lock:
            store = self._stores.get(store_key)
            if store is None:
                store = StoreLater(db, worktree or scope, scope if worktree else None,
                                   report=report)  # fmt: skip
                self._stores[store_key] = store
            coord = cast(Coord, store)
            identity = Identity(coord, env)

            def build() -> CoordServer:
                return build_server(coord, identity, heartbeat=False, env=env, cwd=cwd)

            agent = Agent(name, grant, shape_of(identity, env), build)
            self._agents[key] = agent
        return agent

    # -- ASGI -----------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope.get("path", "").rstrip("/") != PATH:
            await _plain(send, 404, "not found")
            return
        agent = self.agent(scope.get("headers") or [])
        if agent is None:
            await _plain(send, 401, "unauthorized: no valid bearer token",
                         [(b"www-authenticate", b'Bearer realm="codeswarm"')])  # fmt: skip
            return
        if scope.get("method") != "POST":  # no server-initiated stream: nothing to push
            await _plain(send, 405, "method not allowed", [(b"allow", b"POST")])
            return
        await self._answer(agent, scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # every agent's blocking calls (a lease or inbox `wait` of up to 60 s, the
        # orchestrator's `converse` of up to an hour) run in threads: one pool for all of them,
        # big enough that waiting agents never hold up the others (threads start on demand)
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="hub")
        )
        async with anyio.create_task_group() as tg:
            self._tg = tg
            await receive()  # lifespan.startup
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            tg.cancel_scope.cancel()
        self._tg = None
        for store in self._stores.values():
            store.close()
        await send({"type": "lifespan.shutdown.complete"})

    async def _answer(self, agent: Agent, scope: Scope, receive: Receive, send: Send) -> None:
        """One POST: a request of :data:`MOUNT` answered already for the agent's shape gets
        that answer again; anything else goes to the agent's own server (:meth:`_serve`)."""
        body, receive = await read_small(scope, receive)
        found = None if body is None else mount_key(agent.shape, scope, body)
        if found is None:
            await self._serve(agent, scope, receive, send)
            return
        key, request_id = found
        answer = self._answers.get(key)
        asked = self._asking.get(key)
        if answer is None and asked is not None:  # every agent mounts at once: the SDK once
            answer = await asyncio.shield(asked)
        if answer is not None:
            await answer.send(send, request_id)
            return
        if asked is not None:  # that one's answer is not one to send again
            await self._serve(agent, scope, receive, send)
            return
        sent: list[Message] = []

        async def keep(message: Message) -> None:
            sent.append(message)
            await send(message)

        self._asking[key] = asking = asyncio.get_running_loop().create_future()
        try:
            await self._serve(agent, scope, receive, keep)
            answer = Answer.of(sent, request_id)
            if answer is not None and len(self._answers) < MOUNT_ANSWERS:
                self._answers[key] = answer
        finally:
            del self._asking[key]
            asking.set_result(answer)

    async def _serve(self, agent: Agent, scope: Scope, receive: Receive, send: Send) -> None:
        """One POST, stateless (as the SDK's session manager does it in stateless mode)."""
        assert self._tg is not None
        transport = StreamableHTTPServerTransport(
            mcp_session_id=None, is_json_response_enabled=True, event_store=None
        )
        low = agent.server._mcp_server

        async def serve(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            async with transport.connect() as (read, write):
                task_status.started()
                try:
                    await low.run(read, write, low.create_initialization_options(), stateless=True)
                except Exception:
                    log.exception("%s: a request failed", agent.name)

        try:
            await self._tg.start(serve)
            await transport.handle_request(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await transport.terminate()


async def _plain(
    send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"error": text}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *(headers or [])]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def _end_with_the_workers(files: HubFiles) -> None:
    """Block until no worker of the run on this node is left, then end at once: no client is
    left either (every Codex belongs to a worker), and the exit releases the hub lock, which
    the last worker waits for."""
    fd = files.open_lock(files.workers)
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX)
    os._exit(0)


def _taken_over(ctl_fd: int = 0) -> list[str] | None:
    """A pending hub (:class:`~codeswarm.worker.mcphub.Pending`): wait for the swarm's part
    (the listening socket, the hub lock, the log, on the socket that is our stdin), take it
    over and return the command line an ordinarily started hub would have had (also shown as
    ours); ``None`` when the process that started us ends without handing anything over."""
    ctl = socket.socket(fileno=ctl_fd)
    try:
        body, fds, _, _ = socket.recv_fds(ctl, 4096, 3)
    except OSError:
        body, fds = b"", []
    ctl.close()
    if not body or len(fds) != 3:
        return None
    from codeswarm.core.procself import outlive_parent, retitle, stdio_to

    outlive_parent()
    sock_fd, lock_fd, log_fd = fds
    what = json.loads(body)
    stdio_to(log_fd)
    os.chdir(what["run_dir"])
    args = [what["run_dir"], "--fd", str(sock_fd), "--lock-fd", str(lock_fd),
            "--host", what["host"]]  # fmt: skip
    retitle([sys.executable, "-P", "-m", "codeswarm.mcp.hub", *args])
    return args


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--pending"]:
        taken = _taken_over()
        if taken is None:
            return 0
        argv = taken
    parser = argparse.ArgumentParser(prog="python -m codeswarm.mcp.hub")
    parser.add_argument("run_dir")
    parser.add_argument("--fd", type=int, required=True, help="the listening socket")
    parser.add_argument("--lock-fd", type=int, required=True, help="the hub lock, held till exit")
    parser.add_argument("--host", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    run_root = Path(args.run_dir)
    files = HubFiles(run_root / "mcp", args.host)
    sock = socket.socket(fileno=args.fd)

    import uvicorn

    config = uvicorn.Config(Hub(run_root), lifespan="on", log_level="warning",
                            access_log=False, timeout_graceful_shutdown=2)  # fmt: skip
    server = uvicorn.Server(config)
    threading.Thread(
        target=_end_with_the_workers, args=(files,), name="workers-gone", daemon=True
    ).start()
    try:
        server.run(sockets=[sock])
    except CodeswarmError as exc:
        print(f"codeswarm mcp hub: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
