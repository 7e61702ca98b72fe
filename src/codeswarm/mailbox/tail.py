"""Reading a mailbox file backwards: its records from the newest to the oldest.

For a process that wants to know how a stream *ended* (a restarted worker asking its own outbox
which turn it started last) without reading it from the start. The live file is read from its end
in chunks, then each rotated segment from the newest; a trailing partial line (a writer that died
mid-``write``) is not a record yet and is left out. Corrupt lines are skipped, spilled records are
loaded (one whose side file is gone is skipped). Files are opened as :class:`~.reader.Reader`
opens them: a symbolic link is refused, never followed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import orjson

from codeswarm.core.errors import MailboxError, SpillError
from codeswarm.mailbox.layout import rotated_segments, segment_path
from codeswarm.mailbox.perms import check_stat, refuse_symlink
from codeswarm.mailbox.records import MailRecord
from codeswarm.mailbox.spill import SpillLoader

CHUNK = 64 * 1024
"""One ``pread`` per this many bytes."""

LineFilter = Callable[[bytes], bool]


def records_backward(
    path: Path, *, keep: LineFilter | None = None
) -> Generator[MailRecord, None, None]:
    """The records of the mailbox file ``path`` (live file, then rotated segments), newest first.

    ``keep(data)``, when given, sees raw bytes first and only lines it accepts are parsed: a cheap
    filter for a caller that looks for a few kinds among many records. It must be a test for
    something inside a line (a substring test): it is also asked about whole chunks of lines, and
    a chunk it refuses is skipped without being split into lines.
    A missing file yields nothing. Raises :class:`MailboxPermissionError` for a file that is not
    a private regular file of ours, :class:`MailboxError` when one cannot be read.
    """
    path = Path(path)
    spill = SpillLoader(path.parent)
    files = [path, *(segment_path(path, k) for k in reversed(rotated_segments(path)))]
    for file in files:
        for line in _lines_backward(file, keep):
            if not line or (keep is not None and not keep(line)):
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if type(record) is not dict or type(record.get("seq")) is not int:
                continue
            if "spill" in record:
                try:
                    record = spill(record)
                except SpillError:
                    continue
            yield record


def _lines_backward(path: Path, keep: LineFilter | None) -> Iterator[bytes]:
    """The complete lines of ``path`` (without their newline), last first; lines of a chunk that
    ``keep`` refuses as a whole are left out."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    except OSError as exc:
        refuse_symlink(path, exc)
        raise MailboxError(f"cannot open {path} for reading: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        check_stat(path, st)
        pos, carry, ended = st.st_size, b"", False
        while pos > 0:
            start = max(0, pos - CHUNK)
            buf = os.pread(fd, pos - start, start) + carry
            pos = start
            if not ended:  # still inside the trailing partial line: find the last newline
                nl = buf.rfind(b"\n")
                if nl < 0:
                    carry = buf
                    continue
                buf = buf[:nl]
                ended = True
            first = buf.find(b"\n")
            if first < 0:
                carry = buf  # one line longer than the chunk: keep reading back
                continue
            carry = buf[:first]  # possibly cut by the chunk: completed by the next read back
            rest = buf[first + 1 :]
            if keep is None or keep(rest):
                yield from reversed(rest.split(b"\n"))
        if ended and carry:
            yield carry  # the file's first line
    finally:
        os.close(fd)
