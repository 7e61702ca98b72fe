"""Tasks: dependencies, idempotency, compare-and-set claims, claim-next, lifecycle (every backend)."""

from __future__ import annotations

import pytest

from codeswarm.coordination import Coord, ManualClock
from codeswarm.core.errors import (
    ClaimLostError,
    CoordInputError,
    DependencyCycleError,
    NotFoundError,
    VersionMismatchError,
)


def test_add_and_show(coord: Coord) -> None:
    a = coord.register("a")
    parent = coord.add_task("epic")
    t = coord.add_task(
        "fix the parser",
        type="bug",
        description="it drops the last line",
        files=["src/parse.py", "tests/"],
        priority=5,
        parent=parent.id,
        by=a,
    )
    assert (t.status, t.type, t.priority, t.parent, t.created_by) == (
        "open",
        "bug",
        5,
        parent.id,
        "a#1",
    )
    assert t.files == ["src/parse.py", "tests/"]
    assert coord.task(t.id) == t
    assert coord.tasks(type="bug") == [t]
    [event] = coord.events(kind="task.added", subject=str(t.id))
    assert event.data["title"] == "fix the parser"


def test_idempotency_key_returns_the_first_task(coord: Coord) -> None:
    first = coord.add_task("build", key="build-42")
    again = coord.add_task("build (retry)", key="build-42")
    assert again == first
    assert len(coord.tasks()) == 1
    assert len(coord.events(kind="task.added")) == 1


def test_dependencies_block_until_done(coord: Coord) -> None:
    a = coord.register("a")
    one, two = coord.add_task("one"), coord.add_task("two")
    after = coord.add_task("after", depends_on=[one.id, two.id])
    assert after.status == "blocked" and after.depends_on == [one.id, two.id]
    assert coord.claim_next(a) is not None  # "one" (oldest), never the blocked task
    coord.complete(a, one.id, result="ok", files_changed=["src/x.py"], tests_run=["pytest -q"])
    assert coord.task(after.id).status == "blocked"
    coord.claim(a, two.id)
    coord.start(a, two.id)
    done = coord.complete(a, two.id)
    assert done.status == "done"
    assert coord.task(after.id).status == "open"
    assert [e.subject for e in coord.events(kind="task.unblocked")] == [str(after.id)]
    assert coord.task(one.id).files_changed == ["src/x.py"]
    assert coord.task(one.id).tests_run == ["pytest -q"]


def test_failure_cancels_dependents_transitively_unless_they_block(coord: Coord) -> None:
    a = coord.register("a")
    root = coord.add_task("root")
    child = coord.add_task("child", depends_on=[root.id])
    grandchild = coord.add_task("grandchild", depends_on=[child.id])
    patient = coord.add_task("patient", depends_on=[root.id], if_dep_fails="block")
    coord.claim(a, root.id)
    coord.fail(a, root.id, reason="broken build")
    assert coord.task(root.id).result == "broken build"
    assert coord.task(child.id).status == "cancelled"
    assert coord.task(grandchild.id).status == "cancelled"
    assert coord.task(grandchild.id).result == f"dependency #{child.id} cancelled"
    assert coord.task(patient.id).status == "blocked"
    with pytest.raises(CoordInputError, match="failed"):
        coord.add_task("late", depends_on=[root.id])


def test_claim_is_compare_and_set(coord: Coord) -> None:
    a, b = coord.register("a"), coord.register("b")
    t = coord.add_task("t")
    with pytest.raises(VersionMismatchError):
        coord.claim(a, t.id, version=t.version + 1)
    won = coord.claim(a, t.id, version=t.version)
    assert (won.status, won.assignee, won.version) == ("claimed", "a#1", t.version + 1)
    with pytest.raises(ClaimLostError, match=r"claimed by a#1, not open"):
        coord.claim(b, t.id)
    with pytest.raises(ClaimLostError, match="not b"):
        coord.complete(b, t.id)
    with pytest.raises(ClaimLostError):
        coord.start(b, t.id)
    with pytest.raises(ClaimLostError):
        coord.progress(b, t.id, "x")


def test_claim_next_prefers_priority_then_own_leases_then_free_files_then_age(
    coord: Coord, clock: ManualClock
) -> None:
    a, b = coord.register("a"), coord.register("b")
    assert coord.claim_next(a) is None
    coord.lease(a, "mine/")
    coord.lease(b, "theirs/")
    old = coord.add_task("old", files=["else/x.py"])
    clock.advance(1)
    taken = coord.add_task("taken", files=["theirs/x.py"])
    clock.advance(1)
    near = coord.add_task("near", files=["mine/x.py"])
    clock.advance(1)
    urgent = coord.add_task("urgent", priority=9, files=["theirs/y.py"])
    other_type = coord.add_task("doc", type="docs", priority=99)
    order = [coord.claim_next(a, type="task") for _ in range(5)]
    assert [t.id if t else None for t in order] == [urgent.id, near.id, old.id, taken.id, None]
    assert coord.claim_next(a, type="docs") == coord.task(other_type.id)


def test_lifecycle_progress_unclaim_cancel(coord: Coord) -> None:
    a = coord.register("a")
    t = coord.add_task("t")
    coord.claim(a, t.id)
    assert coord.start(a, t.id).status == "in_progress"
    coord.progress(a, t.id, "half way")
    coord.progress(a, t.id, "almost")
    assert [n.text for n in coord.task_notes(t.id)] == ["half way", "almost"]
    assert coord.task_notes(t.id)[0].agent == "a#1"
    assert coord.unclaim(a, t.id).status == "open"
    assert coord.task(t.id).assignee is None
    assert coord.cancel(t.id, reason="not needed").status == "cancelled"
    with pytest.raises(ClaimLostError, match="already cancelled"):
        coord.cancel(t.id)
    assert coord.tasks(status="cancelled") == [coord.task(t.id)]
    assert coord.tasks(status=["open", "claimed"]) == []


def test_dependency_cycles_are_refused(coord: Coord) -> None:
    one = coord.add_task("one")
    two = coord.add_task("two", depends_on=[one.id])
    three = coord.add_task("three", depends_on=[two.id])
    with pytest.raises(
        DependencyCycleError, match=rf"#{one.id} -> #{three.id} -> #{two.id} -> #{one.id}"
    ):
        coord.add_dependencies(one.id, [three.id])
    with pytest.raises(DependencyCycleError, match="itself"):
        coord.add_dependencies(one.id, [one.id])
    extra = coord.add_task("extra")
    updated = coord.add_dependencies(one.id, [extra.id])
    assert (updated.status, updated.depends_on) == ("blocked", [extra.id])


def test_unknown_ids(coord: Coord) -> None:
    a = coord.register("a")
    for call in (
        lambda: coord.task(999),
        lambda: coord.claim(a, 999),
        lambda: coord.add_task("x", depends_on=[999]),
        lambda: coord.add_task("x", parent=999),
        lambda: coord.cancel(999),
    ):
        with pytest.raises(NotFoundError, match="#999"):
            call()
    for bad in (0, -1, "x", True, 1.5):
        with pytest.raises(CoordInputError):
            coord.task(bad)  # type: ignore[arg-type]


def test_a_lapsed_holders_task_can_be_claimed_at_once(coord: Coord, clock: ManualClock) -> None:
    a = coord.register("a", lease_s=10)
    b = coord.register("b", lease_s=1000)
    first, second = coord.add_task("first"), coord.add_task("second")
    coord.claim(a, first.id)
    coord.claim(a, second.id)
    clock.advance(11)  # a lapses; nothing has swept it yet
    nxt = coord.claim_next(b)  # not refused from a snapshot: the sweep reopens a's tasks
    assert nxt is not None and nxt.id == first.id
    c = coord.register("c")
    coord.claim(c, second.id)
    coord.unclaim(c, second.id)
    coord.claim(a := coord.register("a", lease_s=10), second.id)
    clock.advance(11)
    assert coord.claim(b, second.id).assignee == "b#1"  # nor is a direct claim
    assert a.generation == 2
