"""The budget accounting (codeswarm.worker.budget): pure, no Codex."""

from __future__ import annotations

from typing import Any

from codeswarm.control.events.records import record_events
from codeswarm.control.fleet.state import FleetState
from codeswarm.worker.budget import Budgets, Crossing, Ledger, Tokens, Usage, usage_of


def update(thread: str, turn: str | None, inp: int, out: int, cached: int = 0) -> Usage:
    return Usage(thread, turn, Tokens(inp, cached, out))


def kinds(crossings: list[Crossing]) -> list[tuple[str, str, int, int]]:
    return [(c.kind, c.scope, c.spent, c.limit) for c in crossings]


def test_usage_of_reads_codex_token_usage() -> None:
    msg: dict[str, Any] = {
        "method": "thread/tokenUsage/updated",
        "params": {
            "threadId": "th",
            "turnId": "tu",
            "tokenUsage": {
                "total": {
                    "inputTokens": 30,
                    "cachedInputTokens": 10,
                    "outputTokens": 3,
                    "totalTokens": 33,
                },
                "last": {"inputTokens": 30, "outputTokens": 3},
            },
        },
    }
    assert usage_of(msg) == Usage("th", "tu", Tokens(30, 10, 3))
    assert usage_of({"method": "turn/started", "params": {}}) is None
    assert usage_of({"method": "thread/tokenUsage/updated", "params": "x"}) is None
    assert usage_of({"method": "thread/tokenUsage/updated", "params": {"tokenUsage": {}}}) is None
    bad = {
        "method": "thread/tokenUsage/updated",
        "params": {"tokenUsage": {"total": {"inputTokens": True, "outputTokens": -4}}},
    }
    assert usage_of(bad) == Usage("", None, Tokens(0, 0, 0))


def test_counts_thread_totals_once_a_resume_resending_the_last_usage_adds_nothing() -> None:
    ledger = Ledger(Budgets())
    assert ledger.usage(update("a", "t1", 30, 3)) == []
    assert ledger.spent == 33
    assert ledger.usage(update("a", "t1", 30, 3)) == []  # thread/resume sends it again
    assert ledger.usage(update("a", "t2", 60, 6)) == []
    assert ledger.usage(update("a", "t1", 30, 3)) == []  # late, out of order
    assert ledger.spent == 66
    ledger.usage(update("b", "t3", 10, 1))  # a new thread (the old one could not be resumed)
    assert ledger.totals() == {
        "input": 70,
        "cached_input": 0,
        "output": 7,
        "total": 77,
        "tasks": {},
    }


def test_cached_input_is_shown_apart_and_not_counted_twice() -> None:
    ledger = Ledger(Budgets(agent=100))
    ledger.usage(update("a", "t", 50, 5, cached=40))
    assert ledger.spent == 55
    assert ledger.totals()["cached_input"] == 40


def test_agent_budget_warns_once_then_exceeds_once_and_refuses() -> None:
    ledger = Ledger(Budgets(agent=100, warn=0.5))
    assert ledger.usage(update("a", "t", 30, 3)) == []
    assert kinds(ledger.usage(update("a", "t", 50, 5))) == [("warning", "agent", 55, 100)]
    assert ledger.usage(update("a", "t", 60, 6)) == []  # warned once
    assert ledger.refusal() is None
    crossed = ledger.usage(update("a", "t", 100, 10))
    assert kinds(crossed) == [("exceeded", "agent", 110, 100)]
    assert crossed[0].fields() == {"scope": "agent", "limit": 100, "spent": 110}
    assert crossed[0].reason == "budget exceeded: the agent spent 110 of 100 tokens"
    assert ledger.usage(update("a", "t", 120, 12)) == []  # said once
    assert ledger.refusal() == "budget exceeded: the agent spent 132 of 100 tokens"
    assert ledger.refusal(task_id=4) is not None


def test_reaching_the_limit_exactly_refuses_the_next_turn_without_exceeding() -> None:
    ledger = Ledger(Budgets(agent=33))
    assert kinds(ledger.usage(update("a", "t", 30, 3))) == [("warning", "agent", 33, 33)]
    assert ledger.refusal() == "budget exceeded: the agent spent 33 of 33 tokens"


def test_a_jump_past_the_limit_is_one_exceeded_no_warning_after() -> None:
    ledger = Ledger(Budgets(agent=10))
    assert kinds(ledger.usage(update("a", "t", 30, 3))) == [("exceeded", "agent", 33, 10)]
    assert ledger.usage(update("a", "t", 31, 3)) == []


def test_a_task_spends_what_its_turns_spent() -> None:
    ledger = Ledger(Budgets(warn=0.9))
    ledger.usage(update("a", "t0", 100, 10))  # before: no task
    ledger.begin_turn("t1", 7)
    ledger.set_task_limit(7, 50)
    assert ledger.knows_task(7) and not ledger.knows_task(8)
    assert ledger.usage(update("a", "t1", 130, 13)) == []  # 33 for task 7
    crossed = ledger.usage(update("a", "t1", 150, 15))  # 55
    assert kinds(crossed) == [("exceeded", "task", 55, 50)]
    assert crossed[0].task_id == 7 and crossed[0].fields()["task_id"] == 7
    assert ledger.refusal(7) == "budget exceeded: task #7 spent 55 of 50 tokens"
    assert ledger.refusal(8) is None and ledger.refusal() is None  # other work goes on
    assert ledger.task_over(7) and not ledger.task_over(8)
    ledger.begin_turn("t2", None)
    ledger.usage(update("a", "t2", 200, 20))
    assert ledger.tasks == {7: 55}
    # an update naming an earlier turn of the task (sent again late) counts for the task
    ledger.usage(update("b", "t1", 5, 0))
    assert ledger.tasks == {7: 60}
    assert ledger.totals()["tasks"] == {"7": 60}


def test_swarm_budget_sums_the_others() -> None:
    ledger = Ledger(Budgets(swarm=100))
    ledger.usage(update("a", "t", 20, 2))
    assert kinds(ledger.others(60)) == [("warning", "swarm", 82, 100)]
    assert kinds(ledger.usage(update("a", "t", 40, 4))) == [("exceeded", "swarm", 104, 100)]
    assert ledger.refusal() == "budget exceeded: the swarm spent 104 of 100 tokens"
    assert ledger.others(60) == []  # once


def test_snapshot_restores_the_counting_and_what_was_said() -> None:
    ledger = Ledger(Budgets(agent=50))
    ledger.begin_turn("t1", 3)
    ledger.set_task_limit(3, 40)
    ledger.usage(update("a", "t1", 40, 4))
    again = Ledger.restore(Budgets(agent=50), ledger.snapshot())
    assert again.usage(update("a", "t1", 40, 4)) == []  # the resume's re-send: nothing
    assert again.spent == 44 and again.tasks == {3: 44} and again.knows_task(3)
    assert again.refusal(3) == "budget exceeded: task #3 spent 44 of 40 tokens"
    assert again.usage(update("a", "t1", 41, 4)) == []  # exceeded already said before
    # a relaunch with a larger budget: turns run again; the new limit is said on its own
    bigger = Ledger.restore(Budgets(agent=100, warn=0.5), ledger.snapshot())
    assert bigger.refusal() is None
    assert kinds(bigger.usage(update("a", "t9", 50, 5))) == [("warning", "agent", 55, 100)]
    assert Ledger.restore(Budgets(), "garbage").spent == 0
    assert Ledger.restore(Budgets(), {"threads": {"a": [1, 2]}, "tasks": {"x": 1}}).spent == 0


def test_turn_attribution_is_bounded() -> None:
    ledger = Ledger(Budgets())
    for i in range(200):
        ledger.begin_turn(f"t{i}", i)
    assert len(ledger.turn_tasks) == 64 and "t199" in ledger.turn_tasks


def test_budget_records_become_events_and_status() -> None:
    fleet = FleetState("s", ["s_1"])
    records = [
        {"kind": "budget.warning", "scope": "agent", "limit": 100, "spent": 85, "ts": 1},
        {
            "kind": "budget.exceeded",
            "scope": "task",
            "task_id": 4,
            "limit": 50,
            "spent": 60,
            "turn_id": "t",
            "ts": 2,
        },
        {"kind": "budget.exceeded", "scope": "agent", "limit": 100, "spent": 110, "ts": 3},
        {"kind": "budget.warning", "scope": "agent", "limit": 100, "spent": 120, "ts": 4},
        {"kind": "inbox.rejected", "inbox_id": "m", "reason": "budget exceeded: x", "budget": True},
    ]
    events = [e for r in records for e in record_events("s_1", r)]
    assert [e["type"] for e in events] == [
        "budget.warning",
        "budget.exceeded",
        "budget.exceeded",
        "budget.warning",
        "error",
    ]
    assert events[1]["task_id"] == 4 and events[1]["turn_id"] == "t"
    assert events[4]["budget"] is True and events[4]["message"] == "budget exceeded: x"
    for i, e in enumerate(events, 1):
        fleet.apply({**e, "seq": i})
    assert fleet.as_json()["agents"][0]["budget"] == {
        "agent": {"scope": "agent", "limit": 100, "spent": 110, "state": "exceeded"},
        "task:4": {"scope": "task", "task_id": 4, "limit": 50, "spent": 60, "state": "exceeded"},
    }
