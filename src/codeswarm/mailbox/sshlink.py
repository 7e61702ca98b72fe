"""One connection of the ssh transport: an ``ssh`` child process running the remote mailbox
server (:mod:`.serve`), its handshake, its lines, and how it is closed (stdin ends, then
terminate, then kill)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from codeswarm.core import errors
from codeswarm.core.errors import MailboxError
from codeswarm.mailbox.serve import LINE_LIMIT, PROTOCOL, json_object

log = logging.getLogger("codeswarm.mailbox.ssh")

CLOSE_GRACE = 5.0
"""How long the remote serve gets to exit after its stdin ends, before SIGTERM."""
KILL_GRACE = 2.0
"""How long ssh gets after SIGTERM, before SIGKILL."""

_ERRORS: dict[str, type[MailboxError]] = {
    name: cls
    for name, cls in vars(errors).items()
    if isinstance(cls, type) and issubclass(cls, MailboxError)
}


class Link:
    """One ``ssh`` child running the remote serve; lines in, lines out."""

    def __init__(self, proc: asyncio.subprocess.Process, where: str) -> None:
        self.proc = proc
        self.where = where
        self.hello: dict[str, Any] = {}
        self.stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._stderr_task = asyncio.ensure_future(self._read_stderr())
        self._closer: asyncio.Future[None] | None = None

    @classmethod
    async def open(cls, argv: Sequence[str], where: str, within: float, new_session: bool) -> Link:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=LINE_LIMIT,
                start_new_session=new_session,
            )
        except OSError as exc:
            raise MailboxError(f"{where}: cannot run {argv[0]}: {exc.strerror or exc}") from None
        conn = cls(proc, where)
        try:
            await asyncio.wait_for(conn._handshake(), within)
        except TimeoutError:
            await conn.aclose(0.0)
            raise MailboxError(
                f"{where}: no answer from the remote mailbox server within {within:g}s"
            ) from None
        except BaseException:
            await conn.aclose(0.0)
            raise
        return conn

    async def _handshake(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                rc = await self.proc.wait()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._stderr_task), 2.0)
                raise MailboxError(f"{self.where}: {self.exit_reason(rc)}")
            msg = json_object(line)
            if isinstance(msg, str):
                log.debug("%s: ignored before hello (%s): %.200r", self.where, msg, line)
                continue
            if "fatal" in msg:
                raise remote_error(msg["fatal"], self.where)
            hello = msg.get("hello")
            if type(hello) is dict:
                if hello.get("protocol") != PROTOCOL:
                    raise MailboxError(
                        f"{self.where}: the remote codeswarm speaks mailbox protocol "
                        f"{hello.get('protocol')!r}, this one {PROTOCOL}: install the same version"
                    )
                self.hello = hello
                return

    def exit_reason(self, rc: int | None) -> str:
        last = next((s for s in reversed(self.stderr) if s.strip()), "")
        if rc is None:
            return f"ssh (pid {self.proc.pid}) stopped answering"
        if rc < 0:
            return f"ssh (pid {self.proc.pid}) was killed by signal {-rc}"
        if rc == 255:
            return f"ssh failed: {last or 'exit status 255'}"
        hint = ""
        if rc == 127:
            hint = " (no such remote python: set it with ?python=PATH)"
        elif "No module named" in last:
            hint = " (is codeswarm installed there? set the remote python with ?python=PATH)"
        return f"the remote mailbox server exited with status {rc}: {last or '(no output)'}{hint}"

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while True:
            try:
                line = await self.proc.stderr.readline()
            except ValueError:
                continue
            if not line:
                return
            text = line.decode(errors="replace").rstrip()
            self.stderr.append(text)
            log.debug("%s: %s", self.where, text)

    def write(self, data: bytes) -> None:
        stdin = self.proc.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.write(data)

    async def drain(self) -> None:
        stdin = self.proc.stdin
        if stdin is not None and not stdin.is_closing():
            with contextlib.suppress(ConnectionError):
                await stdin.drain()

    async def readline(self) -> bytes:
        """The next line, or b"" when the connection is gone."""
        assert self.proc.stdout is not None
        try:
            return await self.proc.stdout.readline()
        except ValueError:
            log.error(
                "%s: a reply line over %d bytes; dropping the connection", self.where, LINE_LIMIT
            )
            return b""
        except ConnectionError:
            return b""

    async def aclose(self, grace: float = CLOSE_GRACE) -> None:
        """End stdin (the remote serve exits), wait ``grace``, then terminate, then kill."""
        if self._closer is None:
            self._closer = asyncio.ensure_future(self._close(grace))
        await asyncio.shield(self._closer)

    async def _close(self, grace: float) -> None:
        proc = self.proc
        if proc.stdin is not None:
            proc.stdin.close()
            with contextlib.suppress(ConnectionError):
                await proc.stdin.wait_closed()
        if not await self._exited(grace):
            log.info("%s: ssh (pid %s) still running; terminating", self.where, proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            if not await self._exited(KILL_GRACE):
                log.warning("%s: ssh (pid %s) ignored SIGTERM; killing", self.where, proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stderr_task, KILL_GRACE)
        if not self._stderr_task.done():
            self._stderr_task.cancel()

    async def _exited(self, within: float) -> bool:
        try:
            await asyncio.wait_for(self.proc.wait(), max(within, 0.05))
        except TimeoutError:
            return False
        return True


def remote_error(obj: object, where: str) -> MailboxError:
    """The codeswarm error a remote ``{"type", "message"}`` stands for, prefixed with ``where``."""
    if type(obj) is not dict:
        return MailboxError(f"{where}: malformed error from the remote mailbox server")
    cls = _ERRORS.get(str(obj.get("type")), MailboxError)
    message = f"{where}: {obj.get('message')}"
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    if isinstance(exc, errors.RecordTooLargeError):
        exc.size, exc.limit = obj.get("size", 0), obj.get("limit", 0)
    return exc
