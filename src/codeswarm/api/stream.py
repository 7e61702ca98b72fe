"""The event streams of ``serve``: Server-Sent Events per swarm and per agent (docs/api.md).

``GET /api/swarms/{swarm}/events`` and ``GET /api/swarms/{swarm}/agents/{agent}/events``. The
:class:`EventHub` keeps one :class:`~codeswarm.api.feed.Feed` per swarm (one router following its
outboxes, shared by every stream of it), started by the first stream that asks for the swarm; a
swarm brought up after ``serve`` started is found then. A swarm whose run directory goes away
(``down --purge``, ``up --replace``) is seen through an inotify watch on the runs directory: its
streams end, and the next request finds the new run.

Where a stream starts: ``Last-Event-ID``, else ``?after=``, else now (:mod:`.sse`). For each
agent, events go out in seq order, none skipped, none repeated, across reconnects and restarts of
``serve`` (the router numbers events from the start of each outbox, the same in every process).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from codeswarm.api import sse
from codeswarm.api.errors import ApiError, error_response
from codeswarm.api.feed import Feed, FeedError, Stream
from codeswarm.core.errors import UsageError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute
    from starlette.types import Receive, Scope, Send

    from codeswarm.api.swarms import SwarmIndex
    from codeswarm.core.swarm import RunDir, SwarmSpec
    from codeswarm.mailbox.inotify import Watch

log = logging.getLogger("codeswarm.api")
T = TypeVar("T")

PING_INTERVAL_S = 15.0
"""A stream quiet for this long gets a ``: ping`` comment."""
TICK_S = 5.0
"""How often the hub looks for quiet streams, stalled ones, and a runs directory to watch."""
STALLED_GRACE_S = 10.0
"""A dropped stream whose client reads nothing for this long more is cut (its connection
closed) instead of waiting for the client forever."""
CLOSE_GRACE_S = 2.0
"""At :meth:`EventHub.aclose`, how long streams get to send their end before they are cut."""
FEED_IDLE_S = 600.0
"""A swarm's feed with no stream for this long stops following (the next stream replays)."""


class _State(enum.Enum):
    NEW = "new"  # constructed: routes may be mounted, nothing runs
    RUNNING = "running"  # started: streams are served
    CLOSED = "closed"  # closed: every stream ended, requests get 503


@dataclass(frozen=True)
class FeedStatistics:
    swarm: str
    streams: int
    """Streams fed live by it now (streams catching up are not counted)."""
    ring: int
    """Events in its ring."""
    vector: tuple[int, ...]
    """Each agent's last seq."""
    modes: dict[str, str]
    """How its outbox directories are followed (``inotify`` on a local filesystem)."""


@dataclass(frozen=True)
class HubStatistics:
    feeds: dict[str, FeedStatistics]
    streams: int
    """Every open stream."""
    runs_watched: bool
    """Whether the runs directory is watched (for swarms that go away)."""


class EventHub:
    """Every event stream of one ``serve``; see the module doc."""

    def __init__(self, index: SwarmIndex) -> None:
        self.index = index
        self._feeds: dict[str, Feed] = {}
        self._streams: set[Stream] = set()
        self._state = _State.NEW
        self._ticker: asyncio.Task[None] | None = None
        self._runs_watch: Watch | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._state is not _State.NEW:
            raise RuntimeError(f"the event hub is {self._state.value}")
        self._state = _State.RUNNING
        self._watch_runs()
        self._ticker = asyncio.create_task(self._tick(), name="codeswarm.api event hub")

    async def aclose(self) -> None:
        """End every stream (each sends what it has queued), stop following. Safe twice."""
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        if self._ticker is not None:
            self._ticker.cancel()
        self._unwatch_runs()
        for feed in list(self._feeds.values()):
            feed.close("serve is shutting down")
        self._feeds.clear()
        for stream in list(self._streams):
            stream.close("serve is shutting down")
        tasks = [s.task for s in self._streams if s.task is not None and not s.task.done()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=CLOSE_GRACE_S)
            for task in late:
                task.cancel()

    def statistics(self) -> HubStatistics:
        return HubStatistics(
            feeds={
                name: FeedStatistics(
                    swarm=name,
                    streams=feed.streams(),
                    ring=feed.ring_size(),
                    vector=tuple(feed.vector),
                    modes=feed.modes(),
                )
                for name, feed in self._feeds.items()
            },
            streams=len(self._streams),
            runs_watched=self._runs_watch is not None,
        )

    def routes(self) -> list[BaseRoute]:
        from starlette.routing import Route

        return [
            Route("/api/swarms/{swarm}/events", self._swarm_events, methods=["GET"]),
            Route("/api/swarms/{swarm}/agents/{agent}/events", self._agent_events, methods=["GET"]),
        ]

    # --- feeds -----------------------------------------------------------------------------------

    async def feed(self, name: str) -> Feed:
        """The ready feed of swarm ``name``, started if need be. :class:`ApiError` 404 for no such
        swarm, 503 when the hub is not running, 500 when its outboxes cannot be read."""
        if self._state is not _State.RUNNING:
            raise ApiError(503, "unavailable", "serve is not streaming events (shutting down)")
        run, spec = self.index.get(name)
        identity = _identity(run, spec)
        feed = self._feeds.get(name)
        if feed is not None and (feed.closed or feed.identity != identity):
            feed.close(f"swarm {name!r} was replaced")
            feed = None
        if feed is None:
            if identity is None:
                raise ApiError(404, "unknown_swarm", f"no swarm {name!r} here")
            feed = self._feeds[name] = Feed(run, spec, identity)
            feed.start()
        try:
            await feed.wait_ready()
        except FeedError as exc:
            if self._feeds.get(name) is feed:
                del self._feeds[name]
            raise ApiError(500, "stream_failed", str(exc)) from None
        return feed

    def _watch_runs(self) -> None:
        """An inotify watch on the runs directory (when it exists, on Linux): a swarm's run
        directory removed or replaced ends its feed at once."""
        if self._runs_watch is not None or not self.index.runs_root.is_dir():
            return
        try:
            from codeswarm.mailbox.inotify import InotifyHub

            self._runs_watch = InotifyHub.for_loop().watch(
                self.index.runs_root, None, self._on_runs_change
            )
        except OSError as exc:  # checked on each tick instead
            log.info("cannot watch %s (%s): checking every %gs", self.index.runs_root, exc, TICK_S)

    def _unwatch_runs(self) -> None:
        if self._runs_watch is not None:
            self._runs_watch.hub.unwatch(self._runs_watch)
            self._runs_watch = None

    def _on_runs_change(self, name: str | None) -> None:
        if name is None:  # the runs directory itself changed (went away): check every feed
            if self._runs_watch is not None and not self._runs_watch.hub.is_watching(
                self._runs_watch
            ):
                self._runs_watch = None
            self._check_feeds()
        elif name in self._feeds:
            self._check_feeds([name])

    def _check_feeds(self, names: list[str] | None = None) -> None:
        for name in names if names is not None else list(self._feeds):
            feed = self._feeds.get(name)
            if feed is not None and (feed.closed or _identity(feed.run) != feed.identity):
                feed.close(f"swarm {name!r} went away")
                del self._feeds[name]

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            for stream in list(self._streams):
                if stream.closed:
                    if now - stream.closed_at > STALLED_GRACE_S and stream.task is not None:
                        stream.task.cancel()  # the client reads nothing: cut the connection
                elif now - stream.last_sent >= PING_INTERVAL_S:
                    stream.push(sse.PING)
            for name, feed in list(self._feeds.items()):
                if feed.users == 0 and now - feed.idle_since > FEED_IDLE_S:
                    feed.close("no stream for a while")
                    del self._feeds[name]
            if self._runs_watch is None:
                self._watch_runs()
                self._check_feeds()

    # --- routes ----------------------------------------------------------------------------------

    async def _swarm_events(self, request: Request) -> Any:
        try:
            types = _types(request)
            feed = await self.feed(request.path_params["swarm"])
            raw = _start(request)
            if raw is None:
                position = list(feed.vector)
            else:
                position = _parsed(lambda: sse.parse_swarm_id(raw, len(feed.agents)))
            stream = Stream(None, types, position)
            _refuse_ahead(feed, stream, raw)
        except ApiError as exc:
            return _error(exc)
        return _EventStream(self, feed, stream, live_only=raw is None)

    async def _agent_events(self, request: Request) -> Any:
        from codeswarm.api.routes.common import agent_of

        try:
            types = _types(request)
            feed = await self.feed(request.path_params["swarm"])
            k = feed.rank[agent_of(feed.spec, request.path_params["agent"])]
            raw = _start(request)
            position = list(feed.vector)
            if raw is not None:
                position[k] = _parsed(lambda: sse.parse_agent_id(raw))
            stream = Stream(k, types, position)
            _refuse_ahead(feed, stream, raw)
        except ApiError as exc:
            return _error(exc)
        return _EventStream(self, feed, stream, live_only=raw is None)


class _EventStream:
    """The ASGI response of one stream: headers, ``retry:``, catching up, then live frames until
    the client goes, the stream is dropped, or ``serve`` stops."""

    def __init__(self, hub: EventHub, feed: Feed, stream: Stream, *, live_only: bool) -> None:
        self.hub = hub
        self.feed = feed
        self.stream = stream
        self.live_only = live_only
        """Opened with no id: its client gets the position it starts from as an id at once, so
        that it can resume even when it drops before the first event."""

    def _position_id(self) -> bytes:
        position = self.stream.position
        k = self.stream.k
        return sse.vector_id(position) if k is None else str(position[k]).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream, feed = self.stream, self.feed
        stream.task = asyncio.current_task()
        self.hub._streams.add(stream)
        feed.users += 1
        watcher = asyncio.create_task(self._watch(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": sse.HEADERS})
            await self._send(send, sse.RETRY)
            if self.live_only:  # a resume point before the first event (an id and no data)
                await self._send(send, sse.mark(self._position_id()))
            try:
                await self._catch_up(send)
            except FeedError as exc:  # the outboxes could not be re-read: end, say why here
                log.warning("event stream of %s ended: %s", feed.name, exc)
                stream.close(str(exc))
            while True:
                await stream.wake.wait()
                stream.wake.clear()
                if stream.pending:
                    await self._send(send, stream.take())
                if stream.closed:
                    break
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if stream.closed:
                return  # cut by the hub: the server closes the connection
            raise
        except OSError as exc:  # the connection broke under the server
            log.info("event stream of %s ended: %s", feed.name, exc)
        finally:
            watcher.cancel()
            feed.detach(stream)
            self.hub._streams.discard(stream)
            feed.users -= 1
            if not feed.users:
                feed.idle_since = time.monotonic()

    async def _catch_up(self, send: Send) -> None:
        """Until the stream is in step with the feed (and fed live by it)."""
        stream, feed = self.stream, self.feed
        while not stream.closed and not feed.attach(stream):
            async with contextlib.aclosing(feed.reread(stream)) as chunks:
                async for chunk in chunks:
                    await self._send(send, chunk)
                    if stream.closed:
                        return

    async def _send(self, send: Send, body: bytes) -> None:
        await send({"type": "http.response.body", "body": body, "more_body": True})
        self.stream.last_sent = time.monotonic()

    async def _watch(self, receive: Receive) -> None:
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        except Exception as exc:  # the server cannot tell any more: treat it as gone
            log.info("event stream of %s: %s", self.feed.name, exc)
        self.stream.close("the client went away", discard=True)


def _identity(run: RunDir, spec: SwarmSpec | None = None) -> tuple[int, int, int] | None:
    """Which run of a swarm this is: its directory's device and inode, and when ``up`` wrote its
    spec (None when it is gone). A feed of another identity is stale: a purged and re-created
    swarm, a relaunch (its outboxes go on, but a new feed costs only a replay)."""
    try:
        st = os.stat(run.root)
        spec = spec or run.load_spec()
    except (OSError, UsageError):
        return None
    return (st.st_dev, st.st_ino, spec.created_ms)


def _start(request: Request) -> str | None:
    return sse.start_id(request.headers.get("last-event-id"), request.query_params.get("after"))


def _parsed(parse: Callable[[], T]) -> T:
    return parse()  # a bad id raises BadEventIdError, an ApiError (400 bad_event_id)


def _types(request: Request) -> frozenset[str] | None:
    return sse.parse_types(request.query_params.get("types"))  # BadTypesError: a 400


def _refuse_ahead(feed: Feed, stream: Stream, raw: str | None) -> None:
    if feed.ahead(stream):
        have = sse.vector_id(feed.vector).decode() if stream.k is None else feed.vector[stream.k]
        raise ApiError(
            400,
            "bad_event_id",
            f"event id {raw!r} is past the events of swarm {feed.name!r} (last: {have}): "
            "an id of another run of it?",
        )


def _error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message)
