"""The byte pipe under a JSON-RPC connection: a tiny interface, a child process behind it, and an
in-memory pair for tests.

A transport moves bytes only; it knows nothing of lines or JSON. When the peer goes away,
:meth:`Transport.wait_lost` says why, as a :class:`CodexError` (for a process: its pid, exit code
and the last line it wrote to stderr).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import IO, Protocol

from codeswarm.core.errors import CodexError, ProcessExitedError

log = logging.getLogger("codeswarm.codex")

READ_CHUNK = 256 * 1024
STDERR_TAIL_LINES = 20
# Shutdown policy (see ProcessTransport.aclose): close stdin, wait; SIGTERM, wait; SIGKILL.
STDIN_CLOSE_GRACE = 5.0
TERMINATE_GRACE = 3.0
KILL_GRACE = 5.0
EXIT_CODE_WAIT = 2.0
"""How long to wait for an exit code after the peer closed its stdout."""


class Transport(Protocol):
    async def receive(self) -> bytes:
        """The next chunk of bytes from the peer; ``b""`` once it closed its side."""
        ...

    async def send(self, data: bytes) -> None:
        """Write ``data`` to the peer (raises :class:`CodexError` if it is gone)."""
        ...

    async def wait_lost(self) -> CodexError:
        """Called after :meth:`receive` returned ``b""``: why the peer went away."""
        ...

    async def aclose(self) -> None:
        """Close our side and make sure the peer is gone. Safe to call twice."""
        ...


class ProcessTransport:
    """A child process: we write its stdin, read its stdout; its stderr goes to a log.

    The child runs in its own session (process group), so escalation reaches the commands and MCP
    servers it started, and nothing is left behind.
    """

    def __init__(self, proc: _AdoptedProcess, stderr_log: IO[bytes] | None) -> None:
        self.proc = proc
        self._stderr_log = stderr_log
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._stderr_task = asyncio.create_task(self._drain_stderr(), name=f"stderr-{proc.pid}")
        self._closed = False

    @classmethod
    async def adopt(
        cls, popen: subprocess.Popen[bytes], *, stderr_log: Path | None = None
    ) -> ProcessTransport:
        """Connect to a process started with :func:`codeswarm.codex.launch.launch`."""
        log_file: IO[bytes] | None = None
        if stderr_log is not None:
            stderr_log.parent.mkdir(parents=True, exist_ok=True)
            log_file = open(stderr_log, "ab")  # noqa: SIM115 (owned by the transport)
        return cls(await _AdoptedProcess.connect(popen), log_file)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def stderr_tail(self) -> list[str]:
        return list(self._stderr_tail)

    async def _drain_stderr(self) -> None:
        stream = self.proc.stderr
        assert stream is not None
        while True:
            try:
                line = await stream.readline()
            except (ValueError, OSError):  # over-long line or a broken pipe: keep draining
                line = await stream.read(READ_CHUNK)
            if not line:
                break
            if self._stderr_log is not None:
                self._stderr_log.write(line)
                self._stderr_log.flush()
            text = line.decode("utf-8", "replace").strip()
            if text:
                self._stderr_tail.append(text)

    async def receive(self) -> bytes:
        stream = self.proc.stdout
        assert stream is not None
        try:
            return await stream.read(READ_CHUNK)
        except OSError:
            return b""

    async def send(self, data: bytes) -> None:
        stdin = self.proc.stdin
        if stdin is None or stdin.is_closing():
            raise await self.wait_lost()
        try:
            stdin.write(data)
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise await self.wait_lost() from exc

    async def wait_lost(self) -> CodexError:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.proc.wait()), EXIT_CODE_WAIT)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._stderr_task), 0.5)
        tail = self._stderr_tail[-1] if self._stderr_tail else ""
        return ProcessExitedError(self.proc.pid, self.proc.returncode, tail)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    async def _wait(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(asyncio.shield(self.proc.wait()), seconds)
        except TimeoutError:
            return False
        return True

    async def aclose(self, grace: float = STDIN_CLOSE_GRACE) -> None:
        """Close stdin and wait ``grace``; then SIGTERM the group and wait; then SIGKILL."""
        if self._closed:
            await self._wait(KILL_GRACE)
            return
        self._closed = True
        try:
            stdin = self.proc.stdin
            if stdin is not None and not stdin.is_closing():
                stdin.close()
                with contextlib.suppress(OSError):
                    await stdin.wait_closed()
            if self.proc.returncode is None and not await self._wait(grace):
                log.warning(
                    "codex pid %d still running %.1fs after stdin closed: SIGTERM",
                    self.proc.pid,
                    grace,
                )
                self._signal_group(signal.SIGTERM)
                if not await self._wait(TERMINATE_GRACE):
                    log.warning(
                        "codex pid %d ignored SIGTERM for %.1fs: SIGKILL",
                        self.proc.pid,
                        TERMINATE_GRACE,
                    )
                    self._signal_group(signal.SIGKILL)
                    await self._wait(KILL_GRACE)
            # whatever the child left in its group (commands it ran, MCP servers) goes too
            self._signal_group(signal.SIGKILL)
        finally:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._stderr_task), 1.0)
            if not self._stderr_task.done():
                self._stderr_task.cancel()
            if self._stderr_log is not None:
                self._stderr_log.close()


class _AdoptedProcess:
    """A ``subprocess.Popen`` made awaitable: its pipes as asyncio streams, and ``wait()``.

    Exit is noticed through a pidfd on Linux (no thread, no polling), else by a thread blocked in
    ``waitpid`` for this one process.
    """

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        stdin: asyncio.StreamWriter,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
    ) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._watch()

    @classmethod
    async def connect(cls, popen: subprocess.Popen[bytes]) -> _AdoptedProcess:
        loop = asyncio.get_running_loop()
        assert popen.stdin is not None and popen.stdout is not None and popen.stderr is not None
        readers = []
        for pipe in (popen.stdout, popen.stderr):
            reader = asyncio.StreamReader(limit=READ_CHUNK, loop=loop)
            await loop.connect_read_pipe(lambda r=reader: asyncio.StreamReaderProtocol(r), pipe)  # type: ignore[misc]
            readers.append(reader)
        # StreamReaderProtocol gives the writer flow control and a close waiter
        w_transport, w_protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader(loop=loop), loop=loop),
            popen.stdin,
        )
        writer = asyncio.StreamWriter(w_transport, w_protocol, None, loop)
        return cls(popen, writer, readers[0], readers[1])

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def _watch(self) -> None:
        loop = asyncio.get_running_loop()

        def done() -> None:
            code = self.popen.poll()
            if code is not None and not self._exited.done():
                self._exited.set_result(code)

        try:
            fd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            fd = -1
        if fd >= 0:

            def readable() -> None:
                loop.remove_reader(fd)
                os.close(fd)
                self.popen.wait()  # the pidfd says it exited: this reaps without blocking
                done()

            loop.add_reader(fd, readable)
            return

        def wait_in_thread() -> None:
            self.popen.wait()
            with contextlib.suppress(RuntimeError):  # the loop may be closed by then
                loop.call_soon_threadsafe(done)

        threading.Thread(target=wait_in_thread, name=f"wait-{self.pid}", daemon=True).start()

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)


class MemoryTransport:
    """One end of an in-memory pipe pair (see :func:`memory_pipe`); it passes the same
    conformance suite as :class:`ProcessTransport` (``tests/codex/test_transport.py``)."""

    def __init__(self, inbox: asyncio.Queue[bytes], outbox: asyncio.Queue[bytes]) -> None:
        self._inbox = inbox
        self._outbox = outbox
        self._peer: MemoryTransport | None = None
        self._eof = False
        self._closed = False

    async def receive(self) -> bytes:
        if self._eof:
            return b""
        data = await self._inbox.get()
        if not data:
            self._eof = True
        return data

    async def send(self, data: bytes) -> None:
        if self._closed or (self._peer is not None and self._peer._closed):
            raise await self.wait_lost()
        if data:
            self._outbox.put_nowait(data)

    async def wait_lost(self) -> CodexError:
        who = "closed by us" if self._closed else "peer closed"
        return ProcessExitedError(None, None, f"memory transport {who}")

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._outbox.put_nowait(b"")


def memory_pipe() -> tuple[MemoryTransport, MemoryTransport]:
    """Two connected in-memory transports: what one sends, the other receives."""
    a: asyncio.Queue[bytes] = asyncio.Queue()
    b: asyncio.Queue[bytes] = asyncio.Queue()
    one, other = MemoryTransport(a, b), MemoryTransport(b, a)
    one._peer, other._peer = other, one
    return one, other
