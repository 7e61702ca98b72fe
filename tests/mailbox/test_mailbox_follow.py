"""Follower and FollowerGroup: inotify and polling deliver, in order, from any position."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from mbhelp import nothing_more, take

from codeswarm.mailbox import (
    CorruptLine,
    Follower,
    FollowerGroup,
    Layout,
    MailboxError,
    MailboxInputError,
    Position,
    Writer,
)
from codeswarm.mailbox.inotify import InotifyHub, is_remote_filesystem
from swarmkit import wait_until_async

MODES = ["inotify", "poll"]


def inotify_fds() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify":
                n += 1
        except OSError:
            pass
    return n


@pytest.mark.parametrize("mode", MODES)
async def test_follower_delivers_appends_in_order(outbox: Path, mode: str) -> None:
    with Writer.open(outbox) as w:
        w.append("before")
        async with Follower(outbox, mode=mode, poll_interval=0.01) as f:  # type: ignore[arg-type]
            [(first, pos)] = await take(f, 1)
            assert first["kind"] == "before" and f.position == pos
            assert f.mode == mode
            await nothing_more(f, 0.05)
            for i in range(50):
                w.append("tok", i=i)
            got = await take(f, 50)
            assert [rec["i"] for rec, _ in got] == list(range(50))
            assert f.position == got[-1][1] == w.position


@pytest.mark.parametrize("mode", MODES)
async def test_follower_waits_for_the_file_to_be_created(outbox: Path, mode: str) -> None:
    async with Follower(outbox, mode=mode, poll_interval=0.01) as f:  # type: ignore[arg-type]
        waiting = asyncio.ensure_future(take(f, 2))
        await wait_until_async(lambda: f.mode != "pending", what="the follower to wait")
        assert not outbox.exists()
        with Writer.open(outbox) as w:
            w.append("one")
            w.append("two")
        got = await waiting
    assert [rec["kind"] for rec, _ in got] == ["one", "two"]


@pytest.mark.parametrize("mode", MODES)
async def test_follower_resumes_from_a_position(outbox: Path, mode: str) -> None:
    with Writer.open(outbox) as w:
        for i in range(10):
            w.append("n", i=i)
        async with Follower(outbox, mode=mode, poll_interval=0.01) as f:  # type: ignore[arg-type]
            got = await take(f, 4)
        resume = got[-1][1]
        async with Follower(outbox, resume, mode=mode, poll_interval=0.01) as f:  # type: ignore[arg-type]
            rest = await take(f, 6)
            w.append("n", i=10)
            [(last, _)] = await take(f, 1)
    assert [rec["i"] for rec, _ in rest] == list(range(4, 10)) and last["i"] == 10


@pytest.mark.parametrize("mode", MODES)
async def test_follower_waits_on_partial_lines_and_reports_corrupt_ones(
    outbox: Path, mode: str
) -> None:
    reports: list[CorruptLine] = []
    with Writer.open(outbox) as w:
        async with Follower(outbox, mode=mode, poll_interval=0.01, on_corrupt=reports.append) as f:  # type: ignore[arg-type]
            fd = os.open(outbox, os.O_WRONLY | os.O_APPEND)
            os.write(fd, b'{"seq": 100, "id": "p", "kind": "sp')
            await nothing_more(f, 0.05)
            os.write(fd, b'lit"}\ngarbage\n')
            os.close(fd)
            [(rec, _)] = await take(f, 1)
            assert rec["kind"] == "split"
            w.append("after")
            [(after, _)] = await take(f, 1)
            assert after["kind"] == "after"
            assert [r.text for r in reports] == ["garbage"] and list(f.corrupt) == reports


async def test_close_ends_a_waiting_iteration(outbox: Path) -> None:
    f = Follower(outbox, mode="inotify")
    waiter = asyncio.ensure_future(anext(f, None))
    await wait_until_async(lambda: f.mode != "pending", what="the follower to wait")
    f.close()
    assert await asyncio.wait_for(waiter, 5) is None
    f.close()  # twice is fine
    assert [x async for x in f] == []


async def test_followers_share_one_inotify_descriptor(layout: Layout) -> None:
    before = inotify_fds()
    followers = [Follower(layout.outbox(f"a_{i}"), mode="inotify") for i in range(20)]
    waits = [asyncio.ensure_future(anext(f)) for f in followers]
    await wait_until_async(
        lambda: all(f.mode == "inotify" for f in followers), what="every follower to watch"
    )
    assert inotify_fds() == before + 1
    hub = InotifyHub.for_loop()
    assert hub.watched_directories == 1
    with Writer.open(layout.outbox("a_7")) as w:
        w.append("x")
    done, _ = await asyncio.wait(waits, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    assert [waits.index(t) for t in done] == [7]
    for f in followers:
        f.close()
    await asyncio.gather(*waits, return_exceptions=True)
    assert inotify_fds() == before  # the last one out closed it


async def test_group_follows_a_directory_including_new_agents(layout: Layout) -> None:
    writers = {a: Writer.open(layout.outbox(a)) for a in ("a_0", "a_1")}
    writers["a_0"].append("hello")
    try:
        async with FollowerGroup(mode="inotify") as group:
            group.add_directory(layout.outbox_dir)
            [d] = await take(group, 1)
            assert d.agent == "a_0" and d.record["kind"] == "hello"
            writers["a_2"] = Writer.open(layout.outbox("a_2"))  # an agent that appears later
            writers["a_2"].append("new")
            writers["a_1"].append("late")
            got = await take(group, 2)
            assert sorted((d.agent, d.record["kind"]) for d in got) == [
                ("a_1", "late"),
                ("a_2", "new"),
            ]
            assert sorted(group.keys()) == ["a_0", "a_1", "a_2"]
            assert group.position("a_2") == writers["a_2"].position
            assert group.modes() == {str(layout.outbox_dir): "inotify"}
    finally:
        for w in writers.values():
            w.close()


async def test_group_in_poll_mode_discovers_and_delivers(layout: Layout) -> None:
    async with FollowerGroup(mode="poll", poll_interval=0.01) as group:
        group.add_directory(layout.outbox_dir, position_for=lambda agent: Position.start())
        waiting = asyncio.ensure_future(take(group, 3))
        await wait_until_async(lambda: group.modes() == {str(layout.outbox_dir): "poll"})
        for a in ("p_0", "p_1", "p_2"):
            with Writer.open(layout.outbox(a)) as w:
                w.append("hi")
        got = await waiting
        assert sorted(d.agent for d in got) == ["p_0", "p_1", "p_2"]
        assert set(group.modes().values()) == {"poll"}


async def test_group_is_fair_to_a_quiet_file_behind_a_backlog(layout: Layout) -> None:
    with Writer.open(layout.outbox("busy")) as busy, Writer.open(layout.outbox("quiet")) as quiet:
        for i in range(3000):
            busy.append("tok", i=i, pad="x" * 200)
        quiet.append("urgent")
        async with FollowerGroup(mode="inotify", batch_bytes=64 * 1024) as group:
            group.add("busy", layout.outbox("busy"))
            group.add("quiet", layout.outbox("quiet"))
            order = [d.agent for d in await take(group, 3001)]
    assert order.index("quiet") < 1000
    assert order.count("busy") == 3000


async def test_group_add_remove_and_refusals(layout: Layout) -> None:
    group = FollowerGroup(mode="poll", poll_interval=0.01)
    group.add("a", layout.outbox("a"))
    with pytest.raises(MailboxError, match="already followed"):
        group.add("a", layout.outbox("a"))
    group.remove("a")
    group.remove("a")
    assert group.keys() == []
    group.close()
    with pytest.raises(MailboxError, match="closed"):
        group.add("b", layout.outbox("b"))
    with pytest.raises(MailboxInputError, match="mode"):
        FollowerGroup(mode="sometimes")  # type: ignore[arg-type]


async def test_explicit_inotify_on_a_missing_directory_is_refused(tmp_path: Path) -> None:
    f = Follower(tmp_path / "nowhere" / "a.jsonl", mode="inotify")
    with pytest.raises(MailboxError, match="inotify"):
        await anext(f)
    f.close()


@pytest.mark.parametrize(("remote", "mode"), [(None, "inotify"), ("nfs", "poll")])
async def test_auto_mode_uses_inotify_locally_and_polls_on_a_network_filesystem(
    outbox: Path, monkeypatch: pytest.MonkeyPatch, remote: str | None, mode: str
) -> None:
    from codeswarm.mailbox import inotify

    if remote is None:
        assert is_remote_filesystem(outbox.parent) is None  # the test's directory is local
    else:
        monkeypatch.setattr(inotify, "is_remote_filesystem", lambda path: remote)
    async with Follower(outbox, poll_interval=0.01) as f:
        waiting = asyncio.ensure_future(take(f, 1))
        await wait_until_async(lambda: f.mode != "pending", what="the follower to wait")
        assert f.mode == mode
        with Writer.open(outbox) as w:
            w.append("x")
        await waiting


async def test_a_deleted_and_recreated_directory_is_watched_again(tmp_path: Path) -> None:
    import shutil

    layout = Layout(tmp_path / "run").create()
    group = FollowerGroup(mode="auto", poll_interval=0.01)
    group.add_directory(layout.outbox_dir)
    waiting = asyncio.ensure_future(take(group, 1))
    await wait_until_async(lambda: group.modes() == {str(layout.outbox_dir): "inotify"})
    shutil.rmtree(layout.outbox_dir)
    layout.create()
    with Writer.open(layout.outbox("a_0")) as w:
        w.append("again")
    [d] = await waiting
    assert d.agent == "a_0" and d.record["kind"] == "again"
    group.close()


async def test_group_ready_counts_what_is_read_and_waiting(layout: Layout) -> None:
    with Writer.open(layout.outbox("a")) as w:
        for _ in range(5):
            w.append("x")
    async with FollowerGroup(mode="inotify") as group:
        group.add("a", layout.outbox("a"))
        assert group.ready == 0
        await take(group, 1)
        assert group.ready == 4  # the rest of the batch: the next 4 iterations do not wait
        await take(group, 4)
        assert group.ready == 0
