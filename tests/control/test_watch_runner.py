"""The watch runner over a real run directory (outboxes written by the mailbox Writer, as workers
write them; no workers, no Codex): it acts through the agents' inboxes, records each action in
the watch log, and a restarted runner neither repeats an action nor steers a turn that is over."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from codeswarm.control.watch.log import watch_events
from codeswarm.control.watch.runner import WatchRunner
from codeswarm.core.errors import WriterBusyError
from codeswarm.core.swarm import RunDir, SwarmSpec, WatchOptions
from codeswarm.mailbox import Layout, Reader, Writer
from swarmkit import wait_until_async

A = "r_0"


class Fleet:
    def __init__(self, root: Path, watch: WatchOptions) -> None:
        self.run = RunDir(root)
        self.layout = Layout(root).create()
        spec = SwarmSpec(name="r", size=1, cwd=str(root), codex_bin="codex", coord=False,
                         watch=watch)  # fmt: skip
        self.run.spec_path.write_bytes(msgspec.json.encode(spec))
        self.out = Writer.open(self.layout.outbox(A))

    def codex(self, method: str, **params: Any) -> None:
        self.out.append("codex", msg={"method": method, "params": {"threadId": "th", **params}})

    def start_turn(self, turn: str) -> None:
        self.out.append("turn.accepted", inbox_id=f"in-{turn}", turn_id=turn)
        self.codex("turn/started", turn={"id": turn})

    def command(self, turn: str, n: int) -> None:
        item = {"type": "commandExecution", "id": f"c{n}", "command": "make", "cwd": "/w"}
        self.codex("item/started", turnId=turn, item=item)

    def end_turn(self, turn: str) -> None:
        self.codex("turn/completed", turn={"id": turn, "status": "interrupted"})

    def inbox(self) -> list[dict[str, Any]]:
        path = self.layout.inbox(A)
        if not path.exists():
            return []
        out: list[dict[str, Any]] = []
        with Reader(path) as reader:
            while batch := reader.read():
                out += [dict(r) for r, _ in batch]
        return out


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(tmp_path / "run", WatchOptions(loop_k=2))
    try:
        yield f
    finally:
        f.out.close()


@contextlib.asynccontextmanager
async def running(fleet: Fleet) -> AsyncIterator[WatchRunner]:
    runner = WatchRunner(fleet.run)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run_until(stop))
    try:
        yield runner
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def kinds(fleet: Fleet) -> list[tuple[str, str, int]]:
    return [(e["type"], e["action"], e["level"]) for e in watch_events(fleet.run)]


async def test_acts_live_through_the_inbox_and_never_twice(fleet: Fleet) -> None:
    fleet.start_turn("t1")
    async with running(fleet):
        fleet.command("t1", 1)
        fleet.command("t1", 2)
        await wait_until_async(lambda: kinds(fleet), what="the nudge")
        fleet.command("t1", 3)
        await wait_until_async(lambda: len(kinds(fleet)) == 2, what="the interrupt")
    assert kinds(fleet) == [("watch.nudged", "nudge", 1), ("watch.interrupted", "interrupt", 2)]
    inbox = fleet.inbox()
    assert [(r["kind"], r.get("mode")) for r in inbox] == [
        ("message", "steer"),
        ("interrupt", None),
    ]
    assert "codeswarm watcher" in inbox[0]["text"]
    assert watch_events(fleet.run)[0]["inbox_id"] == inbox[0]["id"]

    # a restarted runner replays all that without acting again
    async with running(fleet) as again:
        await asyncio.sleep(0.3)
        assert again.findings == []
    assert len(kinds(fleet)) == 2 and len(fleet.inbox()) == 2


async def test_a_runner_catching_up_acts_on_what_it_missed_but_steers_no_ended_turn(
    fleet: Fleet,
) -> None:
    async with running(fleet):
        pass  # it saved where it got to: nothing yet
    fleet.start_turn("t1")
    fleet.command("t1", 1)
    fleet.command("t1", 2)  # a loop while no runner watched ...
    fleet.end_turn("t1")  # ... in a turn now over
    fleet.start_turn("t2")
    fleet.command("t2", 1)
    fleet.command("t2", 2)  # and one in the running turn
    async with running(fleet):
        await wait_until_async(lambda: len(kinds(fleet)) == 2, what="both findings")
    late, live = watch_events(fleet.run)
    assert (late["type"], late["turn_id"], late.get("turn_over")) == ("watch.looping", "t1", True)
    assert (live["type"], live["turn_id"]) == ("watch.nudged", "t2")
    assert [r["kind"] for r in fleet.inbox()] == ["message"]  # only the live turn was steered


async def test_one_runner_per_swarm(fleet: Fleet) -> None:
    async with running(fleet):
        await wait_until_async(lambda: (fleet.run.root / "watch.jsonl").exists())
        with pytest.raises(WriterBusyError):
            await WatchRunner(fleet.run).run_until(asyncio.Event())


async def test_stop_shuts_the_agent_down(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path / "run", WatchOptions(loop_k=2, loop_actions=["stop"]))
    try:
        fleet.start_turn("t1")
        async with running(fleet):
            fleet.command("t1", 1)
            fleet.command("t1", 2)
            await wait_until_async(lambda: kinds(fleet), what="the stop")
        assert kinds(fleet) == [("watch.stopped", "stop", 1)]
        assert [r["kind"] for r in fleet.inbox()] == ["shutdown"]
    finally:
        fleet.out.close()
