"""The worker's coordination link on a real store (every backend): registration, heartbeats,
waking on a message, and acknowledging only when the worker says the turn was accepted."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from codeswarm.coordination import Coord
from codeswarm.core.errors import CoordError, CoordInputError, StoreUnavailableError
from codeswarm.worker.coordlink import CoordLink
from swarmkit import wait_until_async

AGENT = "w_0"
WITHIN = 10.0
"""How long a test waits for something the link does at once."""
QUIET = 60.0
"""A poll interval no test can wait out: what arrives within WITHIN was woken, not polled."""


async def next_record(queue: asyncio.Queue[dict[str, object]]) -> dict[str, object]:
    return await asyncio.wait_for(queue.get(), WITHIN)


async def test_open_registers_and_aclose_deregisters(links, peer: Coord) -> None:  # type: ignore[no-untyped-def]
    link = await links.open(AGENT)
    me = peer.agent(AGENT)
    assert (me.status, me.generation, me.role, me.label) == ("active", 1, "implementer", "swarm t")
    assert me.pid == os.getpid()
    await link.aclose()
    assert [(a.name, a.status) for a in peer.agents(all=True)] == [(AGENT, "deregistered")]
    await link.aclose()  # safe twice
    with pytest.raises(StoreUnavailableError):
        await link.ack(1)
    with pytest.raises(StoreUnavailableError):
        await anext(link.messages())


async def test_a_restarted_worker_adopts_the_live_registration(links, peer: Coord) -> None:  # type: ignore[no-untyped-def]
    first = await links.open(AGENT)
    second = await links.open(AGENT)  # the worker came back while its registration was alive
    assert peer.agent(AGENT).generation == 1
    await first.aclose()
    await second.aclose()
    third = await links.open(AGENT)  # the registration ended: a new generation
    assert peer.agent(AGENT).generation == 2
    await third.aclose()


async def test_a_message_wakes_the_link(links, peer: Coord) -> None:  # type: ignore[no-untyped-def]
    link = await links.open(AGENT, idle_poll_s=QUIET, wait_s=QUIET)
    queue = links.follow(link)
    boss = peer.register("boss")
    first = peer.send(AGENT, "rebase onto main", sender=boss)
    record = await next_record(queue)
    assert record == {
        "id": f"coord-{first.id}",
        "kind": "message",
        "text": f"Message #{first.id} from {boss.id} (codeswarm): rebase onto main",
        "coord_id": first.id,
    }
    second = peer.send(AGENT, "then run the tests")  # no sender
    record = await next_record(queue)  # the next one, not the first again
    assert record["coord_id"] == second.id
    assert str(record["text"]).startswith(f"Message #{second.id} from someone (codeswarm): ")


async def test_a_message_is_acknowledged_only_when_the_worker_says_so(links, peer: Coord) -> None:  # type: ignore[no-untyped-def]
    link = await links.open(AGENT)
    sent = peer.send(AGENT, "review #12")
    assert (await next_record(links.follow(link)))["coord_id"] == sent.id
    assert [m.id for m in peer.inbox(AGENT)] == [sent.id]  # yielded, still unread
    await link.aclose()  # the worker died before its turn was accepted

    again = await links.open(AGENT)
    assert (await next_record(links.follow(again)))["coord_id"] == sent.id  # delivered again
    await again.ack(sent.id)  # its turn was accepted
    assert peer.inbox(AGENT) == []
    assert links.reports == []


async def test_heartbeats_keep_the_registration(links, peer: Coord) -> None:  # type: ignore[no-untyped-def]
    link = await links.open(AGENT, beat_s=0.05, idle_poll_s=0.05, wait_s=0.05)
    joined = peer.agent(AGENT).heartbeat_at
    links.follow(link)
    await wait_until_async(lambda: peer.agent(AGENT).heartbeat_at > joined, WITHIN, "a heartbeat")


async def test_failures_are_reported_and_retried(links, peer: Coord) -> None:  # type: ignore[no-untyped-def]
    link = await links.open(AGENT, beat_s=0.05, idle_poll_s=0.05, wait_s=0.05, retry_s=0.05)
    await link.ack(999_999)  # never delivered to this agent
    (report,) = links.reports
    assert report.startswith("could not acknowledge message 999999: ")
    links.reports.clear()
    links.follow(link)
    peer.deregister(AGENT)  # the registration ended under the running link
    await wait_until_async(lambda: len(links.reports) >= 2, WITHIN, "two failures reported")
    assert all(r.startswith("coordination: ") for r in links.reports)


async def test_open_raises_coord_errors_only(tmp_path: Path) -> None:
    async def open_at(url: str) -> CoordLink:
        return await CoordLink.open(
            url, root=str(tmp_path), agent=AGENT, role="r", label="l", report=print
        )

    with pytest.raises(CoordInputError):
        await open_at("mysql://db.example/coord")
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreUnavailableError):
        await open_at(f"sqlite://{tmp_path}/file/coord.db")
    with pytest.raises(CoordError):
        await open_at(f"sqlite://{tmp_path}/ok.db?journal=sideways")


async def test_the_bell_watcher_connects_at_the_first_ring_and_skips_rings_it_has_seen(
    tmp_path: Path,
) -> None:
    """SQLite: an idle link holds no second connection until a message rings the bell (a fleet
    starts without them); from then on a ring with nothing new wakes nothing."""
    from codeswarm.worker.coordlink import Cadence, _FileWake

    peer = Coord.open(str(tmp_path / "coord.db"), root=str(tmp_path))
    wake = _FileWake(Path(peer.store.path), Cadence(idle_poll_s=QUIET))
    try:
        await wake.mark()
        assert wake._db is None
        boss = peer.register("boss")
        peer.register(AGENT)
        peer.send(AGENT, "hello", sender=boss)  # rings
        await asyncio.wait_for(wake.wait(), WITHIN)
        assert wake._db is not None
        await wake.mark()
        peer.store.ring_bell()  # a ring for what was seen already
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(wake.wait(), 0.3)
    finally:
        wake.close()
        peer.close()


async def test_commits_that_send_nothing_make_no_event_for_the_link(tmp_path: Path) -> None:
    """The bell has a directory of its own: the commits of N agents starting (registrations,
    heartbeats, leases) are no inotify event for any link (each was one for every link)."""
    import select

    from codeswarm.mailbox.inotify import InotifyHub
    from codeswarm.worker.coordlink import Cadence, _FileWake

    peer = Coord.open(str(tmp_path / "coord.db"), root=str(tmp_path))
    wake = _FileWake(Path(peer.store.path), Cadence(idle_poll_s=QUIET))
    hub = InotifyHub.for_loop()
    try:
        boss = peer.register("boss")
        for i in range(5):
            peer.register(f"w_{i}")
            peer.heartbeat(boss)
            peer.lease(boss, f"src/{i}.py")
        assert select.select([hub.fd], [], [], 0.2)[0] == []
        peer.send("w_0", "hello", sender=boss)
        assert select.select([hub.fd], [], [], WITHIN)[0] == [hub.fd]
    finally:
        wake.close()
        peer.close()
