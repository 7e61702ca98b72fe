"""Leases on paths: conflicts, sharing, re-entrancy, fencing tokens, TTL (every backend)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from codeswarm.coordination import Coord, ManualClock
from codeswarm.core.errors import LeaseConflictError, NotFoundError


def test_an_exclusive_lease_conflict_names_holder_note_age_and_expiry(
    coord: Coord, clock: ManualClock
) -> None:
    a, b = coord.register("a"), coord.register("b")
    coord.lease(a, "src/app.py", note="refactoring", ttl=60)
    clock.advance(12)
    with pytest.raises(LeaseConflictError) as info:
        coord.lease(b, "src/app.py")
    err = info.value
    assert (err.holder, err.note, err.mode, err.path) == (
        "a#1",
        "refactoring",
        "exclusive",
        "src/app.py",
    )
    assert err.age == pytest.approx(12)
    assert err.expires_in == pytest.approx(48)
    assert str(err) == (
        "src/app.py is held (exclusive) by a#1 for 12s ('refactoring'), expires in 48s"
    )


@pytest.mark.parametrize(
    ("first", "second", "conflict"),
    [
        (("src/a.py", False), ("src/a.py", False), True),
        (("src/a.py", True), ("src/a.py", True), False),
        (("src/a.py", True), ("src/a.py", False), True),
        (("src/a.py", False), ("src/a.py", True), True),
        (("src/", False), ("src/deep/a.py", False), True),
        (("src/deep/a.py", False), ("src/", True), True),
        (("src/", False), ("srcs/a.py", False), False),
        (("src/**/*.py", False), ("src/x/y.py", False), True),
        (("src/*.py", False), ("src/*.md", False), False),
        (("src/*.py", False), ("src/a*", False), True),
        (("*.md", False), ("src/", False), False),
        ((".", False), ("anything", False), True),
        (("a.py", False), ("b.py", False), False),
    ],
)
def test_overlap_and_modes(
    coord: Coord, first: tuple[str, bool], second: tuple[str, bool], conflict: bool
) -> None:
    a, b = coord.register("a"), coord.register("b")
    coord.lease(a, first[0], shared=first[1])
    if conflict:
        with pytest.raises(LeaseConflictError):
            coord.lease(b, second[0], shared=second[1])
        assert coord.conflicts(second[0], agent=b, shared=second[1]) != []
    else:
        coord.lease(b, second[0], shared=second[1])
        assert len(coord.leases()) == 2


def test_reentrant_for_the_holder_and_tokens_increase(coord: Coord, clock: ManualClock) -> None:
    a, b = coord.register("a"), coord.register("b")
    first = coord.lease(a, "x.py", ttl=10)
    clock.advance(5)
    again = coord.lease(a, "x.py", ttl=10, note="still")
    assert (again.id, again.token) == (first.id, first.token)
    assert again.expires_at == clock.now() + 10 and again.note == "still"
    coord.lease(a, "dir/")  # a holder never conflicts with itself
    coord.lease(a, "dir/inner.py")
    shared = coord.lease(a, "x.py", shared=True)  # a mode change is a new grant
    assert shared.token > first.token and shared.mode == "shared"
    tokens = [coord.lease(b, f"f{i}").token for i in range(5)]
    assert tokens == sorted(tokens) and len(set(tokens)) == 5
    assert tokens[0] > shared.token
    acquired = [e.data["token"] for e in coord.events(kind="lease.acquired")]
    assert acquired == sorted(acquired) and len(set(acquired)) == len(acquired)


def test_ttl_expiry_and_renewal(coord: Coord, clock: ManualClock) -> None:
    a, b = coord.register("a"), coord.register("b")
    coord.lease(a, "x", ttl=10)
    coord.lease(a, "y", ttl=10)
    clock.advance(8)
    [renewed] = coord.renew(a, "y")
    assert renewed.expires_at == clock.now() + 10
    clock.advance(3)
    assert [lease.path for lease in coord.leases()] == ["y"]  # x lapsed
    coord.lease(b, "x")
    with pytest.raises(LeaseConflictError):
        coord.lease(b, "y")
    [expired] = coord.events(kind="lease.expired")
    assert (expired.subject, expired.agent) == ("x", "a#1")


def test_release(coord: Coord) -> None:
    a, b = coord.register("a"), coord.register("b")
    lease = coord.lease(a, "x.py")
    with pytest.raises(NotFoundError, match=r"b holds no lease on x\.py"):
        coord.release(b, "x.py")
    with pytest.raises(NotFoundError):
        coord.release(a, "y.py")
    assert coord.release(a, "x.py") == lease
    coord.lease(b, "x.py")
    coord.lease(a, "p")
    coord.lease(a, "q")
    assert sorted(x.path for x in coord.release_all(a)) == ["p", "q"]
    assert [x.holder for x in coord.leases()] == ["b#1"]


def test_listing_and_conflicts(coord: Coord) -> None:
    a, b = coord.register("a"), coord.register("b")
    coord.lease(a, "src/")
    coord.lease(b, "docs/readme.md", shared=True)
    assert [x.path for x in coord.leases(holder="a")] == ["src/"]
    assert [x.path for x in coord.leases(path="src/x/y.py")] == ["src/"]
    assert [x.holder for x in coord.conflicts("src/m.py", agent=b)] == ["a#1"]
    assert coord.conflicts("src/m.py", agent=a) == []
    assert coord.conflicts("docs/readme.md", agent=a, shared=True) == []
    assert coord.lease_paths() == [("src/", "dir", "a#1"), ("docs/readme.md", "file", "b#1")]
    coord.deregister(a)  # a holder that is gone holds nothing
    assert coord.lease_paths() == [("docs/readme.md", "file", "b#1")]


def test_paths_are_normalized_against_the_root(coord: Coord, root: Path) -> None:
    a = coord.register("a")
    (root / "pkg").mkdir()
    (root / "alias").symlink_to(root / "pkg")
    assert coord.lease(a, str(root / "pkg" / "m.py")).path == "pkg/m.py"
    assert coord.lease(a, "m.py", cwd=str(root / "pkg")).path == "pkg/m.py"
    assert coord.lease(a, "pkg/../pkg/./m.py").path == "pkg/m.py"
    assert coord.lease(a, "alias/m.py").path == "pkg/m.py"  # through the symlink
    assert coord.lease(a, "pkg").path == "pkg/"  # an existing directory
    assert coord.lease(a, ".").path == "."
    assert len(coord.leases()) == 3


def test_lease_wait_takes_it_once_released(open_coord: Callable[..., Coord]) -> None:
    holder, waiter = open_coord(), open_coord()
    a, b = holder.register("a"), holder.register("b")
    holder.lease(a, "x")
    got: list[object] = []

    def take() -> None:
        got.append(waiter.lease(b, "x", wait=20))

    thread = threading.Thread(target=take)
    thread.start()
    holder.release(a, "x")
    thread.join(30)
    assert not thread.is_alive()
    [lease] = got
    assert lease.holder == "b#1"  # type: ignore[attr-defined]


def test_symlink_out_of_the_root_is_refused(coord: Coord, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "out")
    a = coord.register("a")
    from codeswarm.core.errors import PathEscapeError

    with pytest.raises(PathEscapeError, match="symlink"):
        coord.lease(a, "out/x.py")


def test_held_lists_what_leases_lists(db_url: str, root: Path, tmp_path: Path) -> None:
    """:func:`held` (``status``: the store alone) answers what ``LeaseOps.leases`` does, opened
    on the same URL and root (a symlink to it too), with the real clock: live leases only."""
    import time

    from codeswarm.coordination import ManualClock
    from codeswarm.coordination.held import held
    from codeswarm.coordination.leases import LeaseOps
    from codeswarm.core.errors import CoordInputError

    with Coord.open(db_url, root=str(root)) as coord:
        a, b = coord.register("a"), coord.register("b")
        coord.lease(a, "src/app.py", note="a note")
        coord.lease(b, "docs/", shared=True)
        coord.lease(a, "docs/*.md", shared=True, ttl=3600)
        coord.release(a, coord.lease(a, "gone.py").path)
    past = ManualClock(time.time() - 3600)  # an agent whose time has run out (not yet swept)
    with Coord.open(db_url, root=str(root), clock=past) as coord:
        coord.lease(coord.register("old", lease_s=60), "old.py")
    link = tmp_path / "link"
    link.symlink_to(root)
    for where in (str(root), str(link)):
        with LeaseOps.open(db_url, root=where) as leases:
            want = [(x.holder.split("#")[0], x.path, x.mode, x.note, x.token)
                    for x in leases.leases()]  # fmt: skip
        assert held(db_url, where) == want
        assert [w[0] for w in want] == ["a", "b", "a"]
    with pytest.raises(CoordInputError, match="does not exist"):
        held(db_url, str(tmp_path / "nowhere"))
