"""Following mailbox files as they grow: :class:`FollowerGroup` (many files, new ones as they
appear) and :class:`Follower` (one file; a group of one).

How a follower learns that there is something to read, per directory:

* ``inotify``: one watch on the directory in the event loop's shared inotify descriptor (see
  :mod:`.inotify`); an append wakes exactly the follower of that file, typically within 0.1 ms.
  No timers run while nothing happens.
* ``poll``: every ``poll_interval`` seconds while someone is waiting for a record, each polled file
  is checked with one ``stat``. This is the only thing that works on a network filesystem written
  from another node.
* ``auto`` (the default): ``poll`` on a network/cluster filesystem (NFS, Lustre, GPFS, ...),
  where remote writes raise no inotify event; ``inotify`` elsewhere, ``poll`` if inotify is
  unavailable.

Reading is fair: each round reads at most ``batch_bytes`` from each file that changed, so one
agent with a huge backlog does not hold up the others.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self

from codeswarm.core.errors import MailboxError, MailboxInputError
from codeswarm.core.resource import AsyncResource
from codeswarm.mailbox.layout import SUFFIX, agents_in
from codeswarm.mailbox.reader import Reader
from codeswarm.mailbox.records import CorruptLine, Delivery, MailRecord, Position
from codeswarm.mailbox.writer import MAX_RECORD

if TYPE_CHECKING:
    from codeswarm.mailbox.inotify import InotifyHub, Watch

log = logging.getLogger("codeswarm.mailbox")

Mode = Literal["auto", "inotify", "poll"]
POLL_INTERVAL = 0.05
"""Seconds between checks of a polled file (median latency about half of it)."""
BATCH_BYTES = 64 * 1024
"""At most this much is read from one file per round."""
RELIST_INTERVAL = 1.0
"""Polling: a followed directory is listed for new files at least this often (seconds)."""

GroupCorruptSink = Callable[[str, CorruptLine], None]
PositionFor = Callable[[str], Position]


class _State(enum.Enum):
    NEW = "new"  # constructed; watches are set up on first use inside the event loop
    OPEN = "open"  # following
    CLOSED = "closed"  # closed by us: iteration ends, nothing is watched


@dataclass(eq=False)
class _Member:
    key: str
    path: Path
    reader: Reader
    position: Position  # after the last record handed out
    dir: _Dir | None = None


@dataclass(eq=False)
class _Dir:
    path: Path
    names: dict[str, str] = field(default_factory=dict)  # file name -> member key
    discover: PositionFor | None = None  # add new <key>.jsonl files (add_directory)
    polled: bool = False
    watch: Watch | None = None
    listed_mtime: int = -1  # the directory's mtime when it was last listed (polling)
    listed_at: float = 0.0  # and when (monotonic)


class FollowerGroup(AsyncResource):
    """Follows many mailbox files; yields :class:`Delivery` ``(agent, record, position)``.

    Order is kept per file, not across files. ``position`` is the one to save in the agent's
    cursor after acting on the record. Add files with :meth:`add`, or whole directories (every
    ``<agent>.jsonl`` now and later) with :meth:`add_directory`. Close with :meth:`close` (or
    ``async with``); iteration then ends.
    """

    def __init__(
        self,
        *,
        mode: Mode = "auto",
        poll_interval: float = POLL_INTERVAL,
        on_corrupt: GroupCorruptSink | None = None,
        max_line: int = MAX_RECORD,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        if mode not in ("auto", "inotify", "poll"):
            raise MailboxInputError(f"mode must be auto, inotify or poll, not {mode!r}")
        if poll_interval <= 0:
            raise MailboxInputError("poll_interval must be positive")
        self.mode: Mode = mode
        self.poll_interval = poll_interval
        self.max_line = max_line
        self.batch_bytes = batch_bytes
        self._on_corrupt = on_corrupt
        self._state = _State.NEW
        self._members: dict[str, _Member] = {}
        self._dirs: dict[Path, _Dir] = {}
        self._dirty: dict[str, None] = {}  # an ordered set of member keys
        self._ready: collections.deque[Delivery] = collections.deque()
        self._wake: asyncio.Event | None = None
        self._hub: InotifyHub | None = None
        self._unset: list[_Dir] = []  # directories whose watch is not set up yet
        self._last_tick = 0.0  # loop time of the last poll tick

    # --- membership ------------------------------------------------------------------------------

    def add(self, key: str, path: Path, position: Position | None = None) -> None:
        """Follow ``path`` from ``position`` (default: its start); deliveries carry ``key``."""
        self._check_open()
        if key in self._members:
            raise MailboxError(f"{key!r} is already followed ({self._members[key].path})")
        path = Path(path)
        d = self._dir(path.parent)
        sink = None if self._on_corrupt is None else _bind(self._on_corrupt, key)
        reader = Reader(path, position, on_corrupt=sink, max_line=self.max_line)
        member = _Member(key, path, reader, reader.position, d)
        self._members[key] = member
        d.names[path.name] = key
        self._dirty[key] = None
        if self._wake is not None:
            self._wake.set()

    def add_directory(self, directory: Path, *, position_for: PositionFor | None = None) -> None:
        """Follow every ``<agent>.jsonl`` in ``directory``, including files created later;
        ``position_for(agent)`` says where to start each (default: the start)."""
        self._check_open()
        d = self._dir(Path(directory))
        d.discover = position_for or _from_start
        self._discover(d)

    def remove(self, key: str) -> None:
        """Stop following ``key`` (no error if it is not followed)."""
        member = self._members.pop(key, None)
        if member is None:
            return
        member.reader.close()
        self._dirty.pop(key, None)
        d = member.dir
        if d is not None:
            d.names.pop(member.path.name, None)
            if not d.names and d.discover is None:
                self._drop_dir(d)

    def keys(self) -> list[str]:
        return list(self._members)

    @property
    def closed(self) -> bool:
        return self._state is _State.CLOSED

    @property
    def ready(self) -> int:
        """Deliveries read and waiting: the next ``ready`` iterations return without waiting
        (a consumer that acts in batches acts when this drops to 0)."""
        return len(self._ready)

    def position(self, key: str) -> Position:
        """The position after the last record of ``key`` handed out (its start position before)."""
        return self._members[key].position

    def modes(self) -> dict[str, str]:
        """How each followed directory is watched: ``"inotify"``, ``"poll"`` or ``"pending"``."""
        return {
            str(d.path): "pending" if d in self._unset else "poll" if d.polled else "inotify"
            for d in self._dirs.values()
        }

    # --- iteration -------------------------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Delivery:
        if self._state is _State.CLOSED:
            raise StopAsyncIteration
        if self._wake is None:
            self._wake = asyncio.Event()
            self._state = _State.OPEN
        wake = self._wake
        while not self._ready:
            self._setup()
            wake.clear()
            self._read_dirty()
            if self._ready:
                break
            if self._dirty:
                await asyncio.sleep(0)  # a backlog: let others run, then read on
                continue
            timer = None
            if any(d.polled for d in self._dirs.values()):
                # Ticks keep a fixed cadence (one per interval, however long reading took), so a
                # record waits interval/2 on average, and a missed tick happens at once.
                loop = asyncio.get_running_loop()
                timer = loop.call_at(self._last_tick + self.poll_interval, self._tick)
            try:
                await wake.wait()
            finally:
                if timer is not None:
                    timer.cancel()
            if self._state is _State.CLOSED:
                raise StopAsyncIteration
        delivery = self._ready.popleft()
        member = self._members.get(delivery.agent)
        if member is not None:
            member.position = delivery.position
        return delivery

    def close(self) -> None:
        """Stop following everything; a waiting iteration ends. Safe to call twice."""
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        for d in list(self._dirs.values()):
            self._drop_dir(d)
        for member in self._members.values():
            member.reader.close()
        self._ready.clear()
        if self._wake is not None:
            self._wake.set()

    async def aclose(self) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._state is _State.CLOSED:
            raise MailboxError("the follower is closed")

    def _dir(self, path: Path) -> _Dir:
        d = self._dirs.get(path)
        if d is None:
            d = self._dirs[path] = _Dir(path)
            self._unset.append(d)
        return d

    def _drop_dir(self, d: _Dir) -> None:
        if d.watch is not None:
            d.watch.hub.unwatch(d.watch)
            d.watch = None
        self._dirs.pop(d.path, None)
        if d in self._unset:
            self._unset.remove(d)

    def _setup(self) -> None:
        """Watch directories added since the last round (needs the running loop). A directory
        that cannot be set up stays pending, so the error repeats instead of going quiet."""
        while self._unset:
            d = self._unset[-1]
            d.watch = self._watch(d)
            d.polled = d.watch is None
            self._unset.pop()
            # Anything may have happened before the watch existed: look at everything once.
            for key in d.names.values():
                self._dirty[key] = None
            if d.discover is not None:
                self._discover(d)

    def _watch(self, d: _Dir) -> Watch | None:
        """An inotify watch on ``d`` or None to poll it, per :attr:`mode` (see the module doc)."""
        if self.mode == "poll":
            return None
        from codeswarm.mailbox.inotify import InotifyHub, is_remote_filesystem

        if self.mode == "auto":
            remote = is_remote_filesystem(d.path)
            if remote is not None:
                log.info("%s is on %s: polling every %gs", d.path, remote, self.poll_interval)
                return None
        try:
            if self._hub is None or self._hub.fd < 0:
                self._hub = InotifyHub.for_loop()
            return self._hub.watch(d.path, None, _bind_dir(self, d))
        except OSError as exc:
            if self.mode == "inotify":
                raise MailboxError(f"cannot follow {d.path} with inotify: {exc}") from exc
            log.warning("cannot watch %s with inotify (%s): polling instead", d.path, exc)
            return None

    def _on_event(self, d: _Dir, name: str | None) -> None:
        if name is None:
            for key in d.names.values():
                self._dirty[key] = None
            if d.watch is not None and not d.watch.hub.is_watching(d.watch):
                d.watch = None  # the directory went away: watch it again (or poll) next round
                self._unset.append(d)
            if d.discover is not None:
                self._discover(d)
        else:
            member_key = d.names.get(name)
            if member_key is not None:
                self._dirty[member_key] = None
            elif d.discover is not None and name.endswith(SUFFIX):
                self._discover(d)
        if self._wake is not None:
            self._wake.set()

    def _tick(self) -> None:
        self._last_tick = asyncio.get_running_loop().time()
        for d in self._dirs.values():
            if d.polled:
                for key in d.names.values():
                    self._dirty[key] = None
                if d.discover is not None and self._listing_due(d):
                    self._discover(d)
        if self._wake is not None:
            self._wake.set()

    def _listing_due(self, d: _Dir) -> bool:
        """Polling: list a directory only when its mtime moved (a file was created), or at
        least every :data:`RELIST_INTERVAL`, since two creations within one tick of the kernel's
        coarse clock leave the same mtime."""
        try:
            mtime = os.stat(d.path).st_mtime_ns
        except OSError:
            return False
        return mtime != d.listed_mtime or time.monotonic() - d.listed_at >= RELIST_INTERVAL

    def _discover(self, d: _Dir) -> None:
        assert d.discover is not None
        try:
            d.listed_mtime = os.stat(d.path).st_mtime_ns
        except OSError:
            d.listed_mtime = -1
        d.listed_at = time.monotonic()
        for agent in agents_in(d.path):
            if agent + SUFFIX in d.names:
                continue
            if agent in self._members:
                log.warning("%s: %r is already followed elsewhere; skipped", d.path, agent)
                continue
            self.add(agent, d.path / (agent + SUFFIX), d.discover(agent))

    def _read_dirty(self) -> None:
        for key in list(self._dirty):
            del self._dirty[key]
            member = self._members.get(key)
            if member is None:
                continue
            try:
                batch = member.reader.read(self.batch_bytes)
            except BaseException:
                self._dirty[key] = None  # still broken next time: say so again
                raise
            for record, position in batch:
                self._ready.append(Delivery(key, record, position))
            if member.reader.has_backlog:
                self._dirty[key] = None


class Follower(AsyncResource):
    """Follows one mailbox file from ``position``: ``async for record, position in follower``.

    Yields each record with the position just after it, forever, until :meth:`close` (or the end
    of ``async with``). See :class:`FollowerGroup` for ``mode`` and ``poll_interval``.
    """

    def __init__(
        self,
        path: Path,
        position: Position | None = None,
        *,
        mode: Mode = "auto",
        poll_interval: float = POLL_INTERVAL,
        on_corrupt: Callable[[CorruptLine], None] | None = None,
        max_line: int = MAX_RECORD,
    ) -> None:
        self.path = Path(path)
        self._group = FollowerGroup(
            mode=mode,
            poll_interval=poll_interval,
            on_corrupt=None if on_corrupt is None else (lambda _key, bad: on_corrupt(bad)),
            max_line=max_line,
        )
        self._group.add(self.path.name, self.path, position)

    @property
    def position(self) -> Position:
        """The position after the last record yielded (the start position before the first)."""
        return self._group.position(self.path.name)

    @property
    def mode(self) -> str:
        """``"inotify"`` or ``"poll"`` once following (``"pending"`` before the first wait)."""
        return next(iter(self._group.modes().values()), "closed")

    @property
    def corrupt(self) -> collections.deque[CorruptLine]:
        """The newest corrupt-line reports (see :attr:`Reader.corrupt`)."""
        return self._group._members[self.path.name].reader.corrupt

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> tuple[MailRecord, Position]:
        delivery = await self._group.__anext__()
        return delivery.record, delivery.position

    def close(self) -> None:
        """Stop following; a waiting iteration ends. Safe to call twice."""
        self._group.close()

    async def aclose(self) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Follower {self.path} at {self.position}>"


def _from_start(_agent: str) -> Position:
    return Position.start()


def _bind(sink: GroupCorruptSink, key: str) -> Callable[[CorruptLine], None]:
    return lambda bad: sink(key, bad)


def _bind_dir(group: FollowerGroup, d: _Dir) -> Callable[[str | None], None]:
    return lambda name: group._on_event(d, name)
