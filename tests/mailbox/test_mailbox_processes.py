"""Real writer and consumer processes: concurrency, SIGKILL mid-stream, crash between act and save."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from mbhelp import child, finish, nothing_more, take

from codeswarm.mailbox import CorruptLine, Cursor, Follower, FollowerGroup, Layout, Reader, Writer

WRITER = """
import sys
from pathlib import Path
from codeswarm.mailbox import Writer
path, who, n, lock = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
with Writer.open(Path(path), lock=lock, rotate_bytes=int(sys.argv[5])) as w:
    for i in range(n):
        w.append("tok", who=who, i=i, pad="x" * (i % 50))
"""


@pytest.mark.parametrize("mode", ["inotify", "poll"])
async def test_writer_processes_on_their_own_outboxes_while_a_group_follows(
    layout: Layout, mode: str
) -> None:
    n, agents = 400, [f"w_{i}" for i in range(4)]
    async with FollowerGroup(mode=mode, poll_interval=0.01) as group:  # type: ignore[arg-type]
        group.add_directory(layout.outbox_dir)
        procs = [child(WRITER, str(layout.outbox(a)), a, str(n), "0", "20000") for a in agents]
        got = await take(group, n * len(agents), within=60)
        await nothing_more(group, 0.05)
    for p in procs:
        assert finish(p)[0] == 0
    for a in agents:
        mine = [d.record for d in got if d.agent == a]
        assert [r["i"] for r in mine] == list(range(n)), a  # no loss, no dup, in order
        assert [r["seq"] for r in mine] == list(range(1, n + 1))


async def test_sender_processes_sharing_one_inbox_keep_seq_unique(layout: Layout) -> None:
    n, senders, inbox = 300, ["cli_a", "cli_b", "cli_c"], layout.inbox("t_0")
    async with Follower(inbox, mode="inotify") as f:
        procs = [child(WRITER, str(inbox), s, str(n), "1", "30000") for s in senders]
        got = [rec for rec, _ in await take(f, n * len(senders), within=60)]
        await nothing_more(f, 0.05)
    for p in procs:
        code, out = finish(p)
        assert code == 0, out
    assert [r["seq"] for r in got] == list(range(1, n * len(senders) + 1))
    for s in senders:
        assert [r["i"] for r in got if r["who"] == s] == list(range(n))
    assert not f.corrupt


async def test_a_writer_killed_mid_line_leaves_one_partial_line_that_the_next_writer_ends(
    outbox: Path,
) -> None:
    code = """
import os, signal, sys
from pathlib import Path
from codeswarm.mailbox import Writer
w = Writer.open(Path(sys.argv[1]))
for i in range(10):
    w.append("tok", i=i)
line = b'{"seq": 11, "id": "torn", "kind": "tok", "i": 10, "pad": "' + b"x" * 100
os.write(w._fd, line[: len(line) // 2])  # what a kill in the middle of write(2) leaves
os.kill(os.getpid(), signal.SIGKILL)
"""
    reports: list[CorruptLine] = []
    async with Follower(outbox, mode="inotify", on_corrupt=reports.append) as f:
        proc = child(code, str(outbox))
        got = await take(f, 10)
        assert finish(proc)[0] == -signal.SIGKILL
        await nothing_more(f, 0.05)  # the partial line is waited on, not reported
        assert reports == []
        with Writer.open(outbox) as w:  # the restarted worker
            assert w.seq == 10
            w.append("tok", i=10)
        [(rec, _)] = await take(f, 1)
        assert rec["seq"] == 11 and rec["i"] == 10
        assert len(reports) == 1 and '"id": "torn"' in reports[0].text
    assert [r["i"] for r, _ in got] == list(range(10))


async def test_a_writer_sigkilled_at_a_random_moment_loses_nothing_it_wrote(outbox: Path) -> None:
    code = """
import sys
from pathlib import Path
from codeswarm.mailbox import Writer
w = Writer.open(Path(sys.argv[1]), rotate_bytes=2_000_000)
i = 0
while True:
    w.append("tok", i=i, pad="x" * ((i * 7919) % 300_000))  # some spill, some rotate
    i += 1
"""
    async with Follower(outbox, mode="inotify") as f:
        proc = child(code, str(outbox))
        got = await take(f, 60, within=60)
        proc.send_signal(signal.SIGKILL)
        assert finish(proc)[0] == -signal.SIGKILL
        with Writer.open(outbox) as w:
            last = w.seq
            w.append("restarted")
        while got[-1][0]["kind"] != "restarted":
            got += await take(f, 1)
    seqs = [rec["seq"] for rec, _ in got]
    assert seqs == list(range(1, last + 2))
    assert [rec["i"] for rec, _ in got[:-1]] == list(range(last))
    assert len(f.corrupt) <= 1


CONSUMER = """
import asyncio, os, signal, sys
from pathlib import Path
from codeswarm.mailbox import Cursor, Follower
outbox, cursor_path, acted, total, kill_at, where = sys.argv[1:7]
total, kill_at = int(total), int(kill_at)
cursor = Cursor(Path(cursor_path))
if where == "mid-save":
    real_replace = os.replace
    def replace(src, dst):
        if str(dst) == cursor_path and current == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # the temp file is written, not yet renamed
        real_replace(src, dst)
    os.replace = replace
current = 0
async def main():
    global current
    async with Follower(Path(outbox), cursor.load(), mode="inotify") as f:
        async for rec, pos in f:
            current = rec["seq"]
            fd = os.open(acted, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(fd, b"%d\\n" % current)  # act
            os.close(fd)
            if current == kill_at and where == "after-act":
                os.kill(os.getpid(), signal.SIGKILL)
            cursor.save(pos)  # then save
            if current == total:
                return
asyncio.run(main())
"""


@pytest.mark.parametrize("where", ["after-act", "mid-save"])
async def test_a_consumer_killed_between_acting_and_saving_gets_the_record_again(
    layout: Layout, where: str
) -> None:
    outbox, total, kill_at = layout.outbox("t_0"), 50, 20
    cursor_path = layout.cursor("router", "outbox", "t_0")
    acted = layout.run_dir / "acted.log"
    with Writer.open(outbox, rotate_bytes=1500) as w:  # rotations under the consumer too
        for i in range(total):
            w.append("work", i=i)
    args = [str(outbox), str(cursor_path), str(acted), str(total)]
    first = child(CONSUMER, *args, str(kill_at), where)
    assert finish(first)[0] == -signal.SIGKILL
    saved = Cursor(cursor_path).load()  # a complete cursor: the one before the kill
    assert next(rec["seq"] for rec, _ in Reader(outbox, saved).read()) == kill_at
    second = child(CONSUMER, *args, "0", where)
    code, out = finish(second)
    assert code == 0, out
    seen = [int(x) for x in acted.read_text().split()]
    assert seen == [*range(1, kill_at + 1), *range(kill_at, total + 1)]  # one redelivery, no loss


async def test_polling_mode_delivers_from_another_process(outbox: Path) -> None:
    async with Follower(outbox, mode="poll", poll_interval=0.05) as f:
        proc = child(WRITER, str(outbox), "p", "20", "0", "100000")
        got = await take(f, 20)
        assert f.mode == "poll"
    assert finish(proc)[0] == 0
    assert [rec["i"] for rec, _ in got] == list(range(20))
