"""Fixtures of the worker suites: coordination links on a real store (every backend of
backends.py) with a peer on the same store acting as another process; an inbox file and the
worker's side of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codeswarm.coordination import Coord, SystemClock
from codeswarm.mailbox import Layout, MailRecord, Writer
from codeswarm.worker.coordlink import Cadence, CoordLink
from codeswarm.worker.inbox import Inbox


class Links:
    """Opens links and follows their messages; everything is closed at the end. What the links
    report lands in :attr:`reports`."""

    def __init__(self, db_url: str, root: Path) -> None:
        self.db_url = db_url
        self.root = root
        self.reports: list[str] = []
        self._links: list[CoordLink] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self, agent: str, **cadence: float) -> CoordLink:
        link = await CoordLink.open(
            self.db_url,
            root=str(self.root),
            agent=agent,
            role="implementer",
            label="swarm t",
            report=self.reports.append,
            cadence=Cadence(**cadence),
        )
        self._links.append(link)
        return link

    def follow(self, link: CoordLink) -> asyncio.Queue[dict[str, Any]]:
        """Run ``link.messages()`` in a task; what it yields lands in the returned queue."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def run() -> None:
            async for record in link.messages():
                queue.put_nowait(record)

        self._tasks.append(asyncio.create_task(run()))
        return queue

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for link in self._links:
            await link.aclose()


@pytest.fixture
async def links(db_url: str, root: Path) -> AsyncIterator[Links]:
    opened = Links(db_url, root)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def peer(open_coord: Callable[..., Coord]) -> Coord:
    """Another connection to the links' store (as another process would have), on the wall
    clock as the links are."""
    return open_coord(clock=SystemClock())


class Inboxes:
    """One agent's inbox file (written as control writes it) and the worker's side of it, opened
    again and again as a restarted worker would; everything is closed at the end."""

    def __init__(self, run_dir: Path) -> None:
        layout = Layout(run_dir).create()
        self.path = layout.inbox("w_0")
        self.cursor_path = run_dir / "agents" / "w_0" / "inbox.cursor"
        self.writer = Writer.open(self.path, lock=True)
        self._open: list[tuple[Inbox, AsyncIterator[MailRecord]]] = []

    def open(self) -> tuple[Inbox, AsyncIterator[MailRecord]]:
        """A new worker's inbox and its records; the previous one is closed first."""
        self.close()
        inbox = Inbox(self.path, self.cursor_path, poll_interval=0.01)
        self._open.append((inbox, inbox.records()))
        return self._open[-1]

    def close(self) -> None:
        for inbox, _records in self._open:
            inbox.close()


@pytest.fixture
def inboxes(tmp_path: Path) -> Iterator[Inboxes]:
    made = Inboxes(tmp_path / "run")
    yield made
    made.close()
    made.writer.close()
