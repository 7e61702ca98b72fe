"""The router over a real run directory (outboxes written by the mailbox Writer, no workers):
replay, per-agent numbering that a second router repeats, and named cursors that resume with
nothing missed and nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codeswarm.control.fleet.router import Router
from codeswarm.core.events import Event
from codeswarm.core.swarm import RunDir, SwarmSpec
from codeswarm.mailbox import Layout, Position, Writer

TIMEOUT = 10.0


class Outboxes:
    """A run directory of swarm ``r`` with ``size`` agents, and a Writer on each outbox (as each
    agent's worker would have)."""

    def __init__(self, root: Path, size: int = 2) -> None:
        self.run = RunDir(root)
        self.layout = Layout(root).create()
        spec = SwarmSpec(name="r", size=size, cwd=str(root), codex_bin="codex")
        self.run.spec_path.write_bytes(msgspec.json.encode(spec))
        self.agents = [f"r_{i}" for i in range(size)]
        self.writers = {a: Writer.open(self.layout.outbox(a)) for a in self.agents}
        self.spent = {a: [0, 0] for a in self.agents}  # each thread's running input, output

    def close(self) -> None:
        for w in self.writers.values():
            w.close()

    def boot(self, agent: str, thread: str = "th") -> None:
        w = self.writers[agent]
        w.append("worker.started", pid=100, host="h")
        w.append("agent.ready", thread_id=thread)

    def turn(self, agent: str, text: str, tokens: int = 10) -> None:
        """A whole turn as a worker relays it: accepted, Codex's messages, a heartbeat."""
        w = self.writers[agent]
        turn = {"threadId": "th", "turnId": f"tu-{text}"}
        spent = self.spent[agent]
        spent[0], spent[1] = spent[0] + tokens, spent[1] + 1
        w.append("turn.accepted", inbox_id=f"in-{text}", turn_id=turn["turnId"])
        for msg in (
            {
                "method": "turn/started",
                "params": {"threadId": "th", "turn": {"id": turn["turnId"]}},
            },
            {"method": "item/agentMessage/delta", "params": {**turn, "itemId": "m", "delta": text}},
            {
                "method": "item/completed",
                "params": {**turn, "item": {"type": "agentMessage", "id": "m", "text": text}},
            },
            {
                "method": "thread/tokenUsage/updated",
                "params": {
                    **turn,
                    "tokenUsage": {  # as Codex sends it: this response, the thread's total
                        "last": {
                            "inputTokens": tokens,
                            "outputTokens": 1,
                            "totalTokens": tokens + 1,
                        },
                        "total": {
                            "inputTokens": spent[0],
                            "outputTokens": spent[1],
                            "totalTokens": spent[0] + spent[1],
                        },
                    },
                },
            },
            {
                "method": "turn/completed",
                "params": {"threadId": "th", "turn": {"id": turn["turnId"], "status": "completed"}},
            },
        ):
            w.append("codex", msg=msg)
        w.append("heartbeat")  # a record with no event

    def replay(self, start: str = "begin") -> tuple[Router, list[Event]]:
        router = Router(self.run, start=start)
        got: list[Event] = []
        assert router.replay(got.append) == len(got)
        return router, got


@pytest.fixture
def boxes(tmp_path: Path) -> Iterator[Outboxes]:
    b = Outboxes(tmp_path / "run")
    yield b
    b.close()


@contextlib.contextmanager
def outboxes() -> Iterator[Outboxes]:
    """:class:`Outboxes` in a fresh directory (for hypothesis, which runs a test many times)."""
    with tempfile.TemporaryDirectory() as tmp:
        b = Outboxes(Path(tmp) / "run")
        try:
            yield b
        finally:
            b.close()


def keys(events: list[Event]) -> list[tuple[str, int, str]]:
    return [(e["agent"], e["seq"], e["type"]) for e in events]


def texts(events: list[Event], agent: str) -> list[str]:
    return [e["text"] for e in events if e["agent"] == agent and e["type"] == "message.completed"]


def test_replay_numbers_each_agents_events_and_folds_the_fleet(boxes: Outboxes) -> None:
    for a in boxes.agents:
        boxes.boot(a)
    boxes.turn("r_0", "one", tokens=100)
    boxes.turn("r_1", "uno", tokens=200)
    boxes.turn("r_0", "two", tokens=300)
    router, got = boxes.replay()
    for agent in boxes.agents:
        seqs = [e["seq"] for e in got if e["agent"] == agent]
        assert seqs == list(range(1, len(seqs) + 1))
    assert all(e["swarm"] == "r" for e in got)
    assert texts(got, "r_0") == ["one", "two"] and texts(got, "r_1") == ["uno"]
    r0, r1 = router.fleet.agents["r_0"], router.fleet.agents["r_1"]
    assert (r0.state, r0.turns, r0.input_tokens, r0.last_message) == ("idle", 2, 400, "two")
    assert (r1.turns, r1.input_tokens, r1.thread_id, r1.pid) == (1, 200, "th", 100)
    assert router.fleet.totals()["input"] == 600
    assert router.cursors["r_0"].record_seq == boxes.writers["r_0"].seq


def test_a_second_router_numbers_every_event_the_same(boxes: Outboxes) -> None:
    boxes.boot("r_0")
    boxes.turn("r_0", "one")
    _, first = boxes.replay()
    boxes.turn("r_0", "two")
    boxes.boot("r_1")
    _, second = boxes.replay()
    assert second[: len(first)] == first  # the same events, the same seqs, in the same order
    assert len(second) > len(first)


def test_a_named_consumer_resumes_after_what_it_saved(boxes: Outboxes) -> None:
    for a in boxes.agents:
        boxes.boot(a)
    boxes.turn("r_0", "one")
    router, before = boxes.replay("c1")
    router.save()
    boxes.turn("r_0", "two")
    boxes.turn("r_1", "uno")
    _, after = boxes.replay("c1")
    _, everything = boxes.replay()
    for agent in boxes.agents:  # nothing missed, nothing twice, numbered as in a replay
        assert [e for e in before + after if e["agent"] == agent] == [
            e for e in everything if e["agent"] == agent
        ]
    assert texts(after, "r_0") == ["two"] and texts(after, "r_1") == ["uno"]
    _, nothing = boxes.replay("c1")  # c1 did not save after the second batch: all of it again
    assert nothing == after


def test_a_consumer_that_never_saved_starts_at_the_beginning(boxes: Outboxes) -> None:
    boxes.boot("r_0")
    boxes.turn("r_0", "one")
    _, unsaved = boxes.replay("c2")
    _, everything = boxes.replay()
    assert unsaved == everything
    assert not boxes.run.consumer_cursor("c2").exists()


def test_consumers_keep_cursors_of_their_own(boxes: Outboxes) -> None:
    boxes.boot("r_0")
    router, _ = boxes.replay("a")
    router.save()
    boxes.turn("r_0", "one")
    _, for_a = boxes.replay("a")
    _, for_b = boxes.replay("b")
    assert texts(for_a, "r_0") == texts(for_b, "r_0") == ["one"]
    assert len(for_b) > len(for_a)  # b also gets the boot


def test_start_at_the_end_sees_only_what_comes_next(boxes: Outboxes) -> None:
    boxes.boot("r_0")
    boxes.turn("r_0", "old")
    router = Router(boxes.run, start="end")
    assert router.replay() == 0
    boxes.turn("r_0", "new")
    got: list[Event] = []
    router.replay(got.append)
    assert texts(got, "r_0") == ["new"]
    assert got[0]["type"] == "message.accepted"


def test_records_already_seen_are_dropped_by_their_seq(boxes: Outboxes) -> None:
    """A cursor whose position is behind its record seq (the file was re-read from the start):
    records up to that seq give no events, the rest are numbered on from the saved event seq."""
    boxes.boot("r_0")
    boxes.turn("r_0", "one")
    seen_records = boxes.writers["r_0"].seq
    _, seen = boxes.replay()
    seen_events = len(seen)
    boxes.turn("r_0", "two")
    _, everything = boxes.replay()
    cursor = {"position": Position.start().to_json(), "record_seq": seen_records}
    boxes.run.consumer_cursor("c").parent.mkdir()
    boxes.run.consumer_cursor("c").write_bytes(
        msgspec.json.encode({"agents": {"r_0": {**cursor, "event_seq": seen_events}}})
    )
    _, resumed = boxes.replay("c")
    assert texts(resumed, "r_0") == ["two"]
    assert resumed == [e for e in everything if e["agent"] == "r_0"][seen_events:]


@pytest.mark.parametrize("saved", [{"position": "nonsense"}, "not a table", None])
def test_a_damaged_cursor_entry_starts_that_agent_over(boxes: Outboxes, saved: Any) -> None:
    boxes.boot("r_0")
    boxes.run.consumer_cursor("c").parent.mkdir()
    boxes.run.consumer_cursor("c").write_bytes(msgspec.json.encode({"agents": {"r_0": saved}}))
    _, got = boxes.replay("c")
    _, everything = boxes.replay()
    assert got == everything


def test_corrupt_lines_become_error_events_numbered_in_stream_order(boxes: Outboxes) -> None:
    boxes.boot("r_0")
    with boxes.layout.outbox("r_0").open("ab") as f:  # as a crashed writer might leave it
        f.write(b"this is not json\n")
    boxes.turn("r_0", "one")
    router, got = boxes.replay()
    kinds = [e["type"] for e in got]
    error = kinds.index("error")
    assert kinds[error - 1] == "agent.ready" and kinds[error + 1] == "message.accepted"
    assert got[error]["corrupt"] is True and "this is not json" in got[error]["message"]
    assert [e["seq"] for e in got] == list(range(1, len(got) + 1))
    assert "corrupt outbox line" in str(router.fleet.agents["r_0"].error)
    _, again = boxes.replay()
    assert again == got


async def test_following_a_named_cursor_across_a_restart(boxes: Outboxes) -> None:
    for a in boxes.agents:
        boxes.boot(a)

    async def follow_until(router: Router, turns: int) -> list[Event]:
        """Batches until ``turns`` turns have completed (a turn's last event)."""
        got: list[Event] = []
        async with asyncio.timeout(TIMEOUT), contextlib.aclosing(router.follow()) as batches:
            async for batch in batches:
                got += batch
                if sum(e["type"] == "turn.completed" for e in got) >= turns:
                    return got
        raise AssertionError("the follow ended")

    first = Router(boxes.run, start="live", mode="poll", poll_interval=0.01)
    following = asyncio.ensure_future(follow_until(first, 2))
    boxes.turn("r_0", "one")
    boxes.turn("r_1", "uno")
    got_first = await following
    first.save()  # after acting on the batch
    first.close()
    boxes.turn("r_1", "dos")  # while no one follows
    second = Router(boxes.run, start="live", mode="poll", poll_interval=0.01)
    following = asyncio.ensure_future(follow_until(second, 2))
    boxes.turn("r_0", "two")
    got_second = await following
    second.close()
    _, everything = boxes.replay()
    assert sorted(keys(got_first + got_second)) == sorted(keys(everything))
    assert texts(got_second, "r_0") == ["two"] and texts(got_second, "r_1") == ["dos"]


# -- property: wherever a consumer saved, resuming gives the rest ---------------------------------

writes = st.lists(st.tuples(st.sampled_from(["r_0", "r_1"]), st.sampled_from(["boot", "turn"])))


@settings(max_examples=25, deadline=None)
@given(before=writes, after=writes)
def test_resuming_from_any_save_point_gives_exactly_the_rest(
    before: list[tuple[str, str]], after: list[tuple[str, str]]
) -> None:
    with outboxes() as boxes:

        def write(plan: list[tuple[str, str]]) -> None:
            for i, (agent, what) in enumerate(plan):
                boxes.boot(agent) if what == "boot" else boxes.turn(agent, f"t{i}")

        write(before)
        router, first = boxes.replay("c")
        router.save()
        write(after)
        _, rest = boxes.replay("c")
        _, everything = boxes.replay()
        for agent in boxes.agents:
            mine = [e for e in everything if e["agent"] == agent]
            resumed = [e for e in first + rest if e["agent"] == agent]
            assert resumed == mine
