"""The worker's link to the swarm's coordination store: the agent's registration, kept alive by
heartbeats, and the coordination messages that wake the agent.

The turn loop (:mod:`codeswarm.worker.agent`) makes every decision; the link opens the store,
registers, watches for messages and acknowledges one when told to. Delivery is at least once and,
in effect, exactly once: a message is acknowledged only after Codex accepted the turn that carries
it (and that turn carries the message's record id, which a restarted worker checks for), so a
worker that dies in between sees the message again after its restart.

How an idle agent learns of a message costs nothing while nothing happens:

- SQLite in a file: a commit that sent a message rewrites the store's bell file
  (``<db>.bells/bell``, :data:`~codeswarm.coordination.sqlite.BELLS`); inotify on its directory
  wakes the link (no message, no wake-up: heartbeats and leases, most commits, do not ring, and
  nothing else is written there), and a slow look now and then
  covers a missed event (a writer on another node, an old codeswarm). SQLite's
  own wait checks ``data_version`` every few milliseconds: fine for one caller, but every idle
  agent of a fleet doing it adds up (measured: 0.6 % of a core per agent). Without inotify
  (another OS, no instances left) the link looks every :attr:`Cadence.poll_s`.
- Any other store (PostgreSQL): the store's own wait on its audit log, LISTEN/NOTIFY, which blocks
  in the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures.thread  # noqa: F401  (asyncio.to_thread's pool: see below)
import contextlib
import enum
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import codeswarm.coordination.target  # noqa: F401  (Coord.open's: see below)
from codeswarm.coordination import DEFAULT_LEASE_S, Coord, Message
from codeswarm.coordination.delegation import report_limits
from codeswarm.coordination.messages import cut
from codeswarm.coordination.models import ORCHESTRATOR
from codeswarm.coordination.sqlite import BELL, BELL_NAME, MEMORY, SqliteStore, bells_dir
from codeswarm.core.errors import CoordError, FencedError, NotFoundError, StoreUnavailableError
from codeswarm.mailbox import MailRecord
from codeswarm.mailbox.inotify import InotifyHub, Watch

# What the link loads on its first use anyway (asyncio's thread pool, Coord.open's target) is
# loaded with this module: a forked worker then finds it in the zygote (worker/zygote.py).

INBOX_BATCH = 50
"""How many unacknowledged messages one look at the store fetches."""
WAKE_KIND = "message.sent"
"""The audit event a waiting link wakes for (PostgreSQL)."""


@dataclass(frozen=True)
class Cadence:
    """How often the link acts on its own (tests pass shorter intervals)."""

    beat_s: float | None = None
    """How often the registration is heartbeated (it lapses ``lease_s`` after the last one);
    ``None``: every third of the lease (as the MCP server does, docs/coordination.md). Every
    heartbeat is a commit, and a commit wakes every agent's link for a look (see
    :class:`_FileWake`): with N agents that is N² wake-ups per interval, so not more often."""
    wait_s: float = 10.0
    """PostgreSQL: the longest one wait for a message blocks (heartbeats happen between waits)."""
    poll_s: float = 0.5
    """SQLite without inotify: how often an idle agent looks for a message to wake it."""
    idle_poll_s: float = 10.0
    """SQLite with inotify: a look now and then all the same (a missed event costs at most this)."""
    retry_s: float = 5.0
    """After the store failed: how long until the link tries again."""


DEFAULT_CADENCE = Cadence()


class _State(enum.Enum):
    OPEN = "open"  # registered: messages() and ack() may be used
    CLOSED = "closed"  # aclose() ran: deregistered (or tried to), store closed; use raises


def wake_record(message: Message, cap: int | None = None) -> MailRecord:
    """The inbox-style record that carries a coordination message into a turn: ``coord_id`` is
    the message to acknowledge once the turn is accepted; ``task_id`` the task it is about (a
    turn for it that ends without a report marks it ``needs_review``); ``expects_reply``: the
    turn's final message goes back to ``coord_sender`` (see :meth:`CoordLink.turn_ended`). These
    three are there only when the message is about a task or expects a reply. ``cap``: a
    message not about a task (an agent's own words) cut to that many characters (the orchestrator's: the swarm's
    ``report_chars``)."""
    sender = message.sender or "someone"
    said = message.text  # the store's own messages about a task are compact already
    if cap is not None and message.task_id is None:
        said = cut(said, cap)
    text = f"Message #{message.id} from {sender} (codeswarm): {said}"
    if message.expects_reply:
        text += f"\n(Your final message of this turn is sent back to {sender} as the reply.)"
    record: MailRecord = {
        "id": f"coord-{message.id}",
        "kind": "message",
        "text": text,
        "coord_id": message.id,
    }
    if message.task_id is not None or message.expects_reply:  # a plain message: only the above
        record["task_id"] = message.task_id
        record["expects_reply"] = message.expects_reply
        record["coord_sender"] = message.sender
    return record


class CoordLink:
    """One agent's registration in the coordination store, and the messages that wake it.

    Get one with :meth:`open`; iterate :meth:`messages`; :meth:`ack` each message once its turn
    was accepted; :meth:`aclose` at the end. Failures of the store while the link runs are
    reported through ``report`` (one line each, for the outbox) and never end it: the link tries
    again after :attr:`Cadence.retry_s`.
    """

    def __init__(
        self,
        coord: Coord,
        agent: str,
        *,
        report: Callable[[str], None],
        cadence: Cadence = DEFAULT_CADENCE,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        self.coord = coord
        self.agent = agent
        self.cadence = cadence
        self._beat_s = cadence.beat_s if cadence.beat_s is not None else lease_s / 3
        self._report = report
        self._state = _State.OPEN
        self._seen: set[int] = set()  # messages already yielded by this link
        self._last_beat = time.monotonic()
        self.cap: int | None = None
        """Messages to this agent are cut to this many characters (the orchestrator's)."""

    @classmethod
    async def open(
        cls,
        url: str | None,
        *,
        root: str,
        agent: str,
        role: str,
        label: str,
        report: Callable[[str], None],
        lease_s: float = DEFAULT_LEASE_S,
        cadence: Cadence = DEFAULT_CADENCE,
        report_chars: int | None = None,
    ) -> CoordLink:
        """Open the store at ``url`` (with :meth:`Coord.open`, which resolves and reads every
        form of database URL) for the scope ``root``, and join it: adopt the agent's live
        registration (a worker restarted within its lease keeps its generation, leases and
        claims), else register the agent anew, lapsing ``lease_s`` after its last heartbeat.
        ``report_chars``: the swarm's size for an agent's words carried to the orchestrator
        (the store's ``Limits.report``; the orchestrator's own messages are cut to it too).

        Raises CoordError when the store cannot be opened or the agent cannot be registered;
        the store is closed again then.
        """

        def join() -> Coord:
            coord = Coord.open(url, root=root, limits=report_limits(report_chars))
            try:
                try:
                    coord.heartbeat(agent)
                except (NotFoundError, FencedError):  # never registered, lapsed or ended
                    coord.register(agent, role=role, label=label, pid=os.getpid(), lease_s=lease_s)
            except BaseException:
                coord.close()
                raise
            return coord

        link = cls(
            await asyncio.to_thread(join), agent, report=report, cadence=cadence, lease_s=lease_s
        )
        if role == ORCHESTRATOR:
            link.cap = link.coord.limits.report
        return link

    async def messages(self) -> AsyncIterator[MailRecord]:
        """Yield a :func:`wake_record` for each of the agent's unacknowledged messages, oldest
        first, each once per link (a message yielded and never acknowledged comes again only
        from a new link: after a worker restart). Heartbeats the registration every
        :attr:`Cadence.beat_s` meanwhile. Runs until cancelled, or ends once the link is closed.

        Raises StoreUnavailableError if the link is already closed.
        """
        self._check_open()
        wake = self._wake()
        try:
            while self._state is _State.OPEN:
                try:
                    await wake.mark()
                    fresh = await self._look()
                except CoordError as exc:
                    await self._failed(exc)
                    continue
                for message in fresh:
                    yield wake_record(message, self.cap)
                try:
                    await wake.wait()
                    await self._beat_when_due()
                except CoordError as exc:
                    await self._failed(exc)
        finally:
            wake.close()

    async def ack(self, message_id: int) -> None:
        """Acknowledge message ``message_id``: call it only once Codex accepted the turn that
        carries it. A failure is reported, not raised (the message comes again after a worker
        restart, and the restarted worker finds its turn was accepted).

        Raises StoreUnavailableError if the link is closed.
        """
        self._check_open()
        try:
            await asyncio.to_thread(self.coord.ack, self.agent, [message_id])
        except CoordError as exc:
            self._report(f"could not acknowledge message {message_id}: {exc}")

    async def turn_ended(self, record: MailRecord, task_id: int | None, text: str) -> None:
        """A turn that carried ``record`` (for task ``task_id``, if any) ended with the final
        message ``text``: a task still held by the agent (no report came) is marked
        ``needs_review``, and a message that expects a reply is answered with ``text`` (the
        store cuts it to its report size). Failures are reported, not raised.

        Raises StoreUnavailableError if the link is closed.
        """
        self._check_open()
        if task_id is not None:
            try:
                await asyncio.to_thread(self.coord.flag_for_review, self.agent, task_id)
            except CoordError as exc:
                self._report(f"could not mark task #{task_id} for review: {exc}")
        asked = record.get("coord_id")
        if record.get("expects_reply") and isinstance(asked, int):
            try:
                await asyncio.to_thread(self.coord.reply, self.agent, asked, text)
            except CoordError as exc:
                self._report(f"could not reply to message {asked}: {exc}")

    async def aclose(self) -> None:
        """Deregister the agent (its leases are released, its tasks reopened; unread messages
        wait for its next registration) and close the store. A failure to deregister is ignored:
        the registration lapses by itself. Safe to call twice."""
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED

        def leave() -> None:
            try:
                with contextlib.suppress(CoordError):
                    self.coord.deregister(self.agent)
            finally:
                self.coord.close()

        await asyncio.to_thread(leave)

    # -- internals ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._state is _State.CLOSED:
            raise StoreUnavailableError(f"the coordination link of {self.agent} is closed")

    def _wake(self) -> _Wake:
        store = self.coord.store
        if isinstance(store, SqliteStore) and store.path != MEMORY:
            return _FileWake(Path(store.path), self.cadence)
        return _FeedWake(self.coord, self.cadence)

    async def _look(self) -> list[Message]:
        """The agent's unacknowledged messages this link has not yielded yet (now marked so)."""
        unread = await asyncio.to_thread(self.coord.inbox, self.agent, limit=INBOX_BATCH)
        fresh = [m for m in unread if m.id not in self._seen]
        self._seen.update(m.id for m in fresh)
        return fresh

    async def _beat_when_due(self) -> None:
        now = time.monotonic()
        if now - self._last_beat >= self._beat_s:
            self._last_beat = now
            await asyncio.to_thread(self.coord.heartbeat, self.agent)

    async def _failed(self, exc: CoordError) -> None:
        if self._state is _State.CLOSED:
            return  # closed under a running messages(): it ends, nothing failed
        self._report(f"coordination: {exc}")
        await asyncio.sleep(self.cadence.retry_s)


class _Wake(Protocol):
    """What wakes an idle link. :meth:`mark` before looking at the store, :meth:`wait` after:
    a message sent after the mark is never missed. May wake spuriously."""

    async def mark(self) -> None: ...

    async def wait(self) -> None: ...

    def close(self) -> None: ...


class _FileWake:
    """SQLite in a file: inotify on the store's bell (see the module docstring), in a directory
    of its own (:data:`~codeswarm.coordination.sqlite.BELLS`).

    Only a commit that sent a message rings it: watching the database and its WAL instead woke
    every link at every commit, each agent's heartbeat included (N² wake-ups per heartbeat
    interval: 2.7 % of a core for 50 idle agents), and so did watching a bell beside them
    (inotify watches a directory). A ring counts only when the newest message or
    delivery differs from the one seen at :meth:`mark` (two index look-ups on a connection of
    its own, in the loop's thread, opened at the first ring; any doubt counts as a change: until
    then, any ring counts)."""

    NEWEST = "SELECT (SELECT max(id) FROM messages), (SELECT max(rowid) FROM deliveries)"

    def __init__(self, path: Path, cadence: Cadence) -> None:
        self._changed = asyncio.Event()
        self._watches: list[Watch] = []
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._seen: tuple[object, ...] | None = None
        try:
            hub = InotifyHub.for_loop()  # the bell a sent message rings (not every commit)
            try:  # in a directory of its own: the database's changes at every commit
                self._watches.append(
                    hub.watch(Path(bells_dir(str(path))), BELL_NAME, self._on_change)
                )
            except OSError:  # (it cannot be made here): the one beside the database
                self._watches.append(hub.watch(path.parent, path.name + BELL, self._on_change))
            self._timeout = cadence.idle_poll_s
        except OSError:  # no inotify here: poll
            self.close()
            self._timeout = cadence.poll_s

    def _on_change(self, _name: str | None) -> None:
        self._changed.set()

    def _newest(self) -> tuple[object, ...] | None:
        """The newest message and delivery ids, or None when the store cannot say."""
        try:
            if self._db is None:
                self._db = sqlite3.connect(self._path, timeout=0.1, isolation_level=None)
            rows = self._db.execute(self.NEWEST).fetchall()  # to the end: no snapshot kept
        except sqlite3.Error:
            return None
        return tuple(rows[0]) if rows else None

    async def mark(self) -> None:
        self._changed.clear()
        # before the first ring there is no connection to ask (most agents of a fleet start, and
        # many idle, without one): nothing seen, so the first ring counts
        self._seen = self._newest() if self._db is not None else None

    async def wait(self) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that arrives
        # as the event fires, and the worker's shutdown would then wait on this loop forever
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._timeout):
                while True:
                    await self._changed.wait()
                    self._changed.clear()
                    newest = self._newest()
                    if newest is None or self._seen is None or newest != self._seen:
                        return

    def close(self) -> None:
        watches, self._watches = self._watches, []
        for watch in watches:
            watch.hub.unwatch(watch)
        if self._db is not None:
            self._db.close()
            self._db = None


class _FeedWake:
    """Any other store (PostgreSQL): :meth:`Coord.wait_async` for the next message sent."""

    def __init__(self, coord: Coord, cadence: Cadence) -> None:
        self._coord = coord
        self._timeout = cadence.wait_s
        self._since: int | None = None

    async def mark(self) -> None:
        if self._since is None:
            self._since = await asyncio.to_thread(self._coord.last_seq)

    async def wait(self) -> None:
        assert self._since is not None, "mark() first"
        events = await self._coord.wait_async(
            since=self._since, timeout=self._timeout, kind=WAKE_KIND
        )
        if events:
            self._since = events[-1].seq

    def close(self) -> None:
        pass
