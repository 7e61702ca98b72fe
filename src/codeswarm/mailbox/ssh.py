"""The mailbox of a run directory on another host, over one persistent ssh connection.

:class:`SshTransport` runs the system ``ssh`` client once per transport, with the far end of the
protocol (``python -m codeswarm.mailbox.serve``, see :mod:`.serve` for the wire format) as the
remote command. Every follow, append and cursor operation of the transport is multiplexed over that
one connection by request id. Why the system client rather than a Python ssh library: clusters
are reached through the user's own ssh setup (``~/.ssh/config`` host aliases, ``ProxyJump``
through a bastion, Kerberos/GSSAPI, agents, hardware keys, ``ControlMaster`` for one-time-password
logins), which only the system client honours; and it keeps the mailbox free of third-party
dependencies.

When the connection drops, the transport reconnects with backoff and resumes: every stream
re-opens from the position after the last record it received (nothing lost, nothing repeated);
appends that were not acknowledged are sent again with the same record id, and the far end looks
for that id at the end of the file before writing (no duplicate). Calls wait while it reconnects.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import itertools
import logging
import math
import os
import random
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import orjson

from codeswarm.core.entry import module_args
from codeswarm.core.errors import InvalidRecordError, MailboxClosedError, MailboxError
from codeswarm.core.resource import AsyncResource
from codeswarm.mailbox import sshurl
from codeswarm.mailbox.follow import POLL_INTERVAL, GroupCorruptSink, Mode
from codeswarm.mailbox.layout import check_name
from codeswarm.mailbox.records import Box, CorruptLine, Delivery, MailRecord, Position, new_nonce
from codeswarm.mailbox.serve import WINDOW_BYTES, json_object, pos_json
from codeswarm.mailbox.sshlink import KILL_GRACE, Link, remote_error
from codeswarm.mailbox.sshurl import SshUrl, is_ssh_url, shell_path
from codeswarm.mailbox.transport import LocalTransport, Transport
from codeswarm.mailbox.writer import ROTATE_BYTES

__all__ = ["SshStatistics", "SshTransport", "SshUrl", "is_ssh_url", "open_transport"]

log = logging.getLogger("codeswarm.mailbox.ssh")

CONNECT_TIMEOUT = 30.0
"""Seconds for ssh to connect and the remote serve to say hello."""
RECONNECT_TIMEOUT = 300.0
"""After a lost connection, give up (failing every call and stream) after this many seconds."""
KEEPALIVE = 15
"""ssh ServerAliveInterval: a dead connection is noticed after three missed answers."""
BACKOFF_MIN = 0.05
BACKOFF_MAX = 5.0
HostKeyChecking = Literal["yes", "accept-new", "no"]


def open_transport(
    target: str | os.PathLike[str], *, swarm: str | None = None, **options: Any
) -> Transport:
    """The transport for ``target``: an ``ssh://`` URL gives an :class:`SshTransport`, anything
    else is a local path and gives a :class:`LocalTransport`.

    With ``swarm``, the path is a state directory (a workspace root) holding ``runs/<swarm>``;
    without it, the path is the run directory itself. ``options`` go to the constructor.
    """
    if is_ssh_url(target):
        return SshTransport(str(target), swarm=swarm, **options)
    run_dir = Path(target)
    if swarm is not None:
        run_dir = run_dir / "runs" / check_name(swarm, "swarm")
    return LocalTransport(run_dir, **options)


# --- the transport ---------------------------------------------------------------------------------


class _State(enum.Enum):
    IDLE = "idle"  # no connection and none being made; the next use connects
    CONNECTING = "connecting"  # making the first connection of this run
    OPEN = "open"  # connected: requests go straight out
    RECONNECTING = "reconnecting"  # the connection dropped; retrying with backoff
    CLOSED = "closed"  # closed by us: every use raises MailboxClosedError


@dataclass(frozen=True, slots=True)
class SshStatistics:
    """A snapshot of an :class:`SshTransport`."""

    state: str
    connects: int
    """Connections made so far (the first one plus every reconnection)."""
    ssh_pid: int | None
    """The local ``ssh`` process of the current connection."""
    remote_pid: int | None
    """The remote serve process of the current connection."""
    remote_host: str | None
    pending_calls: int
    streams: int


@dataclass(eq=False)
class _Call:
    msg: dict[str, Any]
    future: asyncio.Future[Any]


class SshTransport(AsyncResource):
    """A :class:`~codeswarm.mailbox.Transport` to a run directory on another host.

    ``url`` is ``ssh://[user@]host[:port]/path``; with ``swarm`` the path is a workspace (state
    directory) and the run directory is ``<path>/runs/<swarm>``, without it the path is the run
    directory. The remote command is ``<python> -m codeswarm.mailbox.serve``, where ``python`` is
    the argument, else the URL's ``?python=``, else the workspace's ``.venv/bin/python`` if it
    exists, else ``python3``.

    ssh: ``identity_file`` (``-i``, only that key), ``known_hosts`` (``UserKnownHostsFile``),
    ``host_key_checking`` (``StrictHostKeyChecking``; default: whatever the ssh config says),
    ``ssh_options`` (extra arguments, placed first so they win over these), ``interactive``
    (allow ssh to prompt on the terminal; default off: ``BatchMode=yes``). The far end:
    ``mode``, ``poll_interval``, ``rotate_bytes``, ``create``, ``cursor_fsync`` as for
    :class:`LocalTransport`.

    Connects on first use (or :meth:`connect`). If that fails, the call raises a one-line
    :class:`MailboxError` (ssh's own reason). After a connection has worked, a drop is retried
    with backoff for ``reconnect_timeout`` seconds (None: forever) while calls wait; then every
    waiting call and stream fails, and the next use starts over.
    """

    def __init__(
        self,
        url: str | SshUrl,
        *,
        swarm: str | None = None,
        python: str | None = None,
        ssh_command: Sequence[str] = ("ssh",),
        ssh_options: Sequence[str] = (),
        identity_file: str | os.PathLike[str] | None = None,
        known_hosts: str | os.PathLike[str] | None = None,
        host_key_checking: HostKeyChecking | None = None,
        interactive: bool = False,
        connect_timeout: float = CONNECT_TIMEOUT,
        reconnect_timeout: float | None = RECONNECT_TIMEOUT,
        keepalive: int = KEEPALIVE,
        window: int = WINDOW_BYTES,
        mode: Mode = "auto",
        poll_interval: float = POLL_INTERVAL,
        rotate_bytes: int | None = ROTATE_BYTES,
        create: bool = True,
        cursor_fsync: bool = True,
    ) -> None:
        self.url = url if isinstance(url, SshUrl) else SshUrl.parse(url)
        if swarm is not None:
            check_name(swarm, "swarm")
        self.swarm = swarm
        self.python = python or self.url.python
        self.ssh_command = tuple(ssh_command)
        self.ssh_options = tuple(ssh_options)
        self.identity_file = identity_file
        self.known_hosts = known_hosts
        self.host_key_checking = host_key_checking
        self.interactive = interactive
        self.connect_timeout = connect_timeout
        self.reconnect_timeout = reconnect_timeout
        self.keepalive = keepalive
        self.window = window
        self.mode: Mode = mode
        self.poll_interval = poll_interval
        self.rotate_bytes = rotate_bytes
        self.create = create
        self.cursor_fsync = cursor_fsync
        self._where = str(self.url) + (f" (swarm {swarm})" if swarm else "")
        self._state = _State.IDLE
        self._ids = itertools.count(1)
        self._nonce = new_nonce()
        self._appends = itertools.count(1)
        self._calls: dict[int, _Call] = {}
        self._streams: dict[int, _SshStream] = {}
        self._conn: Link | None = None
        self._task: asyncio.Task[None] | None = None
        self._connects = 0

    def __repr__(self) -> str:
        return f"SshTransport({self._where!r}, {self._state.value})"

    # --- the remote command ------------------------------------------------------------------------

    @property
    def run_dir(self) -> str:
        """The remote run directory, as a path (``~/`` for one under the remote home)."""
        return self.url.path + (f"/runs/{self.swarm}" if self.swarm else "")

    def remote_command(self) -> str:
        """The command line ssh runs on the far host (for its login shell)."""
        args = module_args("codeswarm.mailbox.serve", "--mode", self.mode)
        args += ["--poll-interval", repr(self.poll_interval)]
        args += ["--rotate-bytes", "none" if self.rotate_bytes is None else str(self.rotate_bytes)]
        if not self.create:
            args.append("--no-create")
        if not self.cursor_fsync:
            args.append("--no-cursor-fsync")
        tail = " ".join(shlex.quote(a) for a in args) + " --run-dir " + shell_path(self.run_dir)
        workspace = self.url.path if self.swarm else self.url.path + "/../.."
        return sshurl.remote_python(self.python, shell_path(workspace), tail)

    def ssh_argv(self) -> list[str]:
        """The full ``ssh`` command line of one connection."""
        settings = ["-o", f"ConnectTimeout={max(1, math.ceil(self.connect_timeout))}"]
        settings += ["-o", f"ServerAliveInterval={self.keepalive}", "-o", "ServerAliveCountMax=3"]
        if self.identity_file is not None:
            settings += ["-i", os.fspath(self.identity_file), "-o", "IdentitiesOnly=yes"]
        if self.known_hosts is not None:
            settings += ["-o", f'UserKnownHostsFile="{os.fspath(self.known_hosts)}"']
        if self.host_key_checking is not None:
            settings += ["-o", f"StrictHostKeyChecking={self.host_key_checking}"]
        return sshurl.ssh_argv(
            self.url,
            self.remote_command(),
            ssh=self.ssh_command,
            options=self.ssh_options,
            batch=not self.interactive,
            settings=settings,
        )

    # --- lifecycle ---------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect now (instead of on first use); raises :class:`MailboxError` if that fails."""
        await self._call({"op": "ping"})

    def statistics(self) -> SshStatistics:
        conn = self._conn
        hello = conn.hello if conn is not None else {}
        return SshStatistics(
            state=self._state.value,
            connects=self._connects,
            ssh_pid=conn.proc.pid if conn is not None else None,
            remote_pid=hello.get("pid"),
            remote_host=hello.get("host"),
            pending_calls=len(self._calls),
            streams=len(self._streams),
        )

    async def aclose(self) -> None:
        if self._is_closed():
            return
        self._state = _State.CLOSED
        self._fail(MailboxClosedError(f"{self!r} is closed"), end_streams=True)
        conn, task = self._conn, self._task
        if conn is not None:
            await conn.aclose()
            self._conn = None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _is_closed(self) -> bool:
        return self._state is _State.CLOSED

    def _check_open(self) -> None:
        if self._is_closed():
            raise MailboxClosedError(f"{self!r} is closed")

    def _ensure_running(self) -> None:
        if self._task is None and not self._is_closed():
            self._state = _State.CONNECTING
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        connected = False
        lost_at = 0.0
        delay = BACKOFF_MIN
        failures = 0
        try:
            while not self._is_closed():
                try:
                    conn = await Link.open(
                        self.ssh_argv(), self._where, self.connect_timeout, not self.interactive
                    )
                except MailboxError as exc:
                    waited = time.monotonic() - lost_at
                    if not connected or (
                        self.reconnect_timeout is not None and waited >= self.reconnect_timeout
                    ):
                        if connected:
                            exc = MailboxError(f"{exc} (gave up reconnecting after {waited:.0f}s)")
                        self._fail(exc)
                        return
                    failures += 1
                    if failures == 1 or failures % 10 == 0:
                        log.warning("%s; retrying", exc)
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(delay * 2, BACKOFF_MAX)
                    continue
                if self._is_closed():
                    await conn.aclose()
                    return
                connected, failures, delay = True, 0, BACKOFF_MIN
                self._connects += 1
                self._conn = conn
                self._state = _State.OPEN
                self._resume(conn)
                await self._serve(conn)
                if self._is_closed():
                    return  # aclose() closes the connection
                self._state = _State.RECONNECTING
                lost_at = time.monotonic()
                await conn.aclose(KILL_GRACE)  # stays self._conn until closed: aclose() may wait
                self._conn = None
                why = conn.exit_reason(conn.proc.returncode)
                log.warning("%s: connection lost (%s); reconnecting", self._where, why)
                self._lost()
        except Exception as exc:  # a bug: fail loudly rather than leave callers waiting
            log.exception("%s: the connection manager failed", self._where)
            self._fail(MailboxError(f"{self._where}: internal error: {exc!r}"))
            if self._conn is not None:
                await self._conn.aclose(0.0)
                self._conn = None
        finally:
            self._task = None
            if not self._is_closed():
                self._state = _State.IDLE

    async def _serve(self, conn: Link) -> None:
        while True:
            line = await conn.readline()
            if not line:
                return
            try:
                self._dispatch(line)
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                log.warning("%s: ignored a malformed line (%r): %.200r", self._where, exc, line)

    def _resume(self, conn: Link) -> None:
        """A new connection: send every call still waiting (in order), re-open every stream."""
        for rid in sorted(self._calls):
            conn.write(_line(self._calls[rid].msg))
        for stream in list(self._streams.values()):
            conn.write(_line(stream.request()))

    def _lost(self) -> None:
        for rid, call in list(self._calls.items()):
            if call.msg["op"] == "append":
                call.msg["resent"] = True
            elif call.msg["op"] == "rotate":
                del self._calls[rid]
                if not call.future.done():
                    call.future.set_exception(
                        MailboxError(
                            f"{self._where}: the connection dropped during a rotate of "
                            f"{call.msg['box']}/{call.msg['agent']}; it may or may not have happened"
                        )
                    )

    def _fail(self, exc: MailboxError, *, end_streams: bool = False) -> None:
        """Fail every waiting call with ``exc``; streams raise it too, or just end."""
        calls, self._calls = self._calls, {}
        for call in calls.values():
            if not call.future.done():
                call.future.set_exception(exc)
        streams, self._streams = self._streams, {}
        for stream in streams.values():
            stream.end() if end_streams else stream.fail(exc)

    def _dispatch(self, line: bytes) -> None:
        msg = json_object(line)
        if isinstance(msg, str):
            log.warning("%s: ignored a line that is %s: %.200r", self._where, msg, line)
            return
        rid = msg.get("id")
        call = self._calls.pop(rid, None) if type(rid) is int else None
        if call is not None:
            if not call.future.done():
                if "error" in msg:
                    call.future.set_exception(remote_error(msg["error"], self._where))
                else:
                    call.future.set_result(msg.get("ok"))
            return
        stream = self._streams.get(rid) if type(rid) is int else None
        if stream is not None:
            stream.feed(msg, len(line))

    def _send(self, msg: Mapping[str, Any]) -> None:
        """Send now if connected; otherwise drop (used for credit and cancel only)."""
        if self._conn is not None and self._state is _State.OPEN:
            self._conn.write(_line(msg))

    async def _call(self, msg: dict[str, Any]) -> Any:
        self._check_open()
        rid = next(self._ids)
        msg["id"] = rid
        data = _line(msg)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[rid] = _Call(msg, fut)
        self._ensure_running()
        conn = self._conn
        if conn is not None and self._state is _State.OPEN:
            conn.write(data)
            await conn.drain()
        try:
            return await fut
        finally:
            self._calls.pop(rid, None)

    # --- the Transport protocol --------------------------------------------------------------------

    async def append(self, box: Box, agent: str, record: Mapping[str, Any]) -> MailRecord:
        check_name(agent)
        rec = dict(record)
        if "id" not in rec:  # ours, so that a re-send after a reconnect is recognised
            rec["id"] = f"{self._nonce}-{next(self._appends)}"
        try:
            orjson.dumps(rec)
        except orjson.JSONEncodeError as exc:
            raise InvalidRecordError(f"record {rec['id']!r} is not JSON: {exc}") from exc
        result: MailRecord = await self._call(
            {"op": "append", "box": box, "agent": agent, "record": rec}
        )
        return result

    def follow(
        self,
        box: Box,
        agent: str,
        position: Position | None = None,
        *,
        on_corrupt: GroupCorruptSink | None = None,
    ) -> _SshStream:
        check_name(agent)
        starts = {agent: position} if position is not None else {}
        return self._stream(box, agent, starts, None, on_corrupt)

    def follow_all(
        self,
        box: Box,
        *,
        positions: Mapping[str, Position] | None = None,
        consumer: str | None = None,
        on_corrupt: GroupCorruptSink | None = None,
    ) -> _SshStream:
        if consumer is not None:
            check_name(consumer, "consumer")
        return self._stream(box, None, dict(positions or {}), consumer, on_corrupt)

    async def rotate(self, box: Box, agent: str) -> int | None:
        result: int | None = await self._call({"op": "rotate", "box": box, "agent": agent})
        return result

    async def agents(self, box: Box) -> list[str]:
        result: list[str] = await self._call({"op": "agents", "box": box})
        return result

    async def ends(self, box: Box) -> dict[str, Position]:
        result: dict[str, Any] = await self._call({"op": "ends", "box": box})
        return {a: Position.from_json(p) for a, p in result.items()}

    async def load_cursor(self, consumer: str, box: Box, agent: str) -> Position:
        msg = {"op": "load_cursor", "consumer": consumer, "box": box, "agent": agent}
        return Position.from_json(await self._call(msg))

    async def save_cursor(self, consumer: str, box: Box, agent: str, position: Position) -> None:
        await self._call(
            {
                "op": "save_cursor",
                "consumer": consumer,
                "box": box,
                "agent": agent,
                "position": pos_json(position),
            }
        )

    def _stream(
        self,
        box: Box,
        agent: str | None,
        starts: dict[str, Position],
        consumer: str | None,
        on_corrupt: GroupCorruptSink | None,
    ) -> _SshStream:
        self._check_open()
        stream = _SshStream(self, next(self._ids), box, agent, starts, consumer, on_corrupt)
        self._streams[stream.sid] = stream
        with contextlib.suppress(RuntimeError):  # no running loop: connect on first iteration
            asyncio.get_running_loop()
            self._ensure_running()
            self._send(stream.request())
        return stream


def _line(msg: Mapping[str, Any]) -> bytes:
    return orjson.dumps(msg, option=orjson.OPT_APPEND_NEWLINE)


class _SshStream:
    """Deliveries of one follow request; survives reconnections (see :class:`SshTransport`)."""

    def __init__(
        self,
        transport: SshTransport,
        sid: int,
        box: Box,
        agent: str | None,
        starts: dict[str, Position],
        consumer: str | None,
        on_corrupt: GroupCorruptSink | None,
    ) -> None:
        self.sid = sid
        self._transport = transport
        self._box = box
        self._agent = agent
        self._starts = starts
        self._consumer = consumer
        self._on_corrupt = on_corrupt
        self._received: dict[str, Position] = {}  # after the last record received, per agent
        self._reported: dict[str, Position] = {}  # end of the last corrupt line reported
        self._queue: collections.deque[tuple[Delivery | tuple[str, CorruptLine], int]] = (
            collections.deque()
        )
        self._event = asyncio.Event()
        self._consumed = 0  # bytes consumed since the last credit
        self._error: MailboxError | None = None
        self._closed = False

    def request(self) -> dict[str, Any]:
        """The follow request, from where this stream has got to."""
        positions = {**self._starts, **self._received}
        return {
            "id": self.sid,
            "op": "follow",
            "box": self._box,
            "agent": self._agent,
            "consumer": self._consumer,
            "positions": {a: pos_json(p) for a, p in positions.items()},
            "window": self._transport.window,
        }

    def feed(self, msg: dict[str, Any], size: int) -> None:
        agent = msg.get("agent")
        if "record" in msg and type(agent) is str:
            raw = msg["position"]
            position = Position(raw[0], raw[1])
            last = self._received.get(agent)
            if last is not None and position <= last:
                self._credit(size)  # already have it (cannot happen with a well-behaved server)
                return
            self._received[agent] = position
            self._queue.append((Delivery(agent, msg["record"], position), size))
        elif "corrupt" in msg and type(agent) is str:
            c = msg["corrupt"]
            bad = CorruptLine(
                Position(*c["position"]), str(c["text"]), str(c["reason"]), Position(*c["end"])
            )
            reported = self._reported.get(agent)
            if reported is not None and bad.end <= reported:
                self._credit(size)  # reported before the connection dropped
                return
            self._reported[agent] = bad.end
            self._queue.append(((agent, bad), size))
        elif "error" in msg:
            self.fail(remote_error(msg["error"], self._transport._where))
            return
        else:
            return
        self._event.set()

    def fail(self, exc: MailboxError) -> None:
        if self._error is None and not self._closed:
            self._error = exc
        self._transport._streams.pop(self.sid, None)
        self._event.set()

    def end(self) -> None:
        """Closed by the transport: iteration ends."""
        self._closed = True
        self._queue.clear()
        self._event.set()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Delivery:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._queue:
                item, size = self._queue.popleft()
                self._credit(size)
                if isinstance(item, Delivery):
                    return item
                if self._on_corrupt is not None:
                    self._on_corrupt(*item)
                continue
            if self._error is not None:
                exc, self._error = self._error, None
                self._closed = True
                raise exc
            self._transport._check_open()
            self._transport._ensure_running()
            self._event.clear()
            await self._event.wait()

    def _credit(self, size: int) -> None:
        self._consumed += size
        if self._consumed * 2 >= self._transport.window:
            self._transport._send({"op": "credit", "id": self.sid, "bytes": self._consumed})
            self._consumed = 0

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        if self._transport._streams.pop(self.sid, None) is not None:
            self._transport._send({"op": "cancel", "id": self.sid})
        self._event.set()
