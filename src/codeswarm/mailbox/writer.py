"""Appending records to a mailbox file: one ``write(2)`` per record on an ``O_APPEND`` descriptor.

Two ways to own a file:

* **exclusive** (``lock=False``, the outbox): this writer is the file's only writer for its whole
  life, enforced by an ``flock`` on ``<file>.lock`` (a second writer gets :class:`WriterBusyError`,
  which is what you want when a requeued Slurm task meets its predecessor still running).
* **shared** (``lock=True``, an inbox that the router and CLI senders all append to): every append
  takes the lock, catches up with what other senders wrote (the last seq, a rotation), writes, and
  lets go. Seq stays unique and strictly increasing across all senders.

Recovery: ``open`` finds the last complete record (in the live file, else the newest rotated
segment) and continues its seq. If the file ends in a partial line (a writer died mid-``write``),
``open`` ends that line with a newline first, so readers report it as one corrupt line and move on
instead of waiting for it forever.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from codeswarm.core.atomic import fsync_dir
from codeswarm.core.errors import (
    MailboxClosedError,
    MailboxError,
    MailboxInputError,
    RecordTooLargeError,
)
from codeswarm.core.resource import Resource
from codeswarm.mailbox.layout import live_segment, segment_path
from codeswarm.mailbox.locking import WriteLock
from codeswarm.mailbox.perms import FILE_MODE, check_private, check_stat, refuse_symlink
from codeswarm.mailbox.records import MailRecord, Position, encode, new_nonce, stamp
from codeswarm.mailbox.spill import pointer_line, write_spill

MAX_LINE = 256 * 1024
"""Lines longer than this (newline included) are spilled to a side file."""
MAX_RECORD = 64 * 1024 * 1024
"""Records larger than this are refused (:class:`RecordTooLargeError`), spilled or not."""
ROTATE_BYTES = 64 * 1024 * 1024
"""The live file is rotated once an append takes it to this size."""
LOCK_TIMEOUT = 10.0
"""How long a shared-append writer waits for the lock before giving up."""
MIN_LINE = 1024

_TAIL_WINDOW = 64 * 1024


class Writer(Resource):
    """The writing end of one mailbox file. Sync (appends take microseconds); not thread-safe.

    ``fsync`` (default off): a process that dies, even by SIGKILL, loses nothing that ``write``
    returned for, because the data is already in the kernel's page cache; only a crash of the
    writer's *node* can lose the last records, and then the worker died with them and is restarted
    from its own state. Turning it on costs a disk flush per record (milliseconds on network
    filesystems), which the router's per-token relay cannot afford.
    """

    def __init__(
        self,
        path: Path,
        *,
        shared: bool,
        fsync: bool,
        max_line: int,
        max_record: int,
        rotate_bytes: int | None,
        lock_timeout: float,
    ) -> None:
        if max_line < MIN_LINE:
            raise MailboxInputError(f"max_line must be at least {MIN_LINE}")
        self.path = path
        self.shared = shared
        self.fsync = fsync
        self.max_line = max_line
        self.max_record = max_record
        self.rotate_bytes = rotate_bytes
        self.lock_timeout = lock_timeout
        self._nonce = new_nonce()
        self._fd = -1
        self._lock: WriteLock | None = None
        self._seq = 0
        self._segment = 0
        self._size = 0
        self._ino = 0
        self._needs_newline = False

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        lock: bool = False,
        fsync: bool = False,
        max_line: int = MAX_LINE,
        max_record: int = MAX_RECORD,
        rotate_bytes: int | None = ROTATE_BYTES,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> Writer:
        """Open (creating it 0600 if needed) the mailbox file ``path`` for appending.

        ``lock=False``: this writer is the only one (see the module doc); ``lock=True``: several
        processes may append. ``rotate_bytes=None`` turns automatic rotation off.

        Raises :class:`MailboxPermissionError` if the directory or file is not private, or the
        file is a symbolic link, not a regular file, or has a second name (a hard link);
        :class:`WriterBusyError` if another writer owns the file.
        """
        w = cls(
            Path(path),
            shared=lock,
            fsync=fsync,
            max_line=max_line,
            max_record=max_record,
            rotate_bytes=rotate_bytes,
            lock_timeout=lock_timeout,
        )
        check_private(w.path.parent)
        w._lock = WriteLock(w.path)
        try:
            if lock:
                w._lock.acquire(lock_timeout)
            else:
                w._lock.hold_exclusive()
            try:
                w._reopen()
                w._catch_up(force=True)
                if w._needs_newline:
                    w._write(b"")
            finally:
                if lock:
                    w._lock.release()
        except BaseException:
            w.close()
            raise
        return w

    # --- state -----------------------------------------------------------------------------------

    @property
    def seq(self) -> int:
        """The seq of the last record written to this file (by anyone); 0 before the first."""
        return self._seq

    @property
    def position(self) -> Position:
        """The end of what this writer knows is written: where the next record will start."""
        return Position(self._segment, self._size)

    @property
    def closed(self) -> bool:
        return self._fd < 0 and self._lock is None

    def close(self) -> None:
        """Close the file and let go of the lock. Safe to call twice."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __repr__(self) -> str:
        return f"<Writer {self.path} seq={self._seq}{' shared' if self.shared else ''}>"

    # --- appending -------------------------------------------------------------------------------

    def append(self, kind: str, **fields: Any) -> MailRecord:
        """Append ``{"seq", "id", "ts", "kind": kind, **fields}``; returns the record written."""
        return self.append_record({"kind": kind, **fields})

    def append_record(self, record: Mapping[str, Any]) -> MailRecord:
        """Append the caller's record; ``seq`` is assigned, ``id`` and ``ts`` filled if missing.

        The line is written with one ``write(2)``, or spilled (see :mod:`.spill`) if longer than
        ``max_line``. Raises :class:`InvalidRecordError` (reserved key, not JSON),
        :class:`RecordTooLargeError`, :class:`MailboxError` for an I/O failure (nothing torn is
        left for readers to wait on: the next append starts a fresh line).
        """
        if self._fd < 0:
            raise MailboxClosedError(f"{self.path}: writer is closed")
        if not self.shared:
            return self._append(record)
        assert self._lock is not None
        self._lock.acquire(self.lock_timeout)
        try:
            self._catch_up()
            return self._append(record)
        finally:
            self._lock.release()

    def rotate(self) -> int | None:
        """Seal the live file as the next numbered segment and continue in a fresh file.

        Returns the sealed segment's number, or None if the live file was empty (nothing to do).
        Readers positioned anywhere lose and repeat nothing (see :class:`Reader`).
        """
        if self._fd < 0:
            raise MailboxClosedError(f"{self.path}: writer is closed")
        if not self.shared:
            return self._rotate()
        assert self._lock is not None
        self._lock.acquire(self.lock_timeout)
        try:
            self._catch_up()
            return self._rotate()
        finally:
            self._lock.release()

    def _append(self, record: Mapping[str, Any]) -> MailRecord:
        seq = self._seq + 1
        rec = stamp(record, seq, self._nonce)
        line = encode(rec)
        if len(line) > self.max_line:
            if len(line) > self.max_record:
                raise RecordTooLargeError(self.path, len(line), self.max_record)
            try:
                rel = write_spill(self.path, rec, line[:-1], fsync=self.fsync)
            except OSError as exc:
                raise MailboxError(f"{self.path}: cannot spill record seq {seq}: {exc}") from exc
            size = len(line) - 1
            line = pointer_line(rec, rel, size)
            if len(line) > self.max_line:  # long keys among the small fields: header only
                line = pointer_line({k: rec[k] for k in ("seq", "id", "ts", "kind")}, rel, size)
        self._write(line)
        self._seq = seq
        if self.rotate_bytes is not None and self._size >= self.rotate_bytes:
            self._rotate()
        return rec

    def _write(self, line: bytes) -> None:
        data = b"\n" + line if self._needs_newline else line
        view = memoryview(data)
        written = 0
        try:
            while written < len(data):
                # O_APPEND: each write lands at the end. A short write is only possible on a full
                # disk or a signal; we are the only writer (exclusive, or holding the lock), so
                # finishing the rest keeps the line contiguous.
                written += os.write(self._fd, view[written:])
            if self.fsync:
                os.fsync(self._fd)
        except OSError as exc:
            self._size += written
            if written:
                self._needs_newline = data[written - 1 : written] != b"\n"
            raise MailboxError(f"{self.path}: write failed: {exc.strerror or exc}") from exc
        self._size += written
        self._needs_newline = False

    def _rotate(self) -> int | None:
        if self._size == 0:
            return None
        sealed = live_segment(self.path)
        target = segment_path(self.path, sealed)
        try:
            os.rename(self.path, target)
            if self.fsync:
                fsync_dir(self.path.parent)
        except OSError as exc:
            raise MailboxError(f"{self.path}: cannot rotate to {target.name}: {exc}") from exc
        self._reopen()
        self._segment = sealed + 1
        return sealed

    # --- recovery --------------------------------------------------------------------------------

    def _reopen(self) -> None:
        """(Re)open the live file: create it 0600 if missing; refuse a symbolic link at its name
        (never followed) and anything that is not a private regular file of ours."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, FILE_MODE)
        except OSError as exc:
            refuse_symlink(self.path, exc)
            raise MailboxError(f"cannot open {self.path} for appending: {exc.strerror}") from exc
        st = os.fstat(fd)
        try:
            check_stat(self.path, st)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._ino = st.st_ino
        self._size = st.st_size
        self._segment = live_segment(self.path)

    def _catch_up(self, *, force: bool = False) -> None:
        """Learn the last seq and whether the file ends mid-line. For a shared writer, called
        under the lock before each append: other senders may have written or rotated."""
        if self.shared and not force:
            try:
                live_ino = os.stat(self.path).st_ino
            except FileNotFoundError:
                live_ino = -1
            if live_ino != self._ino:
                self._reopen()  # another sender rotated (or the live file is new)
                self._size = -1  # force the scan below
            st = os.fstat(self._fd)
            check_stat(self.path, st)  # still ours and private (a chmod since the last append)
            if st.st_size == self._size:
                return  # nobody else wrote since our last append
            self._size = st.st_size
        size = self._size
        self._needs_newline = size > 0 and os.pread(self._fd, 1, size - 1) != b"\n"
        seq = _last_seq(self._fd, size)
        if seq is None:
            for segment in range(self._segment - 1, -1, -1):
                seq = _last_seq_of(segment_path(self.path, segment))
                if seq is not None:
                    break
        self._seq = max(self._seq, seq or 0)


def last_record(path: Path) -> MailRecord | None:
    """The last complete, valid record of the mailbox file ``path`` (its live segment), or
    ``None`` (missing or empty). Reads only the file's tail."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except (FileNotFoundError, OSError):
        return None
    try:
        return _last_record(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def _last_seq_of(path: Path) -> int | None:
    rec = last_record(path)
    return None if rec is None else int(rec["seq"])


def _last_seq(fd: int, size: int) -> int | None:
    rec = _last_record(fd, size)
    return None if rec is None else int(rec["seq"])


def _last_record(fd: int, size: int) -> MailRecord | None:
    """The last complete, valid record among the first ``size`` bytes of ``fd``."""
    window = _TAIL_WINDOW
    while size > 0:
        start = max(0, size - window)
        lines = os.pread(fd, size - start, start).split(b"\n")
        lines.pop()  # after the last newline: a partial line, or nothing
        if start > 0 and lines:
            lines.pop(0)  # cut by the window
        for line in reversed(lines):
            if not line:
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if type(rec) is dict and type(rec.get("seq")) is int:
                return rec
        if start == 0:
            return None
        window *= 4
    return None
