"""Unassigned delegated tasks (every backend): ``delegate`` found no idle worker, so the task waits;
the first worker that becomes free (its task ends, its task gets a verdict, or it registers) is
handed it in the same transaction, with the wake-up message, exactly once; a blocked one goes to
an idle worker in the transaction that makes it ready."""

from __future__ import annotations

from codeswarm.coordination import Coord, Message


def _task_messages(coord: Coord, agent: str) -> list[Message]:
    return [m for m in coord.inbox(agent) if m.task_id is not None]


def test_an_unassigned_task_goes_to_the_worker_whose_task_ends(coord: Coord) -> None:
    boss = coord.register("s_0", role="orchestrator").id
    w1 = coord.register("s_1", role="implementer").id
    a, state_a = coord.delegate(boss, "part a", "write a.py")
    b, state_b = coord.delegate(boss, "part b", "write b.py")
    c, state_c = coord.delegate(boss, "part c", "write c.py")
    assert (state_a, state_b, state_c) == ("started", "unassigned", "unassigned")
    assert (b.assignee, b.status, b.delegated) == (None, "open", True)
    assert [m.task_id for m in _task_messages(coord, w1)] == [a.id]
    coord.complete(w1, a.id, result="a done")
    # freed by its report: the oldest waiting task is claimed for it and it is woken, at once
    now_b = coord.task(b.id)
    assert (now_b.status, now_b.assignee) == ("claimed", w1)
    assert coord.task(c.id).status == "open" and coord.task(c.id).assignee is None
    wakes = _task_messages(coord, w1)
    assert [m.task_id for m in wakes] == [a.id, b.id]
    assert "write b.py" in wakes[1].text and wakes[1].sender == boss
    assert len(coord.events(kind="task.assigned", subject=str(b.id))) == 1
    # the creator hears of the end of a task that was handed out, as of any delegated one
    coord.fail(w1, b.id, reason="cannot")
    news = [m for m in _task_messages(coord, boss) if m.task_id == b.id]
    assert len(news) == 1 and "failed" in news[0].text
    assert (coord.task(c.id).status, coord.task(c.id).assignee) == ("claimed", w1)
    # nothing is left to hand out: the next end hands out nothing and sends nothing
    coord.complete(w1, c.id, result="c done")
    assert [m.task_id for m in _task_messages(coord, w1)] == [a.id, b.id, c.id]


def test_a_worker_that_registers_gets_a_waiting_task(coord: Coord) -> None:
    boss = coord.register("s_0", role="orchestrator").id
    t, state = coord.delegate(boss, "solo", "do it")
    assert state == "unassigned"
    other = coord.register("s_9", role="orchestrator").id  # an orchestrator is never handed one
    assert coord.task(t.id).assignee is None and _task_messages(coord, other) == []
    w1 = coord.register("s_1", role="implementer").id
    got = coord.task(t.id)
    assert (got.status, got.assignee) == ("claimed", w1)
    [wake] = _task_messages(coord, w1)
    assert wake.task_id == t.id and "do it" in wake.text


def test_a_verdict_frees_the_worker_for_a_waiting_task(coord: Coord) -> None:
    boss = coord.register("s_0", role="orchestrator").id
    w1 = coord.register("s_1", role="implementer").id
    a, _ = coord.delegate(boss, "part a", "write a.py")
    b, state_b = coord.delegate(boss, "part b", "write b.py")
    assert state_b == "unassigned"
    # the turn ended without a report: needs_review keeps the worker busy
    assert coord.flag_for_review(w1, a.id) is not None
    assert coord.task(b.id).assignee is None
    coord.end_task(a.id, "accepted", "fine", by=boss)
    got = coord.task(b.id)
    assert (got.status, got.assignee) == ("claimed", w1)
    assert [m.task_id for m in _task_messages(coord, w1)] == [a.id, b.id]
    # an agent that holds a task it claimed itself is not idle: nothing is handed to it
    d, state_d = coord.delegate(boss, "part d", "write d.py")
    assert state_d == "unassigned"
    coord.end_agent("s_1", "rejected", "no", by=boss)
    got_d = coord.task(d.id)
    assert (got_d.status, got_d.assignee) == ("claimed", w1)


def test_only_delegated_tasks_are_handed_out_and_a_busy_worker_gets_none(coord: Coord) -> None:
    boss = coord.register("s_0", role="orchestrator").id
    w1 = coord.register("s_1", role="implementer").id
    plain = coord.add_task("anyone's", by=boss)  # an ordinary task: claimed by hand only
    a, _ = coord.delegate(boss, "part a", "write a.py")
    b, state_b = coord.delegate(boss, "part b", "write b.py")
    assert state_b == "unassigned"
    mine = coord.claim(w1, plain.id)  # w1 now holds two tasks
    coord.complete(w1, a.id, result="done")
    assert coord.task(b.id).assignee is None  # still busy with the one it claimed
    coord.complete(w1, mine.id, result="done")
    assert coord.task(b.id).assignee == w1
    assert coord.task(plain.id).status == "done"


def test_a_waiting_unassigned_task_goes_to_an_idle_worker_when_it_becomes_ready(
    coord: Coord,
) -> None:
    boss = coord.register("s_0", role="orchestrator").id
    w1 = coord.register("s_1", role="implementer").id
    w2 = coord.register("s_2", role="implementer").id
    a, _ = coord.delegate(boss, "part a", "write a.py")
    b, _ = coord.delegate(boss, "part b", "write b.py")
    c, state_c = coord.delegate(boss, "join", "join a and b", depends_on=[a.id])
    assert state_c == "unassigned" and coord.task(c.id).status == "blocked"
    coord.complete(w2, b.id, result="b done")  # w2 is idle now, but c is not ready yet
    assert coord.task(c.id).assignee is None
    coord.claim(w1, coord.add_task("w1's own", by=w1).id)  # w1 stays busy after a
    coord.complete(w1, a.id, result="a done")  # c is ready: to the idle worker, at once
    got = coord.task(c.id)
    assert (got.status, got.assignee) == ("claimed", w2)
    assert len(coord.events(kind="task.assigned", subject=str(c.id))) == 1
    wakes = [m for m in _task_messages(coord, w2) if m.task_id == c.id]
    assert len(wakes) == 1 and "join a and b" in wakes[0].text and wakes[0].sender == boss
    # nobody idle when it gets ready: it stays open for the next worker that frees up
    d, state_d = coord.delegate(boss, "after c", "use c", depends_on=[c.id])
    assert state_d == "unassigned"
    coord.complete(w2, c.id, result="c done")  # w2 frees up in that transaction: it gets d
    assert coord.task(d.id).assignee == w2
