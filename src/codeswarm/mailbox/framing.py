"""Turning bytes into records: one loop shared by every reader (files, memory, the ssh serve).

A line is a record when it is a JSON object with an integer ``seq``. An empty line is skipped
silently (a writer that recovers from a torn line may leave none, but a person editing by hand
might); anything else complete is reported as a :class:`CorruptLine` and skipped. Bytes after the
last newline are a partial line: not consumed, waited for.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from codeswarm.core.errors import SpillError
from codeswarm.mailbox.records import CORRUPT_TEXT_LIMIT, CorruptLine, MailRecord, Position

SpillResolver = Callable[[MailRecord], MailRecord]
CorruptSink = Callable[[CorruptLine], None]


def frame(
    data: bytes,
    base: int,
    segment: int,
    out: list[tuple[MailRecord, Position]],
    on_corrupt: CorruptSink,
    resolve_spill: SpillResolver | None = None,
) -> int:
    """Parse the complete lines of ``data`` (which starts at byte ``base`` of ``segment``).

    Appends ``(record, position_after)`` to ``out``, reports bad lines to ``on_corrupt``, and
    returns how many bytes of ``data`` were consumed (through its last newline).
    """
    lines = data.split(b"\n")
    if len(lines) == 1:
        return 0
    lines.pop()  # the partial tail (possibly empty)
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    append = out.append
    off = base
    for line in lines:
        end = off + len(line) + 1
        if line:
            try:
                rec = loads(line)
            except decode_error as exc:
                on_corrupt(corrupt_line(line, segment, off, end, f"not JSON: {exc}"))
                off = end
                continue
            if type(rec) is dict and type(rec.get("seq")) is int:
                if resolve_spill is not None and "spill" in rec:
                    try:
                        rec = resolve_spill(rec)
                    except SpillError as exc:
                        on_corrupt(corrupt_line(line, segment, off, end, str(exc)))
                        off = end
                        continue
                append((rec, Position(segment, end)))
            else:
                why = "no integer seq" if type(rec) is dict else "not a JSON object"
                on_corrupt(corrupt_line(line, segment, off, end, why))
        off = end
    return off - base


def corrupt_line(line: bytes, segment: int, start: int, end: int, reason: str) -> CorruptLine:
    text = line[: CORRUPT_TEXT_LIMIT * 4].decode("utf-8", "replace")[:CORRUPT_TEXT_LIMIT]
    return CorruptLine(Position(segment, start), text, reason, Position(segment, end))
