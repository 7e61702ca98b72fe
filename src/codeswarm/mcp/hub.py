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
shape (:class:`~codeswarm.mcp.shape.Shape`): the SDK answers it once per shape and request
(headers and body, less the token and the JSON-RPC id), and later agents get that answer again
(their own id in it) without their server being built or the SDK run (≈ 4 ms of CPU per agent
otherwise: `up -n 50` mounts 50). Those answers are kept on disk across swarms
(:mod:`codeswarm.mcp.answers`), so a hub starts without the MCP SDK (≈ 0.4 s of CPU to
import, while every agent's Codex starts on the same cores and its ``thread/start`` waits for
the mount) and loads it in a thread once no request came for :data:`QUIET_S`, or for the first
request it does not know the answer to. A tool call always goes to the agent's own server.
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
from typing import TYPE_CHECKING, cast

import anyio
from anyio.abc import TaskGroup, TaskStatus

from codeswarm.coordination import Coord
from codeswarm.core.errors import CodeswarmError
from codeswarm.mcp.answers import (
    MOUNT_ANSWERS,
    Answer,
    AnswerKey,
    Kept,
    Message,
    Receive,
    Scope,
    Send,
    mount_key,
    read_small,
)
from codeswarm.mcp.identity import Identity
from codeswarm.mcp.shape import Shape, shape_of
from codeswarm.mcp.store import StoreLater
from codeswarm.worker.mcphub import PATH, HubFiles, digest, tokens_dir

if TYPE_CHECKING:  # the SDK is loaded once the agents have mounted (see Hub.sdk)
    from codeswarm.mcp.server import CoordServer

log = logging.getLogger("codeswarm.mcp.hub")

THREADS = 512
"""Threads for the agents' store calls, at most (asyncio's default is cores + 4: a few agents
waiting on `inbox` would stall every other agent's calls)."""

QUIET_S = 0.5
"""The hub loads the MCP SDK once every agent granted a token has mounted it and no request
came for this long, or at the first request that needs it (``CODESWARM_HUB_QUIET_S``)."""
LONG_QUIET_S = 5.0
"""… or once no request came for this long, whoever has mounted (an agent's Codex that failed
to start, the agents of other nodes of a Slurm swarm, whose grants it sees too)."""
QUIET_ENV = "CODESWARM_HUB_QUIET_S"
TICK_S = 1.0
"""How often the hub's server does its housekeeping (uvicorn's own: every 0.1 s): a stop asked
by a signal takes up to this long to begin (the hub ends with the node's last worker at once)."""


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
        self.mounted = False
        """Its Codex has asked for the tools (the last step of a mount)."""

    @property
    def server(self) -> CoordServer:
        if self._server is None:
            self._server = self._build()
        return self._server


class Hub:
    """The ASGI app: authenticate, then answer with the agent's own server."""

    def __init__(self, run_root: Path, kept: Kept | None = None, quiet_s: float = QUIET_S) -> None:
        """``kept``: the answers to :data:`~codeswarm.mcp.answers.MOUNT` kept across swarms
        (loaded now, added to as the SDK gives new ones); None: from the SDK, in memory.
        ``quiet_s``: see :data:`QUIET_S`."""
        self.quiet_s = quiet_s
        self.tokens = tokens_dir(run_root / "mcp")
        self._agents: dict[str, Agent] = {}
        self._stores: dict[tuple[str | None, str | None, str | None, str | None], StoreLater] = {}
        self._kept = kept
        self._answers: dict[AnswerKey, Answer] = {} if kept is None else kept.load()
        self._asking: dict[AnswerKey, asyncio.Future[Answer | None]] = {}
        """Requests of :data:`MOUNT` being answered by the SDK: the same ones wait for it."""
        self._lock = threading.Lock()
        self._tg: TaskGroup | None = None
        self._sdk: asyncio.Future[None] | None = None
        self._last = 0.0
        """When the last request came (the loop's clock)."""

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
                from codeswarm.mcp.server import build_server  # loaded by then: see sdk()

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
        self._last = asyncio.get_running_loop().time()
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
            self._last = asyncio.get_running_loop().time()
            tg.start_soon(self._load_when_quiet)
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
        key, request_id, method = found
        agent.mounted = agent.mounted or method == "tools/list"
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
                if self._kept is not None:
                    await asyncio.to_thread(self._kept.add, key, answer)
        finally:
            del self._asking[key]
            asking.set_result(answer)

    # -- the SDK -------------------------------------------------------------------------------
    def sdk(self) -> asyncio.Future[None]:
        """The MCP SDK and the agents' servers (:mod:`codeswarm.mcp.server`), imported in a
        thread of their own from the first call on (≈ 0.4 s of CPU); done once they are."""
        if self._sdk is None:
            loop = asyncio.get_running_loop()
            self._sdk = done = loop.create_future()

            def load() -> None:
                try:
                    import mcp.server.streamable_http  # noqa: F401

                    import codeswarm.mcp.server  # noqa: F401
                except BaseException as exc:  # said to every request that needs it
                    log.exception("the MCP SDK cannot be loaded")
                    loop.call_soon_threadsafe(_settle, done, exc)
                else:
                    loop.call_soon_threadsafe(_settle, done, None)

            threading.Thread(target=load, name="sdk", daemon=True).start()
        return self._sdk

    async def _load_when_quiet(self) -> None:
        """Load the SDK once every agent with a grant has mounted the hub and no request came
        for :attr:`quiet_s`, or none for :data:`LONG_QUIET_S` (mounts are answered without it:
        loading it sooner would take CPU the agents' own start-up needs)."""
        loop = asyncio.get_running_loop()
        while self._sdk is None:
            quiet = loop.time() - self._last
            if quiet >= max(self.quiet_s, LONG_QUIET_S) or (
                quiet >= self.quiet_s and self._all_mounted()
            ):
                self.sdk()
                break
            await asyncio.sleep(max(self.quiet_s - quiet, min(self.quiet_s, 0.5), 0.05))

    def _all_mounted(self) -> bool:
        """Every agent with a grant has mounted the hub (and there is one)."""
        try:
            granted = {entry.name[: -len(".json")] for entry in os.scandir(self.tokens)
                       if entry.name.endswith(".json")}  # fmt: skip
        except OSError:
            return False
        mounted = {key for key, agent in self._agents.items() if agent.mounted}
        return bool(granted) and granted <= mounted

    async def _serve(self, agent: Agent, scope: Scope, receive: Receive, send: Send) -> None:
        """One POST, stateless (as the SDK's session manager does it in stateless mode)."""
        assert self._tg is not None
        await asyncio.shield(self.sdk())
        from mcp.server.streamable_http import StreamableHTTPServerTransport

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


def _quiet_s(text: str) -> float:
    """``CODESWARM_HUB_QUIET_S`` as seconds (:data:`QUIET_S` when unset; said in the log, and
    :data:`QUIET_S` used, when it is not a number of seconds from 0 to a day)."""
    if not text.strip():
        return QUIET_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86400:
        log.warning("%s=%r is not a number of seconds from 0 to 86400: %s used", QUIET_ENV,
                    text, QUIET_S)  # fmt: skip
        return QUIET_S
    return seconds


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if not future.done():
        if exc is None:
            future.set_result(None)
        else:
            future.set_exception(exc)


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


def _taken_over() -> list[str] | None:
    """A pending hub (:class:`~codeswarm.worker.mcphub.Pending`): wait for the swarm's part
    (the listening socket, the hub lock, the log, on the socket that is our stdin), take it
    over and return the command line an ordinarily started hub would have had (also shown as
    ours); ``None`` when the process that started us ends without handing anything over."""
    from codeswarm.core.handover import receive

    got = receive(3)
    if got is None:
        return None
    what, (sock_fd, lock_fd, log_fd) = got
    run_dir, host = what.get("run_dir"), what.get("host")
    if not isinstance(run_dir, str) or not isinstance(host, str):
        for fd in got[1]:
            os.close(fd)
        return None
    from codeswarm.core.procself import outlive_parent, retitle, stdio_to

    outlive_parent()
    stdio_to(log_fd)
    os.chdir(run_dir)
    args = [run_dir, "--fd", str(sock_fd), "--lock-fd", str(lock_fd), "--host", host]
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

    class Server(uvicorn.Server):
        async def main_loop(self) -> None:
            """uvicorn's housekeeping (the date header, a stop asked for) once a second, not ten
            times: an idle hub is otherwise its wake-ups alone (docs/benchmarks.md)."""
            counter = 0  # (a multiple of 10 at every tick: the date header every time)
            while not await self.on_tick(counter):
                counter = (counter + 10) % 864000
                await asyncio.sleep(TICK_S)

    hub = Hub(run_root, Kept.default(), _quiet_s(os.environ.get(QUIET_ENV, "")))
    config = uvicorn.Config(hub, lifespan="on", log_level="warning",
                            access_log=False, timeout_graceful_shutdown=2)  # fmt: skip
    server = Server(config)
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
