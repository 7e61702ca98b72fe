"""One swarm's events for the SSE streams: one router, a ring of recent events, the open streams.

A :class:`Feed` replays the swarm's outboxes once (numbering every event as every reader does,
:mod:`codeswarm.control.fleet.router`), then follows them (inotify on a local filesystem) for as
long as ``serve`` runs. Each event is serialized once; its frame (``id:`` + ``data:``) is built
once per kind of stream (the swarm's, the agent's) and the same bytes go to every stream that is
in step with the feed. A stream is *in step* when it has everything up to the feed's position:
then its ids are the feed's ids. A stream that resumes from an older id is brought in step first,
with frames of its own: from the ring when the ring reaches back that far, else by re-reading the
outboxes (:meth:`Feed.reread`) up to where the feed was, and then from the ring.

Delivery is coalesced: what arrives within :data:`COALESCE_S` of the last delivery goes out
together (one write per stream), so the cost per stream does not grow with the event rate.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import enum
import logging
import threading
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import orjson

from codeswarm.api.sse import frame
from codeswarm.core.errors import FeedError as FeedError  # re-exported: the stream names it
from codeswarm.core.errors import StopRequested

if TYPE_CHECKING:
    from codeswarm.control.fleet.router import Router
    from codeswarm.core.events import Event
    from codeswarm.core.swarm import RunDir, SwarmSpec

log = logging.getLogger("codeswarm.api")

RING_EVENTS = 10_000
"""Recent events kept per swarm: a resume within them needs no re-read of the outboxes."""
COALESCE_S = 0.005
"""Events arriving within this long of the last delivery are delivered together."""
STREAM_MAX_BYTES = 8 * 1024 * 1024
"""A stream with more than this waiting to go out is dropped (the client resumes by its id)."""
REREAD_BATCH = 500
"""Events per chunk handed from a re-read (a worker thread) to its stream."""
REREAD_CHUNKS = 4
"""Chunks a re-read may have waiting for its stream (then it waits: memory stays bounded)."""


class _State(enum.Enum):
    NEW = "new"  # constructed: nothing read yet
    REPLAYING = "replaying"  # numbering what the outboxes hold (a worker thread); streams wait
    LIVE = "live"  # following the outboxes; streams are fed
    CLOSED = "closed"  # stopped (by the hub, or the outboxes could not be read): streams end


class _Entry:
    """One event in the ring: which agent (index ``k``), its seq and type, its JSON (serialized
    on first use: most events of a replay never need it)."""

    __slots__ = ("_data", "_event", "k", "seq", "type")

    def __init__(self, k: int, seq: int, type_: str, event: Event | None, data: bytes | None):
        self.k = k
        self.seq = seq
        self.type = type_
        self._event = event
        self._data = data

    @property
    def data(self) -> bytes:
        data = self._data
        if data is None:
            data = self._data = orjson.dumps(self._event)
            self._event = None
        return data


class Stream:
    """One open event stream: what it wants (every agent, or agent ``k``; ``types``), where it
    is (``position``: each agent's last seq it has), and the bytes waiting to go out."""

    def __init__(self, k: int | None, types: frozenset[str] | None, position: list[int]) -> None:
        self.k = k
        self.types = types
        self.position = position
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.wake = asyncio.Event()
        self.closed = False
        self.reason = ""
        self.closed_at = 0.0
        self.last_sent = time.monotonic()
        self.task: asyncio.Task[Any] | None = None

    def push(self, chunk: bytes, *, bounded: bool = True) -> None:
        """Queue ``chunk``. A stream with something still waiting that would get past
        :data:`STREAM_MAX_BYTES` (``bounded``) is dropped instead: its client is not keeping up."""
        if self.closed:
            return
        if bounded and self.pending and self.pending_bytes + len(chunk) > STREAM_MAX_BYTES:
            self.close("too slow: dropped (resume with the last id)", discard=True)
            return
        self.pending.append(chunk)
        self.pending_bytes += len(chunk)
        self.wake.set()

    def take(self) -> bytes:
        chunk = b"".join(self.pending)
        self.pending.clear()
        self.pending_bytes = 0
        return chunk

    def close(self, reason: str, *, discard: bool = False) -> None:
        """End the stream (what is queued still goes out, unless ``discard``). Safe twice."""
        if self.closed:
            return
        self.closed = True
        self.reason = reason
        self.closed_at = time.monotonic()
        if discard:
            self.take()
        self.wake.set()


class Feed:
    """The events of swarm ``name`` for every stream of it (see the module doc)."""

    def __init__(self, run: RunDir, spec: SwarmSpec, identity: tuple[int, int, int]) -> None:
        from codeswarm.control.fleet.router import Router

        self.name = spec.name
        self.run = run
        self.spec = spec
        self.identity = identity
        """Which run of the swarm this follows (see ``stream._identity``)."""
        self.router = Router(run, start="begin", spec=spec)
        self.agents: list[str] = list(self.router.agents)
        self.rank = {a: k for k, a in enumerate(self.agents)}
        n = len(self.agents)
        self.vector = [0] * n
        """Each agent's last seq so far."""
        self._parts = [b"0"] * n  # the vector's components, as they go into an id
        self._ring: collections.deque[_Entry] = collections.deque()
        self._floor = [0] * n  # per agent: every event up to this seq has left the ring
        self._pending: list[tuple[_Entry, bytes | None, bytes | None]] = []
        self._swarm_streams: set[Stream] = set()
        self._agent_streams: dict[int, set[Stream]] = {}
        self._state = _State.NEW
        self._ready = asyncio.Event()  # set when the replay is over (LIVE, or CLOSED early)
        self._error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._flush_at: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self.users = 0
        """Open streams of this swarm (fed live or catching up)."""
        self.idle_since = time.monotonic()
        """When the last of them ended (or the feed started)."""

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._state is _State.CLOSED

    def start(self) -> None:
        self._state = _State.REPLAYING
        self._task = asyncio.create_task(self._run(), name=f"codeswarm.api feed {self.name}")

    async def wait_ready(self) -> None:
        """Until the outboxes have been replayed; :class:`FeedError` if that failed."""
        await self._ready.wait()
        if self._error is not None:
            raise FeedError(self._error)

    def close(self, reason: str) -> None:
        """Stop following; every stream of this feed ends. Safe to call twice."""
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        self.router.close()
        if self._flush_at is not None:
            self._flush_at.cancel()
        for stream in [
            *self._swarm_streams,
            *(s for ss in self._agent_streams.values() for s in ss),
        ]:
            stream.close(reason)
        self._swarm_streams.clear()
        self._agent_streams.clear()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def _run(self) -> None:
        try:
            await asyncio.to_thread(self._replay)
            self._parts = [b"%d" % seq for seq in self.vector]
            self._state = _State.LIVE
            self._ready.set()
            async for batch in self.router.follow():
                self._ingest(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the outboxes cannot be read: say why to whoever asks
            log.warning("events of swarm %s: %s", self.name, exc)
            self._error = f"cannot follow the events of swarm {self.name!r}: {exc}"
        finally:
            if self._error is None and not self._ready.is_set():
                self._error = f"the events of swarm {self.name!r} are no longer followed"
            self._ready.set()
            self.close(self._error or "the swarm's events are no longer followed")

    def _replay(self) -> None:
        """(A worker thread, before the feed is ready: nothing else touches it.)"""

        def sink(event: Event) -> None:
            if self.closed:
                raise FeedError("closed")
            k = self.rank[event["agent"]]
            self.vector[k] = seq = event["seq"]
            self._keep(_Entry(k, seq, event["type"], event, None))

        self.router.replay(sink)

    def modes(self) -> dict[str, str]:
        """How the outboxes are followed (directory → ``inotify``/``poll``/``pending``)."""
        return self.router.modes()

    def streams(self) -> int:
        return len(self._swarm_streams) + sum(len(s) for s in self._agent_streams.values())

    def ring_size(self) -> int:
        return len(self._ring)

    # --- live events -----------------------------------------------------------------------------

    def _keep(self, entry: _Entry) -> None:
        ring = self._ring
        if len(ring) >= RING_EVENTS:
            old = ring.popleft()
            self._floor[old.k] = old.seq
        ring.append(entry)

    def _ingest(self, batch: list[Event]) -> None:
        swarm = bool(self._swarm_streams)
        by_agent = self._agent_streams
        parts, vector, pending = self._parts, self.vector, self._pending
        for event in batch:
            k = self.rank.get(event["agent"])
            if k is None:
                continue
            vector[k] = seq = event["seq"]
            parts[k] = b"%d" % seq
            data = orjson.dumps(event)
            entry = _Entry(k, seq, event["type"], None, data)
            self._keep(entry)
            pending.append(
                (
                    entry,
                    frame(b".".join(parts), data) if swarm else None,
                    frame(parts[k], data) if k in by_agent else None,
                )
            )
        if pending and self._flush_at is None:
            loop = asyncio.get_running_loop()
            due = self._last_flush + COALESCE_S
            if loop.time() >= due:
                self._flush()
            else:
                self._flush_at = loop.call_at(due, self._flush)

    def _flush(self) -> None:
        """Hand what arrived since the last time to every stream in step (one chunk each)."""
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        self._last_flush = asyncio.get_running_loop().time()
        pending, self._pending = self._pending, []
        if not pending:
            return
        if self._swarm_streams:
            chunks: dict[frozenset[str] | None, bytes] = {}
            for stream in list(self._swarm_streams):
                chunk = chunks.get(stream.types)
                if chunk is None:
                    types = stream.types
                    chunk = chunks[types] = b"".join(
                        f for e, f, _ in pending if f and (types is None or e.type in types)
                    )
                self._deliver(stream, chunk, self._swarm_streams)
        for k, streams in list(self._agent_streams.items()):
            chunks = {}
            for stream in list(streams):
                chunk = chunks.get(stream.types)
                if chunk is None:
                    types = stream.types
                    chunk = chunks[types] = b"".join(
                        f
                        for e, _, f in pending
                        if f and e.k == k and (types is None or e.type in types)
                    )
                self._deliver(stream, chunk, streams)

    @staticmethod
    def _deliver(stream: Stream, chunk: bytes, streams: set[Stream]) -> None:
        if chunk:
            stream.push(chunk)
        if stream.closed:
            streams.discard(stream)

    # --- streams joining -------------------------------------------------------------------------

    def ahead(self, stream: Stream) -> bool:
        """Whether ``stream`` claims events this swarm does not have (an id of another run)."""
        ks = range(len(self.agents)) if stream.k is None else [stream.k]
        return any(stream.position[k] > self.vector[k] for k in ks)

    def attach(self, stream: Stream) -> bool:
        """Bring ``stream`` in step from the ring and add it to the streams fed live. False (and
        nothing done) when the ring no longer reaches back to the stream's position."""
        if self.closed:
            stream.close("the swarm's events are no longer followed")
            return True
        self._flush()  # what is pending goes to the streams already in step; this one gets it below
        pos, types = stream.position, stream.types
        if stream.k is None:
            n = len(self.agents)
            if any(pos[k] < self._floor[k] for k in range(n)):
                return False
            if pos != self.vector:
                parts = [b"%d" % seq for seq in pos]
                frames = []
                for e in self._ring:
                    if e.seq > pos[e.k]:
                        pos[e.k] = e.seq
                        parts[e.k] = b"%d" % e.seq
                        if types is None or e.type in types:
                            frames.append(frame(b".".join(parts), e.data))
                stream.push(b"".join(frames), bounded=False)
            self._swarm_streams.add(stream)
        else:
            k = stream.k
            if pos[k] < self._floor[k]:
                return False
            if pos[k] != self.vector[k]:
                frames = []
                for e in self._ring:
                    if e.k == k and e.seq > pos[k]:
                        pos[k] = e.seq
                        if types is None or e.type in types:
                            frames.append(frame(b"%d" % e.seq, e.data))
                stream.push(b"".join(frames), bounded=False)
            self._agent_streams.setdefault(k, set()).add(stream)
        return True

    def detach(self, stream: Stream) -> None:
        self._swarm_streams.discard(stream)
        if stream.k is not None:
            streams = self._agent_streams.get(stream.k)
            if streams is not None:
                streams.discard(stream)
                if not streams:
                    del self._agent_streams[stream.k]

    async def reread(self, stream: Stream) -> AsyncGenerator[bytes, None]:
        """Chunks of frames for ``stream`` from the outboxes themselves: every event after its
        position up to where the feed is now (for a resume older than the ring). The stream's
        position advances as each chunk is taken. Use with :func:`contextlib.aclosing`."""
        upto = list(self.vector)
        ks = range(len(self.agents)) if stream.k is None else [stream.k]
        wanted = [k for k in ks if stream.position[k] < upto[k]]
        if not wanted:
            return
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[bytes, list[int]] | BaseException | None] = asyncio.Queue(
            REREAD_CHUNKS
        )
        cancel = threading.Event()
        reader = _Reread(self, stream, upto, wanted, loop, chunks, cancel)
        loop.run_in_executor(None, reader.run)  # ends with None, an exception, or a cancel
        try:
            while (item := await chunks.get()) is not None:
                if isinstance(item, BaseException):
                    raise FeedError(f"re-reading the outboxes of {self.name!r}: {item}") from item
                chunk, position = item
                if chunk:
                    yield chunk
                stream.position = position
        finally:
            cancel.set()  # the thread stops at its next event or put (it reports nothing more)
            while not chunks.empty():  # a put waiting for room returns, and sees the cancel
                chunks.get_nowait()


class _Reread:
    """A re-read of the outboxes for one stream, run in a worker thread (see :meth:`Feed.reread`).
    It numbers events with a router of its own, from the start of the outboxes (as every reader
    does), and hands frames to the stream's task in bounded chunks."""

    def __init__(
        self,
        feed: Feed,
        stream: Stream,
        upto: list[int],
        wanted: list[int],
        loop: asyncio.AbstractEventLoop,
        chunks: asyncio.Queue[tuple[bytes, list[int]] | BaseException | None],
        cancel: threading.Event,
    ) -> None:
        self.feed = feed
        self.k = stream.k
        self.types = stream.types
        self.position = list(stream.position)
        self.upto = upto
        self.wanted = wanted
        self.loop = loop
        self.chunks = chunks
        self.cancel = cancel

    def run(self) -> None:
        try:
            self._read()
        except StopRequested:
            return
        except BaseException as exc:  # handed to the stream, which says why it ends
            with contextlib.suppress(StopRequested, RuntimeError):
                self._put(exc)
            return
        with contextlib.suppress(StopRequested, RuntimeError):
            self._put(None)

    def _read(self) -> None:
        from codeswarm.control.fleet.router import Router

        feed = self.feed
        router: Router = Router(feed.run, start="begin", spec=feed.spec)
        router.agents = [feed.agents[k] for k in self.wanted]  # the others have nothing to give
        pos, upto, types, rank, per_agent = self.position, self.upto, self.types, feed.rank, self.k
        parts = [b"%d" % seq for seq in pos]
        frames: list[bytes] = []

        def sink(event: Event) -> None:
            if self.cancel.is_set():
                raise StopRequested
            k = rank[event["agent"]]
            seq = event["seq"]
            if seq <= pos[k] or seq > upto[k]:
                return
            pos[k] = seq
            parts[k] = b"%d" % seq
            if types is None or event["type"] in types:
                eid = parts[k] if per_agent is not None else b".".join(parts)
                frames.append(frame(eid, orjson.dumps(event)))
                if len(frames) >= REREAD_BATCH:
                    self._put((b"".join(frames), list(pos)))
                    frames.clear()

        router.replay(sink)
        self._put((b"".join(frames), list(pos)))

    def _put(self, item: tuple[bytes, list[int]] | BaseException | None) -> None:
        """Hand ``item`` to the stream's task, waiting for room (checking for a cancel)."""
        put = asyncio.run_coroutine_threadsafe(self.chunks.put(item), self.loop)
        while True:
            try:
                put.result(timeout=0.5)
                return
            except concurrent.futures.TimeoutError:
                if self.cancel.is_set():
                    put.cancel()
                    raise StopRequested from None
