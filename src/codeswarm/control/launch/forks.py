"""The local supervisor's end of the worker zygote (:mod:`codeswarm.worker.zygote`): workers
forked from one process that has imported them once, instead of N interpreters each importing
everything (docs/benchmarks.md, "Scale").

:meth:`Forks.fork` gives a worker's pid, or ``None`` when the zygote cannot (not started, gone,
refused): the caller then starts the worker the ordinary way. :meth:`Forks.wait` gives a forked
worker's exit code as :attr:`subprocess.Popen.returncode` would, or ``None`` when the zygote
ended first (its workers live on, like adopted ones: the outbox tells why one stopped).
``CODESWARM_FORK_WORKERS=0`` turns it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Iterable

from codeswarm.control.proc import kill_group, wait_pid
from codeswarm.core.entry import python_module
from codeswarm.core.swarm import RunDir

log = logging.getLogger("codeswarm.forks")

ZYGOTE_MODULE = "codeswarm.worker.zygote"
ROOM_SLACK = 32
"""Bytes of command line the zygote keeps beyond the longest agent id (see ``retitle``)."""
FORK_TIMEOUT = 30.0
"""How long a fork may take (the zygote imports first: seconds on a loaded machine)."""
CLOSE_GRACE = 2.0
"""How long the zygote gets to end once its end of the socket is closed."""


def enabled() -> bool:
    return os.environ.get("CODESWARM_FORK_WORKERS", "1") != "0"


class Forks:
    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.proc = proc
        self._sock = sock
        self._buf = b""
        self._alive = True
        self._forking: dict[str, asyncio.Future[int | None]] = {}
        self._exits: dict[int, asyncio.Future[int | None]] = {}
        self._orphans: set[asyncio.Future[None]] = set()
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    @classmethod
    def start(cls, run: RunDir, agents: Iterable[str]) -> Forks | None:
        """Start the zygote for ``run``'s workers (from a running event loop); ``None`` when
        turned off or it cannot be started."""
        if not enabled():
            return None
        room = "." * (max((len(a) for a in agents), default=0) + ROOM_SLACK)
        ours, theirs = socket.socketpair()
        try:
            proc = subprocess.Popen(
                python_module(ZYGOTE_MODULE, "--run-dir", str(run.root), "--room", room),
                stdin=theirs.fileno(), stdout=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            log.warning("no worker zygote (%s): workers start on their own", exc)
            ours.close()
            return None
        finally:
            theirs.close()
        ours.setblocking(False)
        return cls(proc, ours)

    async def fork(self, agent: str) -> int | None:
        """A worker for ``agent`` forked by the zygote: its pid, or ``None``."""
        if not self._alive:
            return None
        if agent in self._forking:  # one fork per agent at a time (replies name the agent)
            return None
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
            if not self._alive:
                await wait_pid(pid)
                return None
            got = self._exits[pid] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.shield(got)
        finally:
            if got.done():
                self._exits.pop(pid, None)

    def _readable(self) -> None:
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

    def _line(self, words: list[str]) -> None:
        kind = words[0] if words else ""
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
        if not self._alive:
            return
        self._alive = False
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

    def close(self) -> None:
        """End the zygote (its workers are not touched). Safe to call twice."""
        if self._alive:
            self._alive = False
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._sock.close()
        try:
            self.proc.wait(CLOSE_GRACE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
