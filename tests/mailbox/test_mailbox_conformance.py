"""The one conformance suite every mailbox transport passes (local files with inotify, local files
polled, memory, and ssh to a real sshd on 127.0.0.1)."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mbhelp import nothing_more, take

from codeswarm.mailbox import (
    Box,
    CorruptLine,
    Delivery,
    Layout,
    LocalTransport,
    MemoryStore,
    MemoryTransport,
    Position,
    Transport,
)
from codeswarm.mailbox.ssh import SshTransport


class Harness:
    """A transport plus what a test needs beside it: raw bytes (a torn or corrupt line, written
    behind the writer's back) and a restart (a new transport on the same storage)."""

    def __init__(self, kind: str, tmp_path: Path, sshd: Any = None) -> None:
        self.kind = kind
        self.sshd = sshd
        self.layout = Layout(tmp_path / "run")
        self.store = MemoryStore()
        self.transport: Transport = self._make()

    def _make(self) -> Transport:
        if self.kind == "memory":
            return MemoryTransport(self.store)
        if self.kind == "ssh":  # the far end is this host: raw writes go to the same files
            url = self.sshd.url(self.layout.run_dir)
            opts = self.sshd.options()
            return SshTransport(
                url, python=sys.executable, poll_interval=0.01, rotate_bytes=None, **opts
            )
        mode = "inotify" if self.kind == "local-inotify" else "poll"
        return LocalTransport(self.layout, mode=mode, poll_interval=0.01, rotate_bytes=None)

    def write_raw(self, box: Box, agent: str, data: bytes) -> None:
        if self.kind == "memory":
            self.store.write_raw(box, agent, data)
            return
        fd = os.open(self.layout.path(box, agent), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    async def restart(self) -> Transport:
        await self.transport.aclose()
        self.transport = self._make()
        return self.transport


@pytest.fixture(params=["local-inotify", "local-poll", "memory", "ssh"])
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    sshd = request.getfixturevalue("sshd") if request.param == "ssh" else None
    harness = Harness(request.param, tmp_path, sshd)
    yield harness
    await harness.transport.aclose()


async def append_n(
    t: Transport, n: int, agent: str = "a_0", box: Box = "outbox", **fields: Any
) -> list[dict[str, Any]]:
    return [await t.append(box, agent, {"kind": "n", "i": i, **fields}) for i in range(n)]


async def test_append_then_follow_delivers_in_order(h: Harness) -> None:
    t = h.transport
    written = await append_n(t, 20)
    assert [r["seq"] for r in written] == list(range(1, 21))
    assert len({r["id"] for r in written}) == 20
    stream = t.follow("outbox", "a_0")
    got = await take(stream, 20)
    assert all(isinstance(d, Delivery) and d.agent == "a_0" for d in got)
    assert [d.record for d in got] == written
    positions = [d.position for d in got]
    assert positions == sorted(positions) and len(set(positions)) == 20
    await nothing_more(stream, 0.05)
    await stream.aclose()


async def test_a_follower_waits_for_appends(h: Harness) -> None:
    t = h.transport
    stream = t.follow("inbox", "a_0")
    await nothing_more(stream, 0.05)
    await t.append("inbox", "a_0", {"kind": "prompt", "text": "go"})
    [d] = await take(stream, 1)
    assert d.record["text"] == "go" and d.record["seq"] == 1
    await stream.aclose()


async def test_follow_from_a_position(h: Harness) -> None:
    t = h.transport
    await append_n(t, 10)
    first = await take(t.follow("outbox", "a_0"), 10)
    stream = t.follow("outbox", "a_0", first[3].position)
    rest = await take(stream, 6)
    assert [d.record["i"] for d in rest] == list(range(4, 10))
    assert [d.position for d in rest] == [d.position for d in first[4:]]
    await stream.aclose()


async def test_ends_are_where_only_new_records_start(h: Harness) -> None:
    t = h.transport
    await append_n(t, 5)
    before = await t.ends("outbox")
    first = await take(t.follow("outbox", "a_0"), 5)
    assert before == {"a_0": first[-1].position}
    await append_n(t, 2)
    stream = t.follow_all("outbox", positions=before)
    new = await take(stream, 2)
    assert [d.record["seq"] for d in new] == [6, 7]
    await stream.aclose()


async def test_resume_from_a_saved_cursor_after_a_crash(h: Harness) -> None:
    t = h.transport
    await append_n(t, 30)
    acted: list[int] = []
    stream = t.follow("outbox", "a_0", await t.load_cursor("router", "outbox", "a_0"))
    for d in await take(stream, 12):
        acted.append(d.record["seq"])  # act ...
        if d.record["seq"] < 12:
            await t.save_cursor("router", "outbox", "a_0", d.position)  # ... then save
    del stream  # the crash: acted on 12, never saved it
    t = await h.restart()
    await append_n(t, 5)
    stream = t.follow("outbox", "a_0", await t.load_cursor("router", "outbox", "a_0"))
    for d in await take(stream, 24):
        acted.append(d.record["seq"])
        await t.save_cursor("router", "outbox", "a_0", d.position)
    await nothing_more(stream, 0.05)
    assert acted == [*range(1, 13), *range(12, 36)]  # 12 again, nothing lost
    await stream.aclose()


async def test_a_partial_line_is_waited_for(h: Harness) -> None:
    t = h.transport
    await append_n(t, 1)
    stream = t.follow("outbox", "a_0")
    await take(stream, 1)
    line = b'{"seq": 2, "id": "x", "kind": "split"}\n'
    h.write_raw("outbox", "a_0", line[:15])
    await nothing_more(stream, 0.05)
    h.write_raw("outbox", "a_0", line[15:])
    [d] = await take(stream, 1)
    assert d.record == {"seq": 2, "id": "x", "kind": "split"}
    await stream.aclose()


async def test_a_corrupt_line_is_reported_and_skipped(h: Harness) -> None:
    t = h.transport
    reports: list[tuple[str, CorruptLine]] = []
    stream = t.follow("outbox", "a_0", on_corrupt=lambda agent, bad: reports.append((agent, bad)))
    await append_n(t, 1)
    h.write_raw("outbox", "a_0", b"}{ not a record\n")
    await append_n(t, 1)
    got = await take(stream, 2)
    assert [d.record["seq"] for d in got] == [1, 2]
    [(agent, bad)] = reports
    assert agent == "a_0" and bad.text == "}{ not a record" and "not JSON" in bad.reason
    assert got[0].position == bad.position and bad.end < got[1].position
    await stream.aclose()


async def test_a_torn_line_then_a_restarted_writer(h: Harness) -> None:
    t = h.transport
    await append_n(t, 3)
    h.write_raw("outbox", "a_0", b'{"seq": 4, "id": "torn", "ki')  # the writer died mid-write
    reports: list[tuple[str, CorruptLine]] = []
    t = await h.restart()
    stream = t.follow("outbox", "a_0", on_corrupt=lambda agent, bad: reports.append((agent, bad)))
    await take(stream, 3)
    rec = await t.append("outbox", "a_0", {"kind": "after"})
    assert rec["seq"] == 4
    [d] = await take(stream, 1)
    assert d.record == rec
    assert len(reports) == 1 and "torn" in reports[0][1].text
    await stream.aclose()


async def test_rotation_loses_and_repeats_nothing(h: Harness) -> None:
    t = h.transport
    await append_n(t, 5)
    stream = t.follow("outbox", "a_0")
    got = await take(stream, 2)
    assert await t.rotate("outbox", "a_0") == 0
    await append_n(t, 3, tag="b")
    assert await t.rotate("outbox", "a_0") == 1
    assert await t.rotate("outbox", "a_0") is None
    await append_n(t, 2, tag="c")
    got += await take(stream, 8)
    await nothing_more(stream, 0.05)
    assert [d.record["seq"] for d in got] == list(range(1, 11))
    assert [d.position.segment for d in got] == [0] * 5 + [1] * 3 + [2] * 2
    resumed = await take(t.follow("outbox", "a_0", got[3].position), 6)
    assert [d.record["seq"] for d in resumed] == list(range(5, 11))
    await stream.aclose()


async def test_follow_all_sees_every_agent_in_order_and_new_ones(h: Harness) -> None:
    t = h.transport
    await append_n(t, 3, agent="a_0")
    await append_n(t, 3, agent="a_1")
    stream = t.follow_all("outbox")
    got = await take(stream, 6)
    await append_n(t, 2, agent="a_2")
    await append_n(t, 2, agent="a_0")
    got += await take(stream, 4)
    for agent, n in (("a_0", 5), ("a_1", 3), ("a_2", 2)):
        assert [d.record["seq"] for d in got if d.agent == agent] == list(range(1, n + 1))
    assert await t.agents("outbox") == ["a_0", "a_1", "a_2"]
    await stream.aclose()


async def test_follow_all_starts_from_a_consumers_cursors(h: Harness) -> None:
    t = h.transport
    await append_n(t, 4, agent="a_0")
    await append_n(t, 4, agent="a_1")
    seen = await take(t.follow("outbox", "a_0"), 4)
    await t.save_cursor("router", "outbox", "a_0", seen[2].position)
    assert await t.load_cursor("router", "outbox", "a_0") == seen[2].position
    assert await t.load_cursor("router", "outbox", "a_1") == Position.start()
    stream = t.follow_all("outbox", consumer="router", positions={"a_1": Position.start()})
    got = await take(stream, 5)
    await nothing_more(stream, 0.05)
    assert sorted((d.agent, d.record["seq"]) for d in got) == [
        ("a_0", 4),
        *(("a_1", i) for i in range(1, 5)),
    ]
    await stream.aclose()


async def test_a_big_record_arrives_whole(h: Harness) -> None:
    t = h.transport
    body = "z" * 1_000_000
    rec = await t.append("outbox", "a_0", {"kind": "codex", "msg": {"body": body}})
    [d] = await take(t.follow("outbox", "a_0"), 1)
    assert d.record == rec and d.record["msg"]["body"] == body


async def test_aclose_ends_a_waiting_stream(h: Harness) -> None:
    stream = h.transport.follow("outbox", "a_0")
    await nothing_more(stream, 0.02)
    await stream.aclose()
    await stream.aclose()
    assert [d async for d in stream] == []
