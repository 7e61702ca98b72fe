"""The fleet state reducer: event sequences in, each agent's state, turns and tokens out."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from codeswarm.control.fleet.state import (
    BUSY,
    FAILED,
    IDLE,
    STARTING,
    STOPPED,
    WAITING_APPROVAL,
    FleetState,
)
from codeswarm.core import events as ev
from codeswarm.core.events import Event

STATES = {STARTING, IDLE, BUSY, WAITING_APPROVAL, STOPPED, FAILED}


def event(kind: str, agent: str = "s_0", **fields: Any) -> Event:
    return {"type": kind, "agent": agent, **fields}


def tokens(i: int, o: int, cached: int = 0) -> dict[str, int]:
    return {"input_tokens": i, "cached_input_tokens": cached, "output_tokens": o,
            "total_tokens": i + o}  # fmt: skip


def usage(
    i: int, o: int, cached: int = 0, *, total: tuple[int, ...] = (), thread: str = "th"
) -> Event:
    """One model response's usage update, as Codex sends it: its own figures (``last``) and the
    thread's running total (``total``; by default the response is the thread's first)."""
    return event(ev.USAGE_UPDATED, thread_id=thread, last=tokens(i, o, cached),
                 total=tokens(*total) if total else tokens(i, o, cached))  # fmt: skip


def fold(*events: Event, agents: tuple[str, ...] = ("s_0",)) -> FleetState:
    fleet = FleetState("s", list(agents))
    for e in events:
        fleet.apply(e)
    return fleet


def test_a_turn_from_start_to_finish() -> None:
    fleet = FleetState("s", ["s_0"])
    a = fleet.agents["s_0"]
    assert (a.state, a.rank, a.turns) == (STARTING, 0, 0)
    fleet.apply(event(ev.AGENT_STARTED, pid=41, host="h", node="n1"))
    fleet.apply(event(ev.AGENT_READY, thread_id="th"))
    assert (a.state, a.thread_id, a.pid, a.host, a.node) == (IDLE, "th", 41, "h", "n1")
    fleet.apply(event(ev.TURN_STARTED, turn_id="tu"))
    assert (a.state, a.turn_id) == (BUSY, "tu")
    fleet.apply(usage(100, 10, cached=40))
    fleet.apply(event(ev.MESSAGE_COMPLETED, text="done"))
    fleet.apply(event(ev.TURN_COMPLETED, turn_id="tu", status="completed"))
    assert (a.state, a.turn_id, a.turns, a.last_message, a.error) == (IDLE, None, 1, "done", None)
    assert fleet.as_json()["agents"][0]["tokens"] == {
        "input": 100,
        "cached_input": 40,
        "output": 10,
        "total": 110,
    }


def test_usage_is_each_threads_running_total_counted_once() -> None:
    """Two responses in one thread, then the update Codex sends again right after
    ``thread/resume`` (a worker restart): counted once. A second thread adds its own."""
    first, second = usage(100, 10), usage(20, 2, total=(120, 12))
    fleet = fold(first, second, second)
    assert fleet.totals() == {"input": 120, "cached_input": 0, "output": 12, "total": 132}
    fleet.apply(first)  # a router replay of an older update: nothing new
    assert fleet.totals()["total"] == 132
    fleet.apply(usage(7, 1, thread="th2"))
    assert fleet.totals() == {"input": 127, "cached_input": 0, "output": 13, "total": 140}


def test_usage_without_a_thread_id_counts_for_the_agents_thread() -> None:
    """Records written before updates carried their thread: the agent's current thread."""
    old = {**usage(100, 10), "thread_id": None}
    fleet = fold(event(ev.AGENT_READY, thread_id="th"), old, old)
    assert fleet.totals()["total"] == 110


def test_approvals_wait_until_every_one_is_answered() -> None:
    fleet = fold(
        event(ev.AGENT_READY, thread_id="th"),
        event(ev.TURN_STARTED, turn_id="tu"),
        event(ev.APPROVAL_REQUESTED, request_id=1),
        event(ev.APPROVAL_REQUESTED, request_id="r2"),
    )
    a = fleet.agents["s_0"]
    assert a.state == WAITING_APPROVAL and sorted(map(str, a.pending_approvals)) == ["1", "r2"]
    fleet.apply(event(ev.APPROVAL_RESOLVED, request_id=1))
    assert a.state == WAITING_APPROVAL and list(a.pending_approvals) == ["r2"]
    fleet.apply(event(ev.APPROVAL_RESOLVED, request_id="r2"))
    assert a.state == BUSY and not a.pending_approvals
    fleet.apply(event(ev.APPROVAL_REQUESTED, request_id=3))
    fleet.apply(event(ev.TURN_COMPLETED, status="interrupted"))  # ends the wait with the turn
    assert a.state == IDLE and not a.pending_approvals and a.turns == 1
    assert fleet.as_json()["agents"][0]["pending_approvals"] == []


def test_a_failed_turn_leaves_its_error() -> None:
    fleet = fold(
        event(ev.AGENT_READY),
        event(ev.TURN_STARTED, turn_id="tu"),
        event(ev.TURN_COMPLETED, turn_id="tu", status="failed", error="model down"),
    )
    a = fleet.agents["s_0"]
    assert (a.state, a.turns, a.error) == (IDLE, 1, "model down")


def test_a_worker_that_dies_and_comes_back() -> None:
    fleet = fold(
        event(ev.AGENT_STARTED, pid=10),
        event(ev.AGENT_READY, thread_id="th"),
        event(ev.TURN_STARTED, turn_id="tu"),
        event(ev.APPROVAL_REQUESTED, request_id=7),
        event(ev.AGENT_FAILED, reason="worker exited with code -9"),
    )
    a = fleet.agents["s_0"]
    assert (a.state, a.error) == (FAILED, "worker exited with code -9")
    fleet.apply(event(ev.AGENT_RESTARTED, reason="keep-alive"))
    fleet.apply(event(ev.AGENT_STARTED, pid=11, host="h2"))
    assert (a.state, a.restarts, a.pid, a.host, a.error) == (STARTING, 1, 11, "h2", None)
    fleet.apply(event(ev.AGENT_READY, thread_id="th"))  # resumed on its thread
    assert (a.state, a.thread_id, a.turn_id, a.pending_approvals) == (IDLE, "th", None, {})
    fleet.apply(event(ev.AGENT_FAILED, message="no reason given"))
    assert (a.state, a.error, a.restarts) == (FAILED, "no reason given", 1)


def test_stopped_stays_stopped_when_a_late_turn_completes() -> None:
    fleet = fold(
        event(ev.AGENT_READY),
        event(ev.TURN_STARTED, turn_id="tu"),
        event(ev.AGENT_STOPPED, reason="down"),
    )
    a = fleet.agents["s_0"]
    assert (a.state, a.turn_id) == (STOPPED, None)
    fleet.apply(event(ev.TURN_COMPLETED, turn_id="tu", status="interrupted"))
    assert (a.state, a.turns) == (STOPPED, 1)


def test_errors_are_remembered_and_other_events_change_nothing() -> None:
    fleet = fold(event(ev.AGENT_READY), event(ev.ERROR, message="corrupt outbox line"))
    before = fleet.as_json()
    assert before["agents"][0]["error"] == "corrupt outbox line"
    for kind in (ev.MESSAGE_DELTA, ev.COMMAND_STARTED, ev.FILE_CHANGED, "no.such.event"):
        fleet.apply(event(kind))
    assert fleet.as_json() == before


def test_seq_and_last_seen_never_go_back() -> None:
    fleet = fold(
        event(ev.MESSAGE_DELTA, seq=5, ts=2000),
        event(ev.MESSAGE_DELTA, seq=3, ts=1000),
        event(ev.MESSAGE_DELTA, ts="not a time"),
    )
    a = fleet.agents["s_0"]
    assert (a.seq, a.last_seen_ms) == (5, 2000)


def test_unknown_agents_appear_and_are_listed_by_rank() -> None:
    fleet = fold(
        event(ev.AGENT_READY, agent="s_10"),
        event(ev.AGENT_READY, agent="observer"),
        event(ev.AGENT_READY, agent="s_2"),
        agents=("s_1",),
    )
    listed = fleet.as_json()
    assert [a["id"] for a in listed["agents"]] == ["s_1", "s_2", "s_10", "observer"]
    assert [a["rank"] for a in listed["agents"]] == [1, 2, 10, None]
    assert listed["swarm"] == "s" and listed["agents"][0]["state"] == STARTING


# -- properties: whatever the order of events, the books balance ---------------------------------

AGENTS = ("s_0", "s_1", "s_2")
counts = st.integers(min_value=0, max_value=10_000)
usages = st.builds(
    lambda i, c, o: {
        "input_tokens": i,
        "cached_input_tokens": min(c, i),
        "output_tokens": o,
        "total_tokens": i + o,
    },
    counts,
    counts,
    counts,
)
RESPONSE = "response"  # a model response's usage (the stream below adds the running total)
RESENT = "resent"  # the last update of a thread sent again (after a resume, a replay)
events = st.one_of(
    st.builds(
        lambda last, thread: {"type": RESPONSE, "last": last, "thread_id": thread},
        usages,
        st.sampled_from(["th1", "th2"]),
    ),
    st.builds(
        lambda thread: {"type": RESENT, "thread_id": thread}, st.sampled_from(["th1", "th2"])
    ),
    st.builds(
        lambda status: {"type": ev.TURN_COMPLETED, "status": status},
        st.sampled_from(["completed", "failed", "interrupted"]),
    ),
    st.sampled_from(
        [{"type": kind} for kind in sorted(ev.EVENT_TYPES - {ev.USAGE_UPDATED, ev.TURN_COMPLETED})]
    ),
    st.builds(lambda rid: {"type": ev.APPROVAL_REQUESTED, "request_id": rid}, st.integers(0, 3)),
    st.builds(lambda rid: {"type": ev.APPROVAL_RESOLVED, "request_id": rid}, st.integers(0, 3)),
)
streams = st.lists(st.tuples(st.sampled_from(AGENTS), events), max_size=60)


def as_codex_sends(stream: list[tuple[str, Event]]) -> list[tuple[str, Event]]:
    """The stream with each response's update carrying its thread's running total, and each
    resend the thread's previous update again (none before the thread's first response)."""
    totals: dict[tuple[str, str], dict[str, int]] = {}
    sent: dict[tuple[str, str], Event] = {}
    out: list[tuple[str, Event]] = []
    for agent, e in stream:
        key = (agent, str(e.get("thread_id")))
        if e["type"] == RESPONSE:
            run = totals.setdefault(key, dict.fromkeys(e["last"], 0))
            for k, v in e["last"].items():
                run[k] += v
            sent[key] = {**e, "type": ev.USAGE_UPDATED, "total": dict(run), "response": True}
            out.append((agent, sent[key]))
        elif e["type"] == RESENT:
            if key in sent:
                out.append((agent, {**sent[key], "response": False}))
        else:
            out.append((agent, e))
    return out


@given(streams.map(as_codex_sends))
def test_totals_are_the_sum_of_usage_and_turns_the_count_of_completions(
    stream: list[tuple[str, Event]],
) -> None:
    """Every response counted once, whatever is sent again."""
    fleet = fold(*({**e, "agent": a} for a, e in stream), agents=AGENTS)
    responses = [(a, e) for a, e in stream if e.get("response")]
    for agent in AGENTS:
        mine = [e for a, e in stream if a == agent]
        view = fleet.agents[agent]
        assert view.turns == sum(e["type"] == ev.TURN_COMPLETED for e in mine)
        assert view.input_tokens == sum(
            e["last"]["input_tokens"] for a, e in responses if a == agent
        )
        assert view.state in STATES
        assert (view.state == WAITING_APPROVAL) <= bool(view.pending_approvals)
    assert fleet.totals() == {
        key: sum(e["last"][field] for _, e in responses)
        for key, field in [
            ("input", "input_tokens"),
            ("cached_input", "cached_input_tokens"),
            ("output", "output_tokens"),
            ("total", "total_tokens"),
        ]
    }
    assert fleet.as_json()["tokens"] == fleet.totals()


@given(streams.map(as_codex_sends), st.randoms(use_true_random=False))
def test_only_each_agents_own_order_matters(stream: list[tuple[str, Event]], rnd: Any) -> None:
    """Live, events of different agents interleave as they come; a replay reads agent by agent.
    Both give the same state, as long as each agent's events keep their order."""
    live = fold(*({**e, "agent": a} for a, e in stream), agents=AGENTS)
    queues = {a: [e for b, e in stream if b == a] for a in AGENTS}
    shuffled: list[Event] = []
    while any(queues.values()):
        agent = rnd.choice([a for a, q in queues.items() if q])
        shuffled.append({**queues[agent].pop(0), "agent": agent})
    assert fold(*shuffled, agents=AGENTS).as_json() == live.as_json()


def test_a_completed_turn_clears_an_earlier_error() -> None:
    fleet = fold(
        event(ev.AGENT_READY, thread_id="th"),
        event(ev.ERROR, message="Reconnecting... 1/5"),
        event(
            ev.TURN_COMPLETED, turn_id="a", status="failed", error="the model could not be reached"
        ),
    )
    assert fleet.agents["s_0"].error == "the model could not be reached"
    fleet.apply(event(ev.TURN_COMPLETED, turn_id="b", status="interrupted"))
    assert fleet.agents["s_0"].error == "the model could not be reached"
    fleet.apply(event(ev.TURN_COMPLETED, turn_id="c", status="completed"))
    assert fleet.agents["s_0"].error is None
    # an error about the agent's own records stays: a completed turn does not undo it
    fleet.apply(event(ev.ERROR, message="corrupt outbox line 7"))
    fleet.apply(event(ev.TURN_COMPLETED, turn_id="d", status="completed"))
    assert fleet.agents["s_0"].error == "corrupt outbox line 7"
    fleet.apply(event(ev.ERROR, message="Reconnecting... 2/5", will_retry=True))
    fleet.apply(event(ev.TURN_COMPLETED, turn_id="e", status="completed"))
    assert fleet.agents["s_0"].error is None
