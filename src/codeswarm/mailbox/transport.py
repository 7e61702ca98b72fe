"""How the worker and the router reach a mailbox: a tiny interface, the local-files implementation
beside it (and :mod:`.memory` for tests).

The interface is record-and-position shaped, never file shaped, which is what lets
:class:`~codeswarm.mailbox.SshTransport` (:mod:`.ssh`) run the follower on the far side of one ssh
connection and implement it unchanged: appends go up the connection as records, deliveries come
down with their positions, cursors are saved where the consumer says.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Protocol, Self

from codeswarm.core.errors import MailboxClosedError
from codeswarm.mailbox.cursor import Cursor
from codeswarm.mailbox.follow import (
    POLL_INTERVAL,
    FollowerGroup,
    GroupCorruptSink,
    Mode,
    PositionFor,
)
from codeswarm.mailbox.layout import Layout
from codeswarm.mailbox.reader import Reader
from codeswarm.mailbox.records import Box, Delivery, MailRecord, Position
from codeswarm.mailbox.writer import MAX_LINE, ROTATE_BYTES, Writer

_SHARED_BOXES: tuple[Box, ...] = ("inbox",)


class RecordStream(Protocol):
    """Deliveries as they arrive, until :meth:`aclose`."""

    def __aiter__(self) -> Self: ...

    async def __anext__(self) -> Delivery: ...

    async def aclose(self) -> None:
        """Stop; a waiting ``__anext__`` ends the iteration. Safe to call twice."""
        ...


class Transport(Protocol):
    """What the worker, the router and the CLI need from a mailbox.

    Delivery is at-least-once: a consumer acts on a delivery, then saves its position with
    :meth:`save_cursor`; after a crash it resumes from :meth:`load_cursor` and may see the records
    after the saved position again (dedupe on ``(agent, seq)`` or ``id``). Records of one file are
    delivered in order; corrupt lines are reported to ``on_corrupt(agent, line)`` and skipped.
    """

    async def append(self, box: Box, agent: str, record: Mapping[str, Any]) -> MailRecord:
        """Append ``record`` (it needs a ``kind``) to ``agent``'s ``box``; returns it as written,
        with ``seq``, ``id`` and ``ts``."""
        ...

    def follow(
        self,
        box: Box,
        agent: str,
        position: Position | None = None,
        *,
        on_corrupt: GroupCorruptSink | None = None,
    ) -> RecordStream:
        """Deliveries of ``agent``'s ``box`` from ``position`` (default: the start)."""
        ...

    def follow_all(
        self,
        box: Box,
        *,
        positions: Mapping[str, Position] | None = None,
        consumer: str | None = None,
        on_corrupt: GroupCorruptSink | None = None,
    ) -> RecordStream:
        """Deliveries of every agent's ``box``, including agents that appear later. Each starts
        at ``positions[agent]``, else at ``consumer``'s saved cursor, else at the start."""
        ...

    async def rotate(self, box: Box, agent: str) -> int | None:
        """Seal ``agent``'s live ``box`` file as a segment (None if it was empty)."""
        ...

    async def agents(self, box: Box) -> list[str]:
        """Agents that have a ``box`` file, sorted."""
        ...

    async def ends(self, box: Box) -> dict[str, Position]:
        """For every agent with a ``box`` file: the position after its last complete line now
        (where a consumer interested only in what comes next starts)."""
        ...

    async def load_cursor(self, consumer: str, box: Box, agent: str) -> Position:
        """``consumer``'s saved position in ``agent``'s ``box`` (the start if none)."""
        ...

    async def save_cursor(self, consumer: str, box: Box, agent: str, position: Position) -> None:
        """Atomically save ``consumer``'s position (after acting on what precedes it)."""
        ...

    async def aclose(self) -> None:
        """Close writers and streams. Safe to call twice."""
        ...


class LocalTransport:
    """The mailbox of a run directory on a filesystem this process can open.

    Appends to an ``outbox`` are made by an exclusive :class:`Writer` (one worker per agent);
    appends to an ``inbox`` take the file's lock each time, since the router and CLI senders
    share it (``shared_boxes`` changes that). Writers stay open until :meth:`aclose`.
    """

    def __init__(
        self,
        run_dir: Path | Layout,
        *,
        mode: Mode = "auto",
        poll_interval: float = POLL_INTERVAL,
        create: bool = True,
        shared_boxes: Collection[Box] = _SHARED_BOXES,
        max_line: int = MAX_LINE,
        rotate_bytes: int | None = ROTATE_BYTES,
        fsync: bool = False,
        cursor_fsync: bool = True,
    ) -> None:
        self.layout = run_dir if isinstance(run_dir, Layout) else Layout(Path(run_dir))
        if create:
            self.layout.create()
        else:
            self.layout.check()
        self.mode: Mode = mode
        self.poll_interval = poll_interval
        self.shared_boxes = frozenset(shared_boxes)
        self.max_line = max_line
        self.rotate_bytes = rotate_bytes
        self.fsync = fsync
        self.cursor_fsync = cursor_fsync
        self._writers: dict[tuple[Box, str], Writer] = {}
        self._streams: list[FollowerGroup] = []
        self._closed = False

    def __repr__(self) -> str:
        return f"LocalTransport({str(self.layout.run_dir)!r})"

    def writer(self, box: Box, agent: str) -> Writer:
        """The (cached) writer of ``agent``'s ``box``."""
        self._check_open()
        w = self._writers.get((box, agent))
        if w is None:
            w = Writer.open(
                self.layout.path(box, agent),
                lock=box in self.shared_boxes,
                fsync=self.fsync,
                max_line=self.max_line,
                rotate_bytes=self.rotate_bytes,
            )
            self._writers[(box, agent)] = w
        return w

    async def append(self, box: Box, agent: str, record: Mapping[str, Any]) -> MailRecord:
        return self.writer(box, agent).append_record(record)

    def follow(
        self,
        box: Box,
        agent: str,
        position: Position | None = None,
        *,
        on_corrupt: GroupCorruptSink | None = None,
    ) -> FollowerGroup:
        group = self._group(on_corrupt)
        group.add(agent, self.layout.path(box, agent), position)
        return group

    def follow_all(
        self,
        box: Box,
        *,
        positions: Mapping[str, Position] | None = None,
        consumer: str | None = None,
        on_corrupt: GroupCorruptSink | None = None,
    ) -> FollowerGroup:
        group = self._group(on_corrupt)
        group.add_directory(
            self.layout.box_dir(box), position_for=self._starts(box, positions, consumer)
        )
        return group

    async def rotate(self, box: Box, agent: str) -> int | None:
        return self.writer(box, agent).rotate()

    async def agents(self, box: Box) -> list[str]:
        return self.layout.agents(box)

    async def ends(self, box: Box) -> dict[str, Position]:
        out = {}
        for agent in self.layout.agents(box):
            reader = Reader(self.layout.path(box, agent))
            try:
                while reader.read():
                    pass
                out[agent] = reader.position
            finally:
                reader.close()
        return out

    def cursor(self, consumer: str, box: Box, agent: str) -> Cursor:
        return Cursor(self.layout.cursor(consumer, box, agent), fsync=self.cursor_fsync)

    async def load_cursor(self, consumer: str, box: Box, agent: str) -> Position:
        return self.cursor(consumer, box, agent).load()

    async def save_cursor(self, consumer: str, box: Box, agent: str, position: Position) -> None:
        self.cursor(consumer, box, agent).save(position)

    async def aclose(self) -> None:
        self._closed = True
        for group in self._streams:
            group.close()
        self._streams.clear()
        for w in self._writers.values():
            w.close()
        self._writers.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise MailboxClosedError(f"{self!r} is closed")

    def _group(self, on_corrupt: GroupCorruptSink | None) -> FollowerGroup:
        self._check_open()
        self._streams = [g for g in self._streams if not g.closed]
        group = FollowerGroup(
            mode=self.mode, poll_interval=self.poll_interval, on_corrupt=on_corrupt
        )
        self._streams.append(group)
        return group

    def _starts(
        self, box: Box, positions: Mapping[str, Position] | None, consumer: str | None
    ) -> PositionFor:
        return start_positions(positions, consumer, lambda c, a: self.cursor(c, box, a).load())


def start_positions(
    positions: Mapping[str, Position] | None,
    consumer: str | None,
    saved: Callable[[str, str], Position],
) -> PositionFor:
    """Where :meth:`Transport.follow_all` starts each agent: ``positions[agent]``, else with a
    ``consumer`` its saved cursor (``saved(consumer, agent)``), else the start."""

    def start(agent: str) -> Position:
        if positions is not None and agent in positions:
            return positions[agent]
        if consumer is not None:
            return saved(consumer, agent)
        return Position.start()

    return start
