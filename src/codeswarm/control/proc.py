"""Process helpers for the processes control starts and adopts: pid locks, pid files, process
groups, and waiting on a process that is not our child.

Every process codeswarm starts runs in its own session (``start_new_session=True``), so its pid
is also its process group's id and :func:`kill_group` takes its children (Codex, its tools) too.
Pids are reused by the kernel: anything that acts on a pid read from a file checks the
command line first (:func:`process_matches`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path

from codeswarm.core.pids import process_matches, wait_pid


class PidLock:
    """A pid file locked (``flock``) for as long as its owner lives: a second owner cannot take
    it, and a stale file left by a dead owner is never mistaken for a live one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock and write our pid; ``False`` if a live process holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        """Remove the file and drop the lock; safe to call twice."""
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            os.close(self._fd)
            self._fd = None


def running_pid(path: Path) -> int | None:
    """The pid of the live process holding the :class:`PidLock` on ``path``, or ``None``
    (``-1`` when it is held but the file does not say by whom yet)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except (FileNotFoundError, OSError):
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 64).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def pid_in(path: Path) -> int | None:
    """The pid written in a plain pid file, or ``None`` (missing, unreadable, not a number)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def kill_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group led by ``pid``; a group that is gone (or not ours) is ignored."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class ForkedChild:
    """A child this process forked itself (not one :class:`subprocess.Popen` started): the part
    of Popen's interface its keepers use, with Popen's meanings (:attr:`returncode` negative
    for a signal; ``0`` when someone else reaped it)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self._reaped(os.WNOHANG)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code once it ends; :class:`subprocess.TimeoutExpired` after ``timeout``."""
        if timeout is None:
            while self.returncode is None:
                self._reaped(0)
            return self.returncode
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(WAIT_POLL)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _reaped(self, flags: int) -> None:
        try:
            pid, status = os.waitpid(self.pid, flags)
        except ChildProcessError:  # reaped elsewhere: its code is lost (as Popen says, 0)
            self.returncode = 0
        except InterruptedError:
            return
        else:
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)


WAIT_POLL = 0.01
"""How often :meth:`ForkedChild.wait` with a timeout looks whether the child ended."""


def tail(path: Path, lines: int = 1) -> str:
    """The last ``lines`` lines of a log, joined by `` | `` (for one-line error messages)."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) if text else "(empty log)"


__all__ = [
    "ForkedChild",
    "PidLock",
    "kill_group",
    "pid_in",
    "process_matches",
    "running_pid",
    "tail",
    "wait_pid",
]
