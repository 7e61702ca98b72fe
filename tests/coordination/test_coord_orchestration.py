"""Delegation (every backend): budgets kept, the assignee woken exactly once when its task's
dependencies are done, the creator told of each end, needs_review, verdicts, replies awaited."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from codeswarm.coordination import Coord, Limits, Message, migrations, open_store
from codeswarm.core.errors import (
    ClaimLostError,
    CoordInputError,
    DependencyCycleError,
    NotFoundError,
)


def _fleet(coord: Coord) -> tuple[str, str, str, str]:
    boss = coord.register("s_0", role="orchestrator").id
    workers = [coord.register(f"s_{i}", role="implementer").id for i in (1, 2, 3)]
    return boss, workers[0], workers[1], workers[2]


def _task_messages(coord: Coord, agent: str) -> list[Message]:
    return [m for m in coord.inbox(agent) if m.task_id is not None]


def _news(m: Message) -> dict[str, object]:
    head, _, body = m.text.partition(": ")
    assert head.startswith(f"task #{m.task_id} ")
    news = json.loads(body)
    assert isinstance(news, dict)
    return news


def test_schema_is_at_the_delegation_version(coord: Coord) -> None:
    assert coord.store.schema_version() == migrations.LATEST >= 2


def test_a_version_1_database_is_upgraded_with_its_data(
    db_url: str, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrations, "_STEPS", migrations._STEPS[:1])
    monkeypatch.setattr(migrations, "LATEST", 1)
    scope = str(root.resolve())
    with open_store(db_url) as store:
        assert store.schema_version() == 1
    with open_store(db_url) as store, store.write() as tx:
        tx.execute(
            "INSERT INTO tasks (scope, type, title, description, files, priority, depends_on, "
            "status, created_at, updated_at, files_changed, tests_run, if_dep_fails, version) "
            "VALUES (?, 'task', 'old', '', '', 0, '', 'open', 1, 1, '', '', 'cancel', 1)",
            (scope,),
        )
        tx.execute(
            "INSERT INTO agents (scope, name, generation, status, role, label, host, lease_s, "
            "registered_at, heartbeat_at, expires_at) "
            "VALUES (?, 'b', 1, 'active', '', '', 'h', 60, 1, 1, 9e15)",
            (scope,),
        )
        tx.execute(
            "INSERT INTO messages (scope, sender, recipient, text, sent_at) "
            "VALUES (?, NULL, 'b', 'hi', 1)",
            (scope,),
        )
        tx.execute(
            "INSERT INTO deliveries (message, scope, recipient) SELECT id, scope, 'b' FROM messages"
        )
    monkeypatch.undo()
    with Coord(open_store(db_url), root=str(root)) as coord:
        assert coord.store.schema_version() == migrations.LATEST
        [old] = coord.tasks()
        assert (old.title, old.budget_tokens, old.delegated, old.verdict) == (
            "old", None, False, None,
        )  # fmt: skip
        [hi] = coord.inbox("b")
        assert (hi.text, hi.task_id, hi.expects_reply) == ("hi", None, False)


def test_delegate_to_idle_workers_and_wake_the_dependent_exactly_once(coord: Coord) -> None:
    boss, w1, w2, w3 = _fleet(coord)
    a, state_a = coord.delegate(boss, "part a", "write a.py", files=["a.py"], budget_tokens=500)
    b, state_b = coord.delegate(boss, "part b", "write b.py")
    c, state_c = coord.delegate(boss, "join", "use a and b", depends_on=[a.id, b.id])
    assert (state_a, state_b, state_c) == ("started", "started", "waiting")
    assert (a.assignee, b.assignee, c.assignee) == (w1, w2, w3)
    assert (a.status, b.status, c.status) == ("claimed", "claimed", "blocked")
    assert a.delegated and a.budget_tokens == 500 and coord.task(a.id).budget_tokens == 500
    assert b.budget_tokens is None
    # the first two are woken with their instructions; the dependent one is not (yet)
    [wake_a] = _task_messages(coord, w1)
    assert wake_a.task_id == a.id and "write a.py" in wake_a.text and "a.py" in wake_a.text
    assert wake_a.sender == boss and not wake_a.expects_reply
    assert len(_task_messages(coord, w2)) == 1
    assert _task_messages(coord, w3) == []
    # no worker is idle now: the next one is left claimable
    d, state_d = coord.delegate(boss, "extra", "more")
    assert state_d == "unassigned" and d.assignee is None and d.status == "open"
    assert coord.idle_agents() == []

    coord.complete(w1, a.id, result="a done", files_changed=["a.py"])
    assert coord.task(c.id).status == "blocked"
    assert _task_messages(coord, w3) == []
    coord.start(w2, b.id)
    coord.complete(w2, b.id, result="b done")
    # in the transaction that completed the last dependency: claimed for w3, w3 woken once
    now_c = coord.task(c.id)
    assert (now_c.status, now_c.assignee) == ("claimed", w3)
    [wake_c] = _task_messages(coord, w3)
    assert wake_c.task_id == c.id and "use a and b" in wake_c.text
    assert len(coord.events(kind="task.assigned", subject=str(c.id))) == 1
    # the creator heard of both completions, compactly, by messages that name the task
    news = _task_messages(coord, boss)
    assert [m.task_id for m in news] == [a.id, b.id]
    first = _news(news[0])
    assert first == {"task": a.id, "status": "done", "title": "part a", "agent": "s_1",
                     "result": "a done", "files_changed": ["a.py"]}  # fmt: skip
    assert news[0].sender == w1
    # w3 reports, the creator is told; nothing is sent twice
    coord.complete(w3, c.id, result="joined")
    assert [m.task_id for m in _task_messages(coord, boss)] == [a.id, b.id, c.id]
    assert len(_task_messages(coord, w3)) == 1


def test_delegate_ready_dependency_starts_at_once_and_named_agent(coord: Coord) -> None:
    boss, w1, w2, _ = _fleet(coord)
    a, _ = coord.delegate(boss, "a", "do a", agent="s_2")
    assert a.assignee == w2
    coord.complete(w2, a.id, result="ok")
    b, state = coord.delegate(boss, "b", "do b", depends_on=[a.id], agent="s_2")
    assert state == "started" and b.status == "claimed"
    assert [m.task_id for m in _task_messages(coord, w2)] == [a.id, b.id]
    assert _task_messages(coord, w1) == []


def test_delegate_bad_input(coord: Coord) -> None:
    boss, w1, *_ = _fleet(coord)
    with pytest.raises(NotFoundError, match="nobody"):
        coord.delegate(boss, "t", "x", agent="nobody")
    with pytest.raises(NotFoundError, match="#99"):
        coord.delegate(boss, "t", "x", depends_on=[99])
    for bad in (0, -5, 1.5, True):
        with pytest.raises(CoordInputError, match="budget_tokens"):
            coord.delegate(boss, "t", "x", budget_tokens=bad)  # type: ignore[arg-type]
    with pytest.raises(CoordInputError, match="instructions"):
        coord.delegate(boss, "t", "  ")
    coord.deregister(w1)
    with pytest.raises(CoordInputError, match="not active"):
        coord.delegate(boss, "t", "x", agent="s_1")
    with pytest.raises(CoordInputError, match="budget_tokens"):
        coord.add_task("t", budget_tokens=0)
    assert coord.tasks() == []  # nothing was made by a refused call
    assert coord.events(kind="message.sent") == []


def test_cycles_are_refused(coord: Coord) -> None:
    boss, *_ = _fleet(coord)
    a, _ = coord.delegate(boss, "a", "do a")
    b, _ = coord.delegate(boss, "b", "do b", depends_on=[a.id])
    c, _ = coord.delegate(boss, "c", "do c", depends_on=[b.id])
    with pytest.raises(ClaimLostError):  # a is claimed already: no new dependencies
        coord.add_dependencies(a.id, [c.id])
    with pytest.raises(DependencyCycleError, match=f"cycle: #{b.id} -> #{c.id} -> #{b.id}"):
        coord.add_dependencies(b.id, [c.id])  # b waits (blocked): a cycle through c
    d = coord.add_task("d", depends_on=[c.id])
    with pytest.raises(DependencyCycleError, match="itself"):
        coord.add_dependencies(d.id, [d.id])
    e = coord.add_task("e")
    coord.add_dependencies(e.id, [d.id])
    with pytest.raises(DependencyCycleError, match=f"#{d.id} -> #{e.id}"):
        coord.add_dependencies(d.id, [e.id])


def test_needs_review_when_a_turn_ends_without_a_report(coord: Coord) -> None:
    boss, w1, w2, _ = _fleet(coord)
    a, _ = coord.delegate(boss, "a", "do a")
    b, _ = coord.delegate(boss, "b", "do b", depends_on=[a.id])
    assert coord.flag_for_review(w2, a.id) is None  # not its task: nothing
    flagged = coord.flag_for_review(w1, a.id)
    assert flagged is not None and flagged.status == "needs_review"
    assert coord.task(a.id).status == "needs_review"
    assert coord.flag_for_review(w1, a.id) is None  # once
    [news] = _task_messages(coord, boss)
    assert _news(news)["status"] == "needs_review"
    assert coord.task(b.id).status == "blocked"  # not done: the dependent waits
    assert coord.tasks(status="needs_review") == [coord.task(a.id)]
    # its agent may still report on it
    coord.complete(w1, a.id, result="finished after all")
    assert coord.task(a.id).status == "done"
    assert coord.task(b.id).status == "claimed"
    # a task already reported is not flagged
    assert coord.flag_for_review(w2, b.id) is not None
    coord.complete(w2, b.id, result="ok")
    assert coord.flag_for_review(w2, b.id) is None


def test_failure_is_pushed_and_cancels_the_dependent(coord: Coord) -> None:
    boss, w1, _, _ = _fleet(coord)
    a, _ = coord.delegate(boss, "a", "do a")
    b, _ = coord.delegate(boss, "b", "do b", depends_on=[a.id])
    coord.fail(w1, a.id, reason="cannot")
    assert coord.task(b.id).status == "cancelled"
    statuses = [(_news(m)["task"], _news(m)["status"]) for m in _task_messages(coord, boss)]
    assert statuses == [(a.id, "failed"), (b.id, "cancelled")]


def test_the_creators_own_ends_are_not_pushed_to_it(coord: Coord) -> None:
    boss, w1, *_ = _fleet(coord)
    a, _ = coord.delegate(boss, "a", "do a")
    coord.cancel(a.id, by=boss, reason="not needed")
    assert _task_messages(coord, boss) == []
    plain = coord.add_task("plain", by=boss)  # not delegated: nobody is told
    coord.claim(w1, plain.id)
    coord.complete(w1, plain.id)
    assert coord.inbox(boss) == []


def test_end_task_and_agent_with_verdicts(coord: Coord) -> None:
    boss, w1, w2, _ = _fleet(coord)
    a, _ = coord.delegate(boss, "a", "do a")
    b, _ = coord.delegate(boss, "b", "do b")
    dep, _ = coord.delegate(boss, "dep", "after b", depends_on=[b.id])
    coord.lease(w1, "a.py")
    coord.lease(w2, "b.py")
    coord.complete(w1, a.id, result="done a")
    ended, released = coord.end_task(a.id, "accepted", "good", by=boss)
    assert (ended.status, ended.verdict, ended.result) == ("done", "accepted", "done a")
    assert released == ["a.py"] and coord.leases(holder=w2)
    assert coord.idle_agents()[0] == "s_1"  # back in the pool
    # end an agent: its held task gets the verdict, its leases go, it is idle again
    tasks, released = coord.end_agent("s_2", "rejected", "wrong approach", by=boss)
    assert [(t.id, t.status, t.verdict, t.result) for t in tasks] == [
        (b.id, "failed", "rejected", "wrong approach")
    ]
    assert released == ["b.py"] and coord.leases() == []
    assert coord.task(dep.id).status == "cancelled"
    assert "s_2" in coord.idle_agents()
    [reviewed, _] = coord.events(kind="task.reviewed")
    assert reviewed.data["verdict"] == "accepted"
    with pytest.raises(ClaimLostError):
        coord.end_task(b.id, "accepted", by=boss)
    with pytest.raises(CoordInputError, match="verdict"):
        coord.end_task(a.id, "fine", by=boss)
    with pytest.raises(NotFoundError):
        coord.end_task(999, "accepted", by=boss)
    with pytest.raises(NotFoundError):
        coord.end_agent("nobody", "accepted", by=boss)


def test_reply_to_an_awaited_message_goes_to_the_waiter_only(
    open_coord: Callable[..., Coord],
) -> None:
    coord = open_coord(limits=Limits(report=100))
    boss, w1, *_ = _fleet(coord)
    ask = coord.send("s_1", "what did you change?", sender=boss, expects_reply=True, awaited=True)
    [got] = coord.inbox(w1)
    assert got.expects_reply and got.id == ask.id
    found: list[Message | None] = []
    waiter = threading.Thread(
        target=lambda: found.append(open_coord().wait_reply(boss, ask.id, timeout=10))
    )
    waiter.start()
    answer = coord.reply(w1, ask.id, "x" * 500)
    waiter.join(15)
    [reply] = found
    assert reply is not None and reply.id == answer.id and reply.reply_to == ask.id
    assert len(reply.text) <= 100 and "cut: 500 characters" in reply.text
    assert coord.inbox(boss) == []  # handed to the waiter: it does not wake the sender again


def test_reply_after_the_waiter_gave_up_is_delivered(coord: Coord) -> None:
    boss, w1, *_ = _fleet(coord)
    ask = coord.send("s_1", "status?", sender=boss, expects_reply=True, awaited=True)
    assert coord.wait_reply(boss, ask.id, timeout=0) is None
    answer = coord.reply(w1, ask.id, "all good")
    assert [m.id for m in coord.inbox(boss)] == [answer.id]
    # a reply to a message that was not awaited is delivered too
    plain = coord.send("s_1", "and now?", sender=boss, expects_reply=True)
    second = coord.reply(w1, plain.id, "still good")
    assert [m.id for m in coord.inbox(boss)] == [answer.id, second.id]
    with pytest.raises(NotFoundError):
        coord.reply(boss, ask.id, "not mine to answer")
    with pytest.raises(CoordInputError, match="broadcast"):
        coord.send("*", "all of you?", sender=boss, expects_reply=True)


def test_coord_cli_shows_the_new_fields(coord: Coord) -> None:
    from codeswarm.cli.coord.render import render

    boss, w1, *_ = _fleet(coord)
    task, _ = coord.delegate(boss, "part a", "write a", budget_tokens=700)
    line = render("task list", coord.task(task.id), 0.0)
    assert "claimed" in line and "[s_1#1]" in line and "budget 700" in line
    coord.complete(w1, task.id, result="ok")
    coord.end_task(task.id, "accepted", by=boss)
    assert "accepted" in render("task list", coord.task(task.id), 0.0)
    [wake] = coord.inbox(w1)
    assert f"(task #{task.id})" in render("inbox", wake, 0.0)
    ask = coord.send("s_1", "why?", sender=boss, expects_reply=True)
    assert "(expects a reply)" in render("inbox", ask, 0.0)
    shown = render("task show", {**coord.task(task.id).to_dict(), "notes": []}, 0.0)
    assert "budget_tokens: 700" in shown and "verdict: accepted" in shown
    assert "delegated: True" in shown


def test_the_audit_log_of_delegation_keeps_the_invariants(coord: Coord) -> None:
    import audit_checker

    boss, w1, w2, w3 = _fleet(coord)
    a, _ = coord.delegate(boss, "a", "do a")
    b, _ = coord.delegate(boss, "b", "do b")
    c, _ = coord.delegate(boss, "c", "join", depends_on=[a.id, b.id])
    coord.lease(w1, "a.py")
    coord.flag_for_review(w1, a.id)
    coord.complete(w1, a.id, result="late but done")
    coord.start(w2, b.id)
    coord.complete(w2, b.id)
    coord.flag_for_review(w3, c.id)
    coord.end_task(c.id, "accepted", "fine", by=boss)
    events = [e.to_dict() for e in coord.events()]
    counts = audit_checker.check(events)
    assert counts["finished"] == 2 and counts["still_held"] == 1  # a.py: w1 still holds it
    # and it would see a wrong one: the dependent assigned while its dependency was still held
    broken = [e for e in events if e["kind"] != "task.done" or e["data"]["id"] != a.id]
    wrong = {**broken[-1], "seq": broken[-1]["seq"] + 1, "kind": "task.assigned",
             "data": {"id": a.id, "assignee": w2}}  # fmt: skip
    with pytest.raises(audit_checker.Violation, match="assigned while it was"):
        audit_checker.check([*broken, wrong])
