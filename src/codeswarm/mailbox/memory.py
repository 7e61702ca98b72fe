"""An in-memory mailbox transport for tests: the same bytes, lines and positions as the files,
kept in a :class:`MemoryStore` that outlives transports (a new transport on the same store is a
restarted process). It passes the same conformance suite as :class:`LocalTransport`.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Mapping
from typing import Any, Self

from codeswarm.core.errors import MailboxClosedError, StreamBrokenError
from codeswarm.mailbox.follow import GroupCorruptSink
from codeswarm.mailbox.framing import corrupt_line, frame
from codeswarm.mailbox.layout import check_name
from codeswarm.mailbox.records import (
    Box,
    CorruptLine,
    Delivery,
    MailRecord,
    Position,
    encode,
    new_nonce,
    stamp,
)
from codeswarm.mailbox.transport import start_positions


class MemoryStore:
    """The mailbox files (as lists of segments) and cursors of an in-memory run."""

    def __init__(self) -> None:
        self.files: dict[tuple[Box, str], list[bytearray]] = {}
        self.last_seq: dict[tuple[Box, str], int] = {}
        self.cursors: dict[tuple[str, Box, str], Position] = {}
        self._waiters: set[asyncio.Event] = set()

    def segments(self, box: Box, agent: str) -> list[bytearray]:
        """The segments of ``agent``'s ``box`` (created empty on first use)."""
        return self.files.setdefault((box, check_name(agent)), [bytearray()])

    def write_raw(self, box: Box, agent: str, data: bytes) -> None:
        """Append raw bytes, bypassing the writer: a torn or corrupt line, for tests."""
        self.segments(box, agent)[-1].extend(data)
        self.notify()

    def rotate(self, box: Box, agent: str) -> int | None:
        segments = self.segments(box, agent)
        if not segments[-1]:
            return None
        segments.append(bytearray())
        self.notify()
        return len(segments) - 2

    def agents(self, box: Box) -> list[str]:
        return sorted(agent for (b, agent) in self.files if b == box)

    def notify(self) -> None:
        for event in self._waiters:
            event.set()


class MemoryTransport:
    """A :class:`~codeswarm.mailbox.Transport` over a :class:`MemoryStore`."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()
        self._nonce = new_nonce()
        self._streams: list[_MemoryStream] = []
        self._closed = False

    async def append(self, box: Box, agent: str, record: Mapping[str, Any]) -> MailRecord:
        self._check_open()
        last = self.store.segments(box, agent)[-1]
        key = (box, agent)
        seq = self.store.last_seq.get(key, 0) + 1
        rec = stamp(record, seq, self._nonce)
        line = encode(rec)
        if last and last[-1:] != b"\n":
            last.extend(b"\n")  # end a torn line, as Writer.open does
        last.extend(line)
        self.store.last_seq[key] = seq
        self.store.notify()
        return rec

    def follow(
        self,
        box: Box,
        agent: str,
        position: Position | None = None,
        *,
        on_corrupt: GroupCorruptSink | None = None,
    ) -> _MemoryStream:
        check_name(agent)
        start = position or Position.start()
        return self._stream(box, [agent], lambda _agent: start, on_corrupt)

    def follow_all(
        self,
        box: Box,
        *,
        positions: Mapping[str, Position] | None = None,
        consumer: str | None = None,
        on_corrupt: GroupCorruptSink | None = None,
    ) -> _MemoryStream:
        cursors = self.store.cursors
        start = start_positions(
            positions, consumer, lambda c, a: cursors.get((c, box, a), Position.start())
        )
        return self._stream(box, None, start, on_corrupt)

    async def rotate(self, box: Box, agent: str) -> int | None:
        self._check_open()
        return self.store.rotate(box, agent)

    async def agents(self, box: Box) -> list[str]:
        return self.store.agents(box)

    async def ends(self, box: Box) -> dict[str, Position]:
        out = {}
        for agent in self.store.agents(box):
            segments = self.store.segments(box, agent)
            last = segments[-1]
            out[agent] = Position(len(segments) - 1, last.rfind(b"\n") + 1)
        return out

    async def load_cursor(self, consumer: str, box: Box, agent: str) -> Position:
        return self.store.cursors.get((consumer, box, agent), Position.start())

    async def save_cursor(self, consumer: str, box: Box, agent: str, position: Position) -> None:
        self.store.cursors[(consumer, box, agent)] = position

    async def aclose(self) -> None:
        self._closed = True
        for stream in self._streams:
            await stream.aclose()
        self._streams.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise MailboxClosedError("memory transport is closed")

    def _stream(
        self,
        box: Box,
        agents: list[str] | None,
        start: Callable[[str], Position],
        on_corrupt: GroupCorruptSink | None,
    ) -> _MemoryStream:
        self._check_open()
        stream = _MemoryStream(self.store, box, agents, start, on_corrupt)
        self._streams.append(stream)
        return stream


class _MemoryStream:
    def __init__(
        self,
        store: MemoryStore,
        box: Box,
        agents: list[str] | None,
        start: Callable[[str], Position],
        on_corrupt: GroupCorruptSink | None,
    ) -> None:
        self._store = store
        self._box = box
        self._agents = agents
        self._start = start
        self._on_corrupt = on_corrupt
        self._positions: dict[str, Position] = {}
        self._ready: collections.deque[Delivery] = collections.deque()
        self._event = asyncio.Event()
        self._closed = False
        store._waiters.add(self._event)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Delivery:
        while not self._ready:
            if self._closed:
                raise StopAsyncIteration
            self._event.clear()
            self._scan()
            if not self._ready:
                await self._event.wait()
        if self._closed:
            raise StopAsyncIteration
        return self._ready.popleft()

    async def aclose(self) -> None:
        self._closed = True
        self._store._waiters.discard(self._event)
        self._event.set()

    def _scan(self) -> None:
        agents = self._agents if self._agents is not None else self._store.agents(self._box)
        for agent in agents:
            segments = self._store.files.get((self._box, agent))
            if segments is None:
                continue
            pos = self._positions.get(agent)
            if pos is None:
                pos = self._positions[agent] = self._start(agent)
            self._positions[agent] = self._read(agent, segments, pos)

    def _read(self, agent: str, segments: list[bytearray], pos: Position) -> Position:
        seg, off = pos.segment, pos.offset
        if seg >= len(segments) or off > len(segments[seg]):
            raise StreamBrokenError(f"memory {self._box}/{agent}: position {pos} is past the end")

        def sink(bad: CorruptLine) -> None:
            if self._on_corrupt is not None:
                self._on_corrupt(agent, bad)

        while True:
            data = bytes(segments[seg][off:])
            out: list[tuple[MailRecord, Position]] = []
            off += frame(data, off, seg, out, sink)
            self._ready.extend(Delivery(agent, record, p) for record, p in out)
            if seg == len(segments) - 1:
                return Position(seg, off)
            rest = bytes(segments[seg][off:])
            if rest:
                sink(
                    corrupt_line(
                        rest,
                        seg,
                        off,
                        off + len(rest),
                        "partial line at the end of a rotated segment",
                    )
                )
            seg, off = seg + 1, 0
