"""The watchers' rules (codeswarm.control.watch.rules) and their flags, as pure functions: events
and the time in, findings out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codeswarm.control.watch.config import watch_options
from codeswarm.control.watch.log import record_event
from codeswarm.control.watch.rules import (
    Finding,
    Watcher,
    call_key,
    changed_paths,
    kind_for,
    pick,
)
from codeswarm.coordination.paths import outside as outside_scope
from codeswarm.core.errors import UsageError
from codeswarm.core.swarm import WatchOptions

A = "s_1"


def turn(turn_id: str = "t1", agent: str = A) -> dict[str, Any]:
    return {"type": "turn.started", "agent": agent, "turn_id": turn_id}


def done(turn_id: str = "t1", agent: str = A) -> dict[str, Any]:
    return {"type": "turn.completed", "agent": agent, "turn_id": turn_id, "status": "completed"}


def command(cmd: str, cwd: str = "/w", agent: str = A) -> dict[str, Any]:
    return {"type": "command.started", "agent": agent, "command": cmd, "cwd": cwd}


def feed(w: Watcher, events: list[dict[str, Any]], now: int = 0) -> list[Finding]:
    out: list[Finding] = []
    for e in events:
        out += w.observe(e, now)
    return out


# -- loop -----------------------------------------------------------------------------------------
def test_the_same_command_k_times_in_a_turn_nudges_then_interrupts() -> None:
    w = Watcher(WatchOptions(loop_k=3))
    found = feed(w, [turn(), command("make"), command("make")])
    assert found == []
    [first] = w.observe(command("make"), 0)
    assert (first.rule, first.action, first.level, first.turn_id) == ("loop", "nudge", 1, "t1")
    assert first.kind == "watch.nudged"
    assert first.evidence["count"] == 3 and first.evidence["call"] == "command"
    assert first.evidence["arguments"] == {"command": "make", "cwd": "/w"}
    [second] = w.observe(command("make"), 0)
    assert (second.action, second.level, second.kind) == ("interrupt", 2, "watch.interrupted")
    [third] = w.observe(command("make"), 0)
    assert third.action == "interrupt"  # the last action repeats


def test_other_arguments_or_another_turn_do_not_count_together() -> None:
    w = Watcher(WatchOptions(loop_k=2))
    assert feed(w, [turn(), command("make"), command("make test"), command("make", cwd="/x")]) == []
    assert feed(w, [done(), turn("t2"), command("make")]) == []  # counts start again
    assert len(w.observe(command("make"), 0)) == 1
    other = "s_2"
    assert feed(w, [turn(agent=other), command("make", agent=other)]) == []


def test_tool_calls_and_patches_are_calls_too() -> None:
    w = Watcher(WatchOptions(loop_k=2, loop_actions=["stop"]))
    tool = {"type": "tool.started", "agent": A, "server": "codeswarm", "tool": "status",
            "arguments": {"b": 1, "a": 2}}  # fmt: skip
    same = {**tool, "arguments": {"a": 2, "b": 1}}  # the same arguments, another order
    [f] = feed(w, [turn(), tool, same])
    assert f.kind == "watch.stopped" and f.evidence["call"] == "tool"
    patch = {"type": "file.changed", "agent": A, "changes": [{"path": "/w/a", "kind": "update"}]}
    [g] = feed(w, [patch, patch])
    assert g.evidence["call"] == "patch"
    assert call_key({"type": "message.delta", "agent": A}) is None


def test_loop_rule_off_finds_nothing() -> None:
    w = Watcher(WatchOptions(stall_s=5))
    assert feed(w, [turn(), *[command("x")] * 10]) == []


@settings(max_examples=60, deadline=None)
@given(
    calls=st.lists(st.sampled_from(["a", "b", "c"]), max_size=30),
    k=st.integers(min_value=2, max_value=6),
)
def test_loop_fires_exactly_when_a_call_reaches_k(calls: list[str], k: int) -> None:
    """Property: a finding after a call iff that call has now been made at least k times in the
    turn; levels count the findings of the turn from 1."""
    w = Watcher(WatchOptions(loop_k=k))
    w.observe(turn(), 0)
    seen: dict[str, int] = {}
    level = 0
    for c in calls:
        seen[c] = seen.get(c, 0) + 1
        found = w.observe(command(c), 0)
        if seen[c] >= k:
            level += 1
            assert [(f.level, f.evidence["count"]) for f in found] == [(level, seen[c])]
        else:
            assert found == []


# -- stall ----------------------------------------------------------------------------------------
def test_a_busy_agent_quiet_for_t_stalls_once_per_period() -> None:
    w = Watcher(WatchOptions(stall_s=2, stall_actions=["report", "nudge", "interrupt"]))
    w.observe(turn(), 1_000)
    assert w.tick(2_999) == []
    [f] = w.tick(3_000)
    assert (f.rule, f.action, f.kind, f.level) == ("stall", "report", "watch.stalled", 1)
    assert f.evidence == {"quiet_s": 2.0, "stall_s": 2}
    assert w.tick(3_500) == []  # once per period
    [g] = w.tick(5_000)
    assert (g.action, g.level) == ("nudge", 2)
    w.observe(command("x"), 5_100)  # an event: the quiet spell is over
    assert w.tick(7_000) == []
    [h] = w.tick(7_100)
    assert h.level == 1 and h.action == "report"


def test_idle_stopped_or_waiting_for_approval_is_no_stall() -> None:
    w = Watcher(WatchOptions(stall_s=1))
    w.observe(turn(), 0)
    w.observe(done(), 0)
    assert w.tick(10_000) == []
    w.observe(turn("t2"), 10_000)
    w.observe({"type": "approval.requested", "agent": A, "request_id": 1}, 10_000)
    assert w.tick(20_000) == []  # a person is asked: not the agent's stall
    w.observe({"type": "approval.resolved", "agent": A, "request_id": 1}, 20_000)
    assert len(w.tick(21_000)) == 1
    w.observe({"type": "agent.failed", "agent": A}, 21_000)
    assert w.tick(40_000) == []


@settings(max_examples=60, deadline=None)
@given(gaps=st.lists(st.integers(min_value=0, max_value=5_000), max_size=20))
def test_stall_never_fires_while_events_keep_coming_within_t(gaps: list[int]) -> None:
    w = Watcher(WatchOptions(stall_s=5))
    now = 0
    w.observe(turn(), now)
    for gap in gaps:
        now += gap
        assert w.tick(now) == [] or gap >= 5_000
        w.observe(command("ls"), now)


# -- scope ----------------------------------------------------------------------------------------
def test_outside_scope(tmp_path: Path) -> None:
    root = str(tmp_path)
    (tmp_path / "src").mkdir()
    files = ["src/app.py", "docs/", "tests/*.py"]
    inside = [f"{root}/src/app.py", f"{root}/docs/a/b.md", "tests/test_x.py"]
    assert outside_scope(inside, files, root, root) == []
    out = [f"{root}/src/other.py", "/etc/passwd", f"{root}/tests/sub/t.py"]
    assert outside_scope(out, files, root, root) == out
    assert outside_scope(out, [], root, root) == []  # no files: no scope


def test_scope_finding() -> None:
    w = Watcher(WatchOptions(scope=True, scope_actions=["report", "interrupt"]))
    w.observe(turn(), 0)
    event = {"type": "file.changed", "agent": A, "item_id": "i1",
             "changes": [{"path": "/w/x", "kind": "add", "move_path": "/w/y"}]}  # fmt: skip
    assert changed_paths(event) == ["/w/x", "/w/y"]
    assert w.scope(event, [], [7]) == []
    [f] = w.scope(event, ["/w/x"], [7])
    assert f.kind == "watch.out_of_scope" and f.evidence == {
        "paths": ["/w/x"],
        "tasks": [7],
        "item_id": "i1",
    }
    [g] = w.scope(event, ["/w/x"], [7])
    assert g.kind == "watch.interrupted"
    assert Watcher(WatchOptions(loop_k=3)).scope(event, ["/w/x"], [7]) == []  # rule off


# -- kinds, records, flags --------------------------------------------------------------------------
def test_kinds_and_record_events() -> None:
    assert [kind_for(r, "report") for r in ("stall", "loop", "scope")] == [
        "watch.stalled", "watch.looping", "watch.out_of_scope"
    ]  # fmt: skip
    assert pick([], 3) == "report" and pick(["nudge", "stop"], 1) == "nudge"
    record = {"seq": 4, "id": "x", "ts": 17, "kind": "watch.nudged", "agent": A, "rule": "loop",
              "action": "nudge", "level": 1, "turn_id": "t", "evidence": {}, "inbox_id": "m"}  # fmt: skip
    event = record_event(record)
    assert event is not None
    assert event["type"] == "watch.nudged" and event["agent"] == A and event["watch_seq"] == 4
    assert event["inbox_id"] == "m" and event["ts"] == 17
    assert record_event({"kind": "something.else"}) is None


def test_flags() -> None:
    assert watch_options() is None
    opts = watch_options(stall_s=3, loop_k=4, actions=["loop=nudge,stop", "stall=interrupt"])
    assert opts is not None
    assert (opts.stall_s, opts.loop_k, opts.scope) == (3, 4, False)
    assert opts.loop_actions == ["nudge", "stop"] and opts.stall_actions == ["interrupt"]
    assert opts.scope_actions == ["report"]
    every = watch_options(scope=True, actions=["nudge"])
    assert every is not None and every.scope_actions == every.loop_actions == ["nudge"]


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"stall_s": 0}, "--watch-stall"),
        ({"stall_s": -1}, "--watch-stall"),
        ({"loop_k": 1}, "--watch-loop"),
        ({"loop_k": 3, "actions": ["explode"]}, "unknown action"),
        ({"loop_k": 3, "actions": ["nap=stop"]}, "unknown rule"),
        ({"loop_k": 3, "actions": ["loop="]}, "unknown action"),
        ({"actions": ["stop"]}, "need a rule"),
        ({"loop_k": 3, "nudge_text": " "}, "empty"),
    ],
)
def test_bad_flags_are_one_clear_line(kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(UsageError, match=says):
        watch_options(**kwargs)
