"""The mailbox's small shared types: positions, corrupt-line reports, deliveries, and how a record
is stamped and encoded.

A record is one JSON object on one line::

    {"seq": 17, "id": "3f9a1c22d0e4b7a5-17", "ts": 1717000000123, "kind": "codex", ...}

``seq`` is assigned by the writer (strictly increasing per file, continuing across rotations),
``id`` is unique across the swarm (the writer's random session nonce and the seq, unless the caller
brings its own id for an idempotent re-send), ``ts`` is the wall clock in milliseconds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import orjson

from codeswarm.core.errors import InvalidRecordError

MailRecord = dict[str, Any]
Box = Literal["inbox", "outbox"]

RESERVED_KEYS = frozenset({"seq", "spill"})
"""Keys a caller may not set: the writer owns ``seq``; ``spill`` marks a spilled record."""

HEADER_KEYS = ("seq", "id", "ts", "kind")


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where the next unread byte of a mailbox file is: ``segment`` numbers the file's rotations
    (0 is the first file ever written), ``offset`` is a byte offset inside that segment.

    Positions compare in stream order and serialise to ``{"segment": s, "offset": o}`` (orjson does
    this natively; :meth:`to_json` / :meth:`from_json` for everything else).
    """

    segment: int
    offset: int

    @staticmethod
    def start() -> Position:
        """The beginning of the stream."""
        return _START

    def to_json(self) -> dict[str, int]:
        return {"segment": self.segment, "offset": self.offset}

    @classmethod
    def from_json(cls, obj: object) -> Position:
        """Accepts ``{"segment": s, "offset": o}`` or ``[s, o]``; raises ValueError otherwise."""
        if isinstance(obj, Mapping):
            seg, off = obj.get("segment"), obj.get("offset")
        elif isinstance(obj, list | tuple) and len(obj) == 2:
            seg, off = obj
        else:
            raise ValueError(f"not a position: {obj!r}")
        if type(seg) is not int or type(off) is not int or seg < 0 or off < 0:
            raise ValueError(f"not a position: {obj!r}")
        return cls(seg, off)

    def __str__(self) -> str:
        return f"{self.segment}:{self.offset}"


_START = Position(0, 0)


@dataclass(frozen=True, slots=True)
class CorruptLine:
    """A complete line that is not a record (torn by a crash, garbage, or a spilled record whose
    side file is gone). Readers report it and skip it; ``position`` is where the line starts,
    ``end`` where the next line starts. ``text`` is the line (decoded with replacement, at most
    :data:`CORRUPT_TEXT_LIMIT` characters)."""

    position: Position
    text: str
    reason: str
    end: Position


CORRUPT_TEXT_LIMIT = 1000


class Delivery(NamedTuple):
    """One record as a transport delivers it: which agent's file, the record, and the position
    just after it (save that in a cursor once the record has been acted on)."""

    agent: str
    record: MailRecord
    position: Position


def new_nonce() -> str:
    """A random writer-session nonce (64 bits, hex): ids are ``<nonce>-<seq>``."""
    return os.urandom(8).hex()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def stamp(record: Mapping[str, Any], seq: int, nonce: str) -> MailRecord:
    """The record as written: ``seq``, ``id``, ``ts``, ``kind`` first, then the caller's fields.

    ``id`` and ``ts`` are kept when the caller set them. Raises :class:`InvalidRecordError` for a
    reserved key or a missing / non-string ``kind``.
    """
    if "seq" in record or "spill" in record:
        raise InvalidRecordError(
            f"a record may not set {sorted(RESERVED_KEYS & record.keys())}: the writer owns them"
        )
    kind = record.get("kind")
    if type(kind) is not str or not kind:
        raise InvalidRecordError(f"a record needs a non-empty string 'kind', got {kind!r}")
    rid = record.get("id")
    if rid is None:
        rid = f"{nonce}-{seq}"
    elif type(rid) is not str or not rid:
        raise InvalidRecordError(f"a record id must be a non-empty string, got {rid!r}")
    ts = record.get("ts")
    out: MailRecord = {"seq": seq, "id": rid, "ts": now_ms() if ts is None else ts, "kind": kind}
    for key, value in record.items():
        if key not in out:
            out[key] = value
    return out


def encode(record: MailRecord) -> bytes:
    """One line: compact JSON and ``\\n``. Raises :class:`InvalidRecordError` if not serialisable."""
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError as exc:
        raise InvalidRecordError(f"record {record.get('id')!r} is not JSON: {exc}") from exc
