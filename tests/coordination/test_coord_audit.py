"""The audit log and waiting for activity (every backend)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from codeswarm.coordination import AuditEvent, Coord


def test_events_filter_by_since_agent_kind_subject(coord: Coord) -> None:
    a, b = coord.register("a"), coord.register("b")
    coord.lease(a, "x")
    coord.lease(b, "y")
    coord.kv_set("k", "v", by=a)
    every = coord.events()
    assert [e.seq for e in every] == sorted(e.seq for e in every)
    assert [e.kind for e in coord.events(agent="a")] == [
        "agent.registered",
        "lease.acquired",
        "kv.set",
    ]
    assert [e.agent for e in coord.events(agent="b#1")] == ["b#1", "b#1"]
    assert [e.subject for e in coord.events(kind="lease.")] == ["x", "y"]
    assert [e.kind for e in coord.events(subject="k")] == ["kv.set"]
    assert coord.events(since=every[-2].seq) == every[-1:]
    assert coord.events(limit=2) == every[:2]
    assert coord.last_seq() == every[-1].seq


def test_wait_returns_at_once_when_there_is_news(coord: Coord) -> None:
    coord.register("a")
    [event] = coord.wait(since=0, timeout=5)
    assert event.kind == "agent.registered"


def test_wait_times_out_empty(coord: Coord) -> None:
    start = time.monotonic()
    assert coord.wait(since=coord.last_seq(), timeout=0.1) == []
    assert time.monotonic() - start >= 0.09


def test_wait_wakes_on_a_commit_from_another_connection(open_coord: Callable[..., Coord]) -> None:
    writer, waiter = open_coord(), open_coord()
    since = waiter.last_seq()
    got: list[list[AuditEvent]] = []
    thread = threading.Thread(
        target=lambda: got.append(waiter.wait(since=since, timeout=20, kind="kv."))
    )
    thread.start()
    writer.register("noise")  # not a kv event: the waiter keeps waiting
    writer.kv_set("k", "v")
    thread.join(30)
    assert not thread.is_alive()
    assert [e.kind for e in got[0]] == ["kv.set"]


async def test_wait_async(open_coord: Callable[..., Coord]) -> None:
    writer, waiter = open_coord(), open_coord()
    since = waiter.last_seq()
    task = asyncio.create_task(waiter.wait_async(since=since, timeout=20))
    await asyncio.sleep(0)
    writer.kv_set("k", "v")
    events = await asyncio.wait_for(task, 30)
    assert [e.kind for e in events] == ["kv.set"]
