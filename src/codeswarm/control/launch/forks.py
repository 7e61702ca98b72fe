"""The local supervisor's end of the worker zygote (:mod:`codeswarm.worker.zygote`): workers
forked from one process that has imported them once, instead of N interpreters each importing
everything (docs/benchmarks.md, "Scale").

The zygote is started by :meth:`Forks.start` (the supervisor calls it at once when a worker is
to be started) or else by the first :meth:`Forks.fork`: a supervisor that adopted every worker
runs none until one is needed. :meth:`Forks.fork` gives a worker's pid, or ``None`` when the
zygote cannot (could not be started, gone, refused): the caller then starts the worker the
ordinary way. :meth:`Forks.wait` gives a forked worker's exit code as
:attr:`subprocess.Popen.returncode` would, or ``None`` when the zygote ended first (its
workers live on, like adopted ones: the outbox tells why one stopped). :meth:`Forks.aclose`
ends the zygote. ``CODESWARM_FORK_WORKERS=0`` turns it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable
from typing import NamedTuple

from codeswarm.control.proc import ForkedChild, kill_group, wait_pid
from codeswarm.core.entry import module_args, python_module
from codeswarm.core.swarm import RunDir
from codeswarm.worker.zygote import PENDING, ZYGOTE_MODULE

log = logging.getLogger("codeswarm.forks")

FORK_TIMEOUT = 30.0
"""How long a fork may take (the zygote imports first: seconds on a loaded machine)."""
CLOSE_GRACE = 2.0
"""How long the zygote gets to end once its end of the socket is closed."""
CLOSE_POLL = 0.01
"""How often :meth:`Forks.aclose` looks whether the zygote has ended (it takes ≈ 20 ms)."""


ROOM_SLACK = 32
"""Bytes of command line the zygote keeps beyond the longest agent id (see ``retitle``)."""
ZYGOTE_ROOM = 4096
"""… and, started before the swarm is known, for the run directory (``PATH_MAX``)."""


def enabled() -> bool:
    """Workers are forked by a zygote (``CODESWARM_FORK_WORKERS=0``: started, each its own)."""
    return os.environ.get("CODESWARM_FORK_WORKERS", "1") != "0"


class Prestarted(NamedTuple):
    """A zygote started before its swarm is known (:func:`.prefork.fork_zygote`)."""

    proc: subprocess.Popen[bytes] | ForkedChild
    sock: socket.socket


def zygote_argv() -> list[str]:
    """The command line of a zygote started before its swarm is known (``--run-dir -``, room
    for the run directory to come)."""
    return [sys.executable, *module_args(ZYGOTE_MODULE, "--run-dir", PENDING, "--room",
                                         "." * (ZYGOTE_ROOM + ROOM_SLACK))]  # fmt: skip


class _State(enum.Enum):
    NEW = "new"  # not started: the first fork starts it
    RUNNING = "running"  # forks on request
    ENDED = "ended"  # gone, could not be started, or closed: no more forks


class Forks:
    """The zygote for ``run``'s workers (``agents``: their ids, to size its command line), from
    a running event loop; not started until :meth:`start` or the first :meth:`fork`."""

    def __init__(
        self, run: RunDir, agents: Iterable[str], prestarted: Prestarted | None = None
    ) -> None:
        self.run = run
        self._prestarted = prestarted
        self.proc: subprocess.Popen[bytes] | ForkedChild | None = None
        """The zygote, once started (forked by a pending supervisor: :mod:`.prefork`)."""
        self._room = "." * (max((len(a) for a in agents), default=0) + ROOM_SLACK)
        self._state = _State.NEW
        self._sock: socket.socket | None = None
        self._buf = b""
        self._forking: dict[str, asyncio.Future[int | None]] = {}
        self._exits: dict[int, asyncio.Future[int | None]] = {}
        self._orphans: set[asyncio.Future[None]] = set()
        self._ending: asyncio.Future[None] | None = None
        """A prestarted zygote not needed, ending (:meth:`drop_prestarted`)."""

    @classmethod
    def open(
        cls, run: RunDir, agents: Iterable[str], prestarted: Prestarted | None = None
    ) -> Forks | None:
        """A zygote (not started: ``prestarted``'s, if given, else a new one) for ``run``'s
        workers; ``None`` when turned off (a pending supervisor then forked none:
        :func:`.prefork.fork_zygote` asks the same)."""
        return cls(run, agents, prestarted) if enabled() else None

    @property
    def started(self) -> bool:
        """Whether the zygote was started (it may have ended since)."""
        return self.proc is not None

    def start(self) -> bool:
        """Start the zygote now (its imports then overlap whatever else starts); ``True`` when
        it runs. Only the first call starts it; one that fails turns forking off. A prestarted
        zygote is told the run directory instead; if it cannot be (it died meanwhile), a new
        one is started."""
        if self._state is _State.NEW and self._prestarted is not None:
            proc, ours = self._prestarted
            self._prestarted = None
            where = os.fsencode(self.run.root)
            try:  # (a few bytes into an empty socket buffer: never blocks)
                if b"\n" in where:
                    raise OSError("a run directory with a newline in its name")
                ours.sendall(b"run " + where + b"\n")
            except OSError as exc:
                log.warning("the worker zygote started first is not usable (%s): another", exc)
                self._ending = asyncio.ensure_future(_end(proc, ours))
            else:
                self.proc = proc
                self._running(ours)
        if self._state is _State.NEW:
            self._state = _State.ENDED
            ours, theirs = socket.socketpair()
            try:
                self.proc = subprocess.Popen(
                    python_module(ZYGOTE_MODULE, "--run-dir", str(self.run.root), "--room",
                                  self._room),
                    stdin=theirs.fileno(), stdout=subprocess.DEVNULL, start_new_session=True,
                )  # fmt: skip
            except OSError as exc:
                log.warning("no worker zygote (%s): workers start on their own", exc)
                ours.close()
                return False
            finally:
                theirs.close()
            self._running(ours)
        return self._state is _State.RUNNING

    def _running(self, ours: socket.socket) -> None:
        ours.setblocking(False)
        self._sock = ours
        self._state = _State.RUNNING
        asyncio.get_running_loop().add_reader(ours.fileno(), self._readable)

    async def fork(self, agent: str) -> int | None:
        """A worker for ``agent`` forked by the zygote (started now if it was not): its pid, or
        ``None``."""
        if not self.start():  # synchronous: concurrent first forks start one zygote
            return None
        if agent in self._forking:  # one fork per agent at a time (replies name the agent)
            return None
        assert self._sock is not None
        done: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._forking[agent] = done
        try:
            self._sock.send(f"fork {agent}\n".encode())
            return await asyncio.wait_for(done, FORK_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            log.warning("%s: the worker zygote did not fork (%s)", agent, exc or "timeout")
            return None
        finally:
            self._forking.pop(agent, None)

    async def wait(self, pid: int) -> int | None:
        """The exit code of forked worker ``pid`` once it ends; ``None`` if unknown."""
        got = self._exits.get(pid)
        if got is None:
            if self._state is not _State.RUNNING:
                await wait_pid(pid)
                return None
            got = self._exits[pid] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.shield(got)
        finally:
            if got.done():
                self._exits.pop(pid, None)

    def _readable(self) -> None:
        assert self._sock is not None
        try:
            data = self._sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._gone()
            return
        self._buf += data
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            self._line(line.decode(errors="replace").split())

    def drop_prestarted(self) -> None:
        """Not needed after all (every worker adopted): a prestarted zygote ends (its socket
        closed; reaped in the background). Later forks start a new one."""
        if self._prestarted is not None:
            self._ending = asyncio.ensure_future(_end(*self._prestarted))
            self._prestarted = None

    def _line(self, words: list[str]) -> None:
        kind = words[0] if words else ""
        if kind == "run":  # the zygote has the run directory (prestarted ones)
            return
        if kind == "forked" and len(words) == 3 and words[2].isdigit():
            waiting = self._forking.get(words[1])
            if waiting is not None and not waiting.done():
                waiting.set_result(int(words[2]))
            else:  # too late: its keeper gave up waiting and started one the ordinary way
                log.warning("%s: a late fork (pid %s) is stopped", words[1], words[2])
                kill_group(int(words[2]), signal.SIGKILL)
        elif kind == "exit" and len(words) == 3:
            with contextlib.suppress(ValueError):
                pid, code = int(words[1]), int(words[2])
                got = self._exits.setdefault(pid, asyncio.get_running_loop().create_future())
                if not got.done():
                    got.set_result(code)
        elif kind == "error" and len(words) >= 2:
            log.warning("worker zygote: %s", " ".join(words[1:]))
            waiting = self._forking.get(words[1])
            if waiting is not None and not waiting.done():
                waiting.set_result(None)

    def _gone(self) -> None:
        """The zygote ended: no more forks; its workers are waited on by pid."""
        if self._state is not _State.RUNNING:
            return
        self._state = _State.ENDED
        assert self._sock is not None and self.proc is not None
        asyncio.get_running_loop().remove_reader(self._sock.fileno())
        for waiting in self._forking.values():
            if not waiting.done():
                waiting.set_result(None)
        for pid, got in list(self._exits.items()):
            if not got.done():
                self._exits.pop(pid)
                task = asyncio.ensure_future(self._orphan(pid, got))
                self._orphans.add(task)
                task.add_done_callback(self._orphans.discard)
        log.info("the worker zygote ended (exit %s)", self.proc.poll())

    async def _orphan(self, pid: int, got: asyncio.Future[int | None]) -> None:
        await wait_pid(pid)
        if not got.done():
            got.set_result(None)

    async def aclose(self) -> None:
        """End the zygote (its workers are not touched): its end of the socket closed, then
        :data:`CLOSE_GRACE` seconds, then SIGKILL. Returns when it is gone (reaped), without
        blocking the event loop meanwhile; nothing more is forked. Safe to call twice."""
        if self._state is _State.RUNNING:
            assert self._sock is not None
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._state = _State.ENDED
        self.drop_prestarted()
        if self.proc is not None and self._sock is not None:
            await _end(self.proc, self._sock)
        if self._ending is not None:
            await self._ending


async def _end(proc: subprocess.Popen[bytes] | ForkedChild, sock: socket.socket) -> None:
    """End a zygote: its end of the socket closed, then :data:`CLOSE_GRACE` seconds, then
    SIGKILL; returns once it is reaped, without blocking the event loop meanwhile."""
    sock.close()
    try:
        async with asyncio.timeout(CLOSE_GRACE):
            while proc.poll() is None:  # noqa: ASYNC110 (our child: reaped, not watched)
                await asyncio.sleep(CLOSE_POLL)
    except TimeoutError:
        log.warning("the worker zygote did not end in %.0fs: SIGKILL", CLOSE_GRACE)
    finally:
        if proc.poll() is None:  # too slow, or cancelled while it ends: it ends now
            proc.kill()
            proc.wait()
