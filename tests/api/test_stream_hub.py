"""The event hub in process (codeswarm.api.stream + feed): a real uvicorn on loopback serving the
hub's two routes over synthetic run directories whose outboxes a test appends to, so the ring,
the re-read from the outboxes, slow clients, filters and swarms coming and going are exercised
without Codex. (tests/api/test_stream.py does it against a live ``serve`` over real swarms.)"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn
from sseclient import Frames, assert_once_in_order, keys
from starlette.applications import Starlette

from codeswarm.api import feed as feed_mod
from codeswarm.api import stream as stream_mod
from codeswarm.api.stream import EventHub
from codeswarm.api.swarms import SwarmIndex
from codeswarm.core.swarm import RunDir, SwarmSpec
from codeswarm.mailbox import Layout, Writer
from swarmkit import wait_until_async

WAIT_S = 60.0


class Fleet:
    """Synthetic swarms under one state directory: a spec and one outbox writer per agent."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.index = SwarmIndex(root)
        self.writers: dict[str, list[Writer]] = {}
        self.sent: dict[str, int] = {}

    def make(self, name: str, size: int) -> list[str]:
        run = RunDir(self.index.runs_root / name)
        run.root.mkdir(parents=True, mode=0o700)
        Layout(run.root).create()
        spec = SwarmSpec(name=name, size=size, cwd=str(self.root), codex_bin="/bin/true")
        run.spec_path.write_bytes(msgspec.json.encode(spec))
        self.writers[name] = [Writer.open(Layout(run.root).outbox(a)) for a in run.agents(spec)]
        return run.agents(spec)

    def emit(self, name: str, n: int, *, text: str = "", completed_every: int = 0) -> None:
        """``n`` records round-robin over the agents: deltas, every ``completed_every``-th an
        agent message completed. Each record is one event."""
        t = {"threadId": "th", "turnId": "tu"}
        for _ in range(n):
            i = self.sent[name] = self.sent.get(name, 0) + 1
            writers = self.writers[name]
            if completed_every and i % completed_every == 0:
                item = {"type": "agentMessage", "id": f"m{i}", "text": f"done {i}"}
                msg: dict[str, Any] = {"method": "item/completed", "params": {**t, "item": item}}
            else:
                msg = {
                    "method": "item/agentMessage/delta",
                    "params": {**t, "itemId": "m", "delta": f"d{i} {text}"},
                }
            writers[i % len(writers)].append("codex", msg=msg)

    def close(self) -> None:
        for writers in self.writers.values():
            for w in writers:
                w.close()

    def expected(self, name: str) -> set[tuple[str, int]]:
        """Every (agent, seq) the swarm's outboxes stand for now."""
        from codeswarm.control.fleet.router import Router

        out: set[tuple[str, int]] = set()
        Router(RunDir(self.index.runs_root / name), start="begin").replay(
            lambda e: out.add((e["agent"], e["seq"]))
        )
        return out


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    monkeypatch.setenv("CODESWARM_STATE_DIR", str(tmp_path / "state"))
    f = Fleet(tmp_path)
    yield f
    f.close()


@contextlib.asynccontextmanager
async def serving(hub: EventHub) -> AsyncIterator[httpx.AsyncClient]:
    """The hub's routes on a real uvicorn (loopback, any port), and a client on it."""
    await hub.start()
    config = uvicorn.Config(
        Starlette(routes=hub.routes()),
        host="127.0.0.1", port=0, log_level="warning", lifespan="off",
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_until_async(lambda: server.started or task.done(), WAIT_S, "uvicorn to listen")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=WAIT_S) as c:
            yield c
    finally:
        await hub.aclose()
        server.should_exit = True
        await task


async def read(
    client: httpx.AsyncClient,
    path: str,
    until: int,
    *,
    last_id: str | None = None,
    params: dict[str, str] | None = None,
    frames: Frames | None = None,
) -> Frames:
    """Stream ``path`` until ``until`` frames arrived on this connection, then drop it."""
    frames = frames or Frames()
    headers = {"Last-Event-ID": last_id} if last_id is not None else {}
    got = 0
    async with client.stream("GET", path, headers=headers, params=params) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"] == "text/event-stream"
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["x-accel-buffering"] == "no"
        async for chunk in r.aiter_raw():
            got += len(frames.feed(chunk))
            if got >= until:
                break
    assert frames.retry == 1000
    return frames


async def test_resume_from_the_ring_and_from_the_outboxes_exactly_once(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed_mod, "RING_EVENTS", 20)
    monkeypatch.setattr(feed_mod, "REREAD_BATCH", 7)  # several chunks per re-read
    agents = fleet.make("s", 3)
    fleet.emit("s", 100)
    hub = EventHub(fleet.index)
    async with serving(hub) as c:
        # from the beginning: older than the ring, so re-read from the outboxes, then the ring
        first = await read(c, "/api/swarms/s/events", 100, params={"after": "0"})
        assert_once_in_order(first.events, fleet.expected("s"), agents)
        assert first.last_id == "33.34.33"
        # dropped after 90 of them; resumed by id: the ring (20 events) still reaches back
        part = Frames(first.events[:90])
        fleet.emit("s", 10)  # meanwhile
        rest = await read(c, "/api/swarms/s/events", 20, last_id=part.last_id)
        assert_once_in_order(part.events + rest.events, fleet.expected("s"), agents)
        # resumed from an id the ring no longer reaches (30 frames in): re-read, then live
        part = Frames(first.events[:30])
        fleet.emit("s", 5)
        rest = await read(c, "/api/swarms/s/events", 85, last_id=after_id(part))
        assert_once_in_order(part.events + rest.events, fleet.expected("s"), agents)
        # per agent: ids are the agent's seqs; a shorter id vector means 0 for the rest
        one = await read(c, "/api/swarms/s/agents/s_1/events", 39, params={"after": "0"})
        assert_once_in_order(one.events, {k for k in fleet.expected("s") if k[0] == "s_1"})
        again = await read(c, "/api/swarms/s/agents/1/events", 3, last_id="36")
        assert keys(again.events) == [("s_1", 37), ("s_1", 38), ("s_1", 39)]
        short = await read(c, "/api/swarms/s/events", 2, params={"after": "38"})
        assert short.events[0] == ("38.1.0", short.events[0][1])  # agent by agent: a re-read
        assert keys(short.events)[:2] == [("s_1", 1), ("s_1", 2)]
        stats = hub.statistics()
        assert set(stats.feeds["s"].modes.values()) == {"inotify"}  # no polling
        assert stats.feeds["s"].ring == 20 and stats.runs_watched


def after_id(frames: Frames) -> str:
    assert frames.last_id is not None
    return frames.last_id


async def test_live_only_and_the_types_filter(fleet: Fleet) -> None:
    agents = fleet.make("s", 2)
    fleet.emit("s", 10, completed_every=3)
    hub = EventHub(fleet.index)
    async with serving(hub) as c:
        before = fleet.expected("s")
        live = asyncio.create_task(read(c, "/api/swarms/s/events", 6))
        only = asyncio.create_task(
            read(c, "/api/swarms/s/events", 2, params={"types": "message.completed"})
        )
        await wait_until_async(lambda: hub.statistics().streams == 2, WAIT_S, "both streams")
        fleet.emit("s", 6, completed_every=3)
        got, filtered = await live, await only
        assert_once_in_order(got.events, fleet.expected("s") - before, agents)
        # a live stream says where it starts before any event (an id, no data): a client that
        # drops before the first event resumes from there and misses nothing
        start = ".".join(str(max(q for a, q in before if a == name)) for name in agents)
        assert got.marks == [start] and filtered.marks == [start]
        again = await read(c, "/api/swarms/s/events", 6, last_id=got.marks[0])
        assert keys(again.events) == keys(got.events)
        assert [e["type"] for _, e in filtered.events] == ["message.completed"] * 2
        # the filtered stream's ids are the swarm's vectors (the unfiltered stream's, for the
        # same events): resuming from them loses nothing
        ids = {(e["agent"], e["seq"]): eid for eid, e in got.events}
        assert [eid for eid, _ in filtered.events] == [ids[k] for k in keys(filtered.events)]
        fleet.emit("s", 6, completed_every=3)
        more = await read(
            c, "/api/swarms/s/events", 2, last_id=after_id(filtered),
            params={"types": "message.completed"},
        )  # fmt: skip
        assert sorted((e["type"], e["text"]) for _, e in more.events) == [
            ("message.completed", "done 18"),
            ("message.completed", "done 21"),
        ]


async def test_bad_requests_answer_one_json_line(fleet: Fleet) -> None:
    fleet.make("s", 2)
    fleet.emit("s", 4)
    hub = EventHub(fleet.index)
    async with serving(hub) as c:
        cases = [
            ("/api/swarms/s/events", {"Last-Event-ID": "1.2.3"}, {}, 400, "bad_event_id"),
            ("/api/swarms/s/events", {}, {"after": "a.b"}, 400, "bad_event_id"),
            ("/api/swarms/s/events", {}, {"after": ""}, 400, "bad_event_id"),
            ("/api/swarms/s/events", {}, {"after": "9"}, 400, "bad_event_id"),  # past the end
            ("/api/swarms/s/agents/0/events", {}, {"after": "1.0"}, 400, "bad_event_id"),
            ("/api/swarms/s/events", {}, {"types": "nope"}, 400, "bad_request"),
            ("/api/swarms/s/agents/5/events", {}, {}, 404, "unknown_agent"),
            ("/api/swarms/zz/events", {}, {}, 404, "unknown_swarm"),
        ]
        for path, headers, params, status, code in cases:
            r = await c.get(path, headers=headers, params=params)
            body = r.json()
            assert (r.status_code, body["error"]["code"]) == (status, code), (path, params, body)
            assert "\n" not in body["error"]["message"]


async def test_a_slow_client_is_dropped_and_resumes_by_id(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed_mod, "STREAM_MAX_BYTES", 64 * 1024)
    monkeypatch.setattr(stream_mod, "TICK_S", 0.1)
    monkeypatch.setattr(stream_mod, "STALLED_GRACE_S", 0.5)
    agents = fleet.make("s", 2)
    hub = EventHub(fleet.index)
    async with serving(hub) as c:
        port = c.base_url.port
        assert port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/swarms/s/events?after=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await wait_until_async(lambda: hub.statistics().streams == 1, WAIT_S, "the stream")
        big = "x" * 4000
        while hub.statistics().streams:  # it reads nothing: its queue grows until dropped
            fleet.emit("s", 50, text=big)
            await asyncio.sleep(0.05)
        raw = await reader.read()  # what it was sent before the drop, then the end
        writer.close()
        await writer.wait_closed()
        body = dechunk(raw.split(b"\r\n\r\n", 1)[1])
        frames = Frames()
        frames.feed(body)
        assert frames.events and len(frames.events) < fleet.sent["s"]
        rest = await read(
            c,
            "/api/swarms/s/events",
            fleet.sent["s"] - len(frames.events),
            last_id=after_id(frames),
        )
        assert_once_in_order(frames.events + rest.events, fleet.expected("s"), agents)


def dechunk(data: bytes) -> bytes:
    """The body of a chunked HTTP/1.1 response (a cut-off last chunk left out)."""
    out, pos = [], 0
    while (eol := data.find(b"\r\n", pos)) >= 0:
        size = int(data[pos:eol], 16)
        if size == 0 or eol + 2 + size > len(data):
            break
        out.append(data[eol + 2 : eol + 2 + size])
        pos = eol + 2 + size + 2
    return b"".join(out)


async def test_swarms_appear_and_go_away(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_mod, "PING_INTERVAL_S", 0.2)
    monkeypatch.setattr(stream_mod, "TICK_S", 0.1)
    fleet.index.runs_root.mkdir(parents=True)
    hub = EventHub(fleet.index)
    async with serving(hub) as c:
        assert hub.statistics().runs_watched
        fleet.make("late", 1)  # brought up after serve started: found on request
        fleet.emit("late", 3)
        got = await read(c, "/api/swarms/late/events", 3, params={"after": "0"})
        assert keys(got.events) == [("late_0", 1), ("late_0", 2), ("late_0", 3)]
        # quiet streams get pings; a swarm purged ends its streams
        frames = Frames()
        async with c.stream("GET", "/api/swarms/late/events") as r:
            chunks = r.aiter_raw()
            async for chunk in chunks:
                frames.feed(chunk)
                if frames.pings >= 2:
                    break
            for w in fleet.writers.pop("late"):
                w.close()
            shutil.rmtree(fleet.index.runs_root / "late")
            async for chunk in chunks:  # ends
                frames.feed(chunk)
        assert frames.events == []
        assert "late" not in hub.statistics().feeds
        r2 = await c.get("/api/swarms/late/events")
        assert r2.status_code == 404
        # brought up again under the same name: a new run, new streams
        fleet.make("late", 2)
        fleet.emit("late", 2)
        again = await read(c, "/api/swarms/late/events", 2, params={"after": "0"})
        assert again.last_id == "1.1"


async def test_an_unused_feed_stops_and_a_resume_starts_it_again(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_mod, "TICK_S", 0.1)
    monkeypatch.setattr(stream_mod, "FEED_IDLE_S", 0.3)
    agents = fleet.make("s", 2)
    fleet.emit("s", 6)
    hub = EventHub(fleet.index)
    async with serving(hub) as c:
        first = await read(c, "/api/swarms/s/events", 4, params={"after": "0"})
        del first.events[4:]
        await wait_until_async(lambda: "s" not in hub.statistics().feeds, WAIT_S, "it to stop")
        fleet.emit("s", 2)
        rest = await read(c, "/api/swarms/s/events", 4, last_id=after_id(first))
        assert_once_in_order(first.events + rest.events, fleet.expected("s"), agents)


async def test_closing_the_hub_ends_every_stream(fleet: Fleet) -> None:
    fleet.make("a", 1)
    fleet.make("b", 2)
    hub = EventHub(fleet.index)
    async with serving(hub) as c:

        async def until_end(path: str) -> Frames:
            frames = Frames()
            async with c.stream("GET", path, params={"after": "0"}) as r:
                async for chunk in r.aiter_raw():
                    frames.feed(chunk)
            return frames

        streams = [
            asyncio.create_task(until_end(p))
            for p in [
                "/api/swarms/a/events",
                "/api/swarms/b/events",
                "/api/swarms/b/agents/1/events",
            ]
        ]
        await wait_until_async(lambda: hub.statistics().streams == 3, WAIT_S, "three streams")
        fleet.emit("a", 2)
        fleet.emit("b", 2)
        await hub.aclose()
        ended = await asyncio.wait_for(asyncio.gather(*streams), WAIT_S)
        # each got what was sent before the close (unless it came after: then nothing of it)
        assert all(f.retry == 1000 for f in ended)
        r = await c.get("/api/swarms/a/events")
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
        await hub.aclose()  # twice is fine


def test_the_documented_limits() -> None:
    """docs/api.md states these: keep them in step."""
    assert feed_mod.RING_EVENTS == 10_000
    assert feed_mod.STREAM_MAX_BYTES == 8 * 1024 * 1024
    assert feed_mod.COALESCE_S == 0.005
    assert stream_mod.PING_INTERVAL_S == 15.0
    assert stream_mod.FEED_IDLE_S == 600.0
