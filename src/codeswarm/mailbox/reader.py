"""Reading a mailbox file from a position: sync, non-blocking, across rotations.

A reader holds one descriptor on the segment it is in and reads it with ``pread`` in big chunks
(one syscall per MiB, not per line). When it reaches the end of a segment it checks whether the
live name still points at that segment; if the writer rotated, it drains the old inode (every write
to it happened before the rename), then moves on to ``(segment + 1, 0)``. Nothing is lost or read
twice, wherever the reader was when the rotation happened.

What makes a reader stop with :class:`StreamBrokenError` instead of guessing: a rotated segment it
still needs was deleted, the file shrank (truncated), or the live file was replaced by something
that is not a rotation. And with :class:`MailboxPermissionError`: the file (checked at every open
and every read of the live segment) or its directory (at every open) is writable by others or
owned by another user, or the file is a symbolic link, not a regular file, or has a hard link.
"""

from __future__ import annotations

import collections
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from codeswarm.core.errors import MailboxClosedError, MailboxError, StreamBrokenError
from codeswarm.core.resource import Resource
from codeswarm.mailbox.framing import CorruptSink, corrupt_line, frame
from codeswarm.mailbox.layout import live_segment, segment_path
from codeswarm.mailbox.perms import check_private, check_stat, refuse_symlink
from codeswarm.mailbox.records import CorruptLine, MailRecord, Position
from codeswarm.mailbox.spill import SpillLoader
from codeswarm.mailbox.writer import MAX_RECORD

log = logging.getLogger("codeswarm.mailbox")

READ_CHUNK = 64 * 1024
"""One pread per this many bytes. Small enough that a batch of records stays young for the
garbage collector (big batches of live dicts cost more in GC than the syscalls they save)."""
CORRUPT_KEPT = 1000
"""How many corrupt-line reports :attr:`Reader.corrupt` keeps (the newest)."""


class Reader(Resource):
    """Reads complete records of the mailbox file ``path`` from ``position`` on.

    :meth:`read` returns what is available now; it never blocks and never returns a partial line
    (that waits for its newline). Corrupt lines are skipped, kept in :attr:`corrupt` (the newest
    :data:`CORRUPT_KEPT`) and passed to ``on_corrupt``. ``max_line`` bounds a line the reader will
    buffer: a longer one is reported and skipped (writers never write one: they spill).
    """

    def __init__(
        self,
        path: Path,
        position: Position | None = None,
        *,
        on_corrupt: CorruptSink | None = None,
        max_line: int = MAX_RECORD,
    ) -> None:
        self.path = Path(path)
        self.max_line = max_line
        self.corrupt: collections.deque[CorruptLine] = collections.deque(maxlen=CORRUPT_KEPT)
        self._on_corrupt = on_corrupt
        self._spill = SpillLoader(self.path.parent)
        pos = position or Position.start()
        self._segment = pos.segment
        self._base = pos.offset  # file offset of the first unconsumed byte (a line start)
        self._read_off = pos.offset  # file offset read up to (= _base + len(_pending))
        self._pending = b""
        self._skipping = False  # inside an over-long line: discard up to its newline
        self._fd = -1
        self._ino = 0
        self._sealed = False
        self._backlog = False
        self._closed = False

    @property
    def position(self) -> Position:
        """Where the next unread line starts (past every record and corrupt line returned)."""
        return Position(self._segment, self._base)

    @property
    def has_backlog(self) -> bool:
        """True when the last :meth:`read` stopped at ``max_bytes`` with more data waiting."""
        return self._backlog

    def read(self, max_bytes: int | None = None) -> list[tuple[MailRecord, Position]]:
        """The complete records available now, each with the position just after it.

        ``max_bytes`` caps the bytes read in this call (then :attr:`has_backlog` is True), so one
        busy file cannot starve others read in the same loop.
        """
        if self._closed:
            raise MailboxClosedError(f"{self.path}: reader is closed")
        out: list[tuple[MailRecord, Position]] = []
        budget = max_bytes if max_bytes is not None else -1
        self._backlog = False
        while True:
            if self._fd < 0 and not self._open():
                return out
            if not self._sealed:
                try:
                    st = os.lstat(self.path)
                except FileNotFoundError:
                    st = None
                if st is not None and st.st_ino == self._ino:
                    # checked on every read, not only at open: a file that became writable by
                    # others (or another user's) since is refused before anything more is read
                    check_stat(self.path, st)
                    if st.st_size < self._read_off:
                        raise StreamBrokenError(
                            f"{self.path} shrank to {st.st_size} bytes under a reader at"
                            f" {self._read_off}: truncated outside codeswarm"
                        )
                    if st.st_size > self._read_off:
                        budget = self._drain(out, budget)
                        self._backlog = budget == 0
                    return out
                self._check_rotated()
            budget = self._drain(out, budget)
            if budget == 0:
                self._backlog = True
                return out
            self._next_segment()

    def close(self) -> None:
        """Close the descriptor. Safe to call twice."""
        self._closed = True
        self._close_fd()

    def __repr__(self) -> str:
        return f"<Reader {self.path} at {self.position}>"

    # --- internals -------------------------------------------------------------------------------

    def _drain(self, out: list[tuple[MailRecord, Position]], budget: int) -> int:
        """Read the segment to its end (or until ``budget`` bytes; -1 = unlimited); frame lines."""
        fd, seg = self._fd, self._segment
        while budget != 0:
            want = READ_CHUNK if budget < 0 else min(READ_CHUNK, budget)
            data = os.pread(fd, want, self._read_off)
            if not data:
                break
            self._read_off += len(data)
            if budget > 0:
                budget -= len(data)
            if self._skipping:
                nl = data.find(b"\n")
                if nl < 0:
                    self._base += len(data)
                    continue
                self._base += nl + 1
                data = data[nl + 1 :]
                self._skipping = False
            buf = self._pending + data if self._pending else data
            used = frame(buf, self._base, seg, out, self._report, self._spill)
            self._base += used
            self._pending = buf[used:]
            if len(self._pending) > self.max_line:
                self._report(
                    corrupt_line(
                        self._pending,
                        seg,
                        self._base,
                        self._base + len(self._pending),
                        f"line longer than {self.max_line} bytes; skipped",
                    )
                )
                self._base += len(self._pending)
                self._pending = b""
                self._skipping = True
            if len(data) < want:
                break  # a short read of a regular file: its end, for now
        return budget

    def _report(self, bad: CorruptLine) -> None:
        log.warning("%s: corrupt line at %s skipped: %s", self.path, bad.position, bad.reason)
        self.corrupt.append(bad)
        if self._on_corrupt is not None:
            self._on_corrupt(bad)

    def _open(self) -> bool:
        """Open the current segment; False if it does not exist yet (the writer has not started)."""
        k = self._segment
        live = live_segment(self.path)
        if k > live:
            raise StreamBrokenError(
                f"{self.path}: position {self.position} is past the stream's end"
            )
        rotated = segment_path(self.path, k)
        fd = -1
        sealed = True
        if k < live:
            fd = _open_ro(rotated)
            if fd < 0:
                raise StreamBrokenError(f"{self.path}: segment {rotated.name} is gone (deleted?)")
        else:
            fd = _open_ro(self.path)
            if fd < 0:
                fd = _open_ro(rotated)  # rotated just now, before its successor was created
                if fd < 0:
                    if self._base > 0:
                        raise StreamBrokenError(f"{self.path} is gone (deleted?)")
                    return False
            else:
                # We opened the live file after seeing segment k as live: it is segment k, unless
                # k was rotated in between (then `rotated` exists and is another inode).
                try:
                    rst = os.stat(rotated)
                except FileNotFoundError:
                    sealed = False
                else:
                    if rst.st_ino != os.fstat(fd).st_ino:
                        os.close(fd)
                        fd = _open_ro(rotated)
        st = os.fstat(fd)
        try:
            check_private(self.path.parent)
            check_stat(self.path, st)
            if st.st_size < self._base:
                raise StreamBrokenError(
                    f"{self.path}: segment {k} has {st.st_size} bytes, less than the reader's"
                    f" position {self.position}: replaced or truncated outside codeswarm"
                )
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._ino, self._sealed = fd, st.st_ino, sealed
        return True

    def _check_rotated(self) -> None:
        """The live name no longer points at our inode: make sure that is a rotation."""
        try:
            rst = os.stat(segment_path(self.path, self._segment))
        except FileNotFoundError:
            rst = None
        if rst is None or rst.st_ino != self._ino:
            raise StreamBrokenError(
                f"{self.path} was replaced or deleted outside codeswarm while being read"
                f" (at {self.position})"
            )
        self._sealed = True

    def _next_segment(self) -> None:
        """The sealed segment is drained: report a trailing partial line, move to the next."""
        if self._pending:
            self._report(
                corrupt_line(
                    self._pending,
                    self._segment,
                    self._base,
                    self._base + len(self._pending),
                    "partial line at the end of a rotated segment",
                )
            )
        self._close_fd()
        self._segment += 1
        self._base = self._read_off = 0
        self._pending = b""
        self._skipping = False
        self._sealed = False

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def records_once(path: Path | str) -> Iterator[MailRecord]:
    """The records of the mailbox file ``path`` (rotated segments, then the live file), in
    order, each once: a record written again after a worker restart has a ``seq`` already seen.
    Lines that are not records are skipped. A missing file yields nothing."""
    reader = Reader(Path(path))
    last = 0
    try:
        while batch := reader.read():
            for record, _ in batch:
                if not isinstance(record, dict):
                    continue
                seq = record.get("seq")
                if isinstance(seq, int):
                    if seq <= last:
                        continue
                    last = seq
                yield record
    finally:
        reader.close()


def _open_ro(path: Path) -> int:
    """A read-only descriptor on ``path``, or -1 if it does not exist. A symbolic link is refused
    (:class:`MailboxPermissionError`), never followed; ``O_NONBLOCK`` so that a FIFO planted there
    cannot hang the reader before :func:`check_stat` refuses it."""
    try:
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return -1
    except OSError as exc:
        refuse_symlink(path, exc)
        raise MailboxError(f"cannot open {path} for reading: {exc.strerror}") from exc
