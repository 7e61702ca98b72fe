"""The writer lock of a mailbox file: ``<name>.lock`` beside it, locked with ``flock(2)``.

A lock *file* rather than the data file itself, because rotation renames the data file: a lock on
its inode would be a lock on the old segment. ``flock`` works across nodes on NFS (Linux maps it to
POSIX locks) and on Lustre mounted with ``-o flock``; where the filesystem refuses locks entirely,
an exclusive writer carries on without the guard (with a warning) and a shared-append writer
refuses, because without the lock two senders could write the same seq.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import time
from pathlib import Path

from codeswarm.core.errors import MailboxError, WriterBusyError
from codeswarm.mailbox.layout import lock_path
from codeswarm.mailbox.perms import FILE_MODE, check_stat, refuse_symlink

log = logging.getLogger("codeswarm.mailbox")

_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}
_BACKOFF_MIN = 0.0005
_BACKOFF_MAX = 0.02


class WriteLock:
    """An open lock file. Not thread-safe; one per :class:`~codeswarm.mailbox.Writer`."""

    def __init__(self, data_path: Path) -> None:
        self.path = lock_path(data_path)
        self._fd = -1
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, FILE_MODE)
        except OSError as exc:
            refuse_symlink(self.path, exc)
            raise MailboxError(f"cannot open the lock file {self.path}: {exc.strerror}") from exc
        try:
            check_stat(self.path, os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.supported = True

    def hold_exclusive(self) -> None:
        """Take the lock for the writer's lifetime and record ``pid@host`` in the file.

        Raises :class:`WriterBusyError` naming the holder if another writer has it.
        """
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WriterBusyError(
                f"{self.path.with_suffix('')} already has a writer ({self.holder() or 'unknown'});"
                f" a mailbox file has one writer at a time"
            ) from None
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise MailboxError(f"cannot lock {self.path}: {exc.strerror}") from exc
            self.supported = False
            log.warning(
                "%s: the filesystem does not support flock; single-writer unguarded", self.path
            )
            return
        me = f"{os.getpid()}@{socket.gethostname()}".encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, me, 0)

    def acquire(self, timeout: float) -> None:
        """Take the lock for one append (wait up to ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        delay = _BACKOFF_MIN
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            except OSError as exc:
                raise MailboxError(
                    f"cannot lock {self.path}: {exc.strerror}; several processes appending to one"
                    f" file need flock (on Lustre, mount with -o flock)"
                ) from exc
            if time.monotonic() >= deadline:
                raise WriterBusyError(
                    f"timed out after {timeout:g}s waiting for the write lock {self.path}"
                    f" (held by {self.holder() or 'another sender'})"
                )
            time.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def holder(self) -> str:
        try:
            return os.pread(self._fd, 200, 0).decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the description releases a held flock
            self._fd = -1
