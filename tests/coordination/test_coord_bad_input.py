"""Bad input: a clear one-line error, and nothing changed (every backend)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codeswarm.coordination import Coord, Limits, ManualClock
from codeswarm.core.errors import (
    CoordInputError,
    DependencyCycleError,
    FencedError,
    NotFoundError,
    PathEscapeError,
    TooLargeError,
    UsageError,
)


@pytest.fixture
def busy(open_coord: Callable[..., Coord], root: Path, tmp_path: Path) -> Coord:
    """A scope with some state in it, and a symlink out of the root."""
    coord = open_coord(limits=Limits(kv_value=16, message=16, title=32))
    (tmp_path / "elsewhere").mkdir()
    (root / "escape").symlink_to(tmp_path / "elsewhere")
    coord.register("old")
    a = coord.register("a")
    coord.register("old")  # old#1 is now stale
    coord.lease(a, "src/")
    one = coord.add_task("one")
    coord.add_task("two", depends_on=[one.id])
    coord.kv_set("k", "v")
    coord.send("a", "hi")
    return coord


CASES: list[tuple[str, type[Exception], str, Callable[[Coord], Any]]] = [
    ("dotdot", PathEscapeError, "outside the scope root", lambda c: c.lease("a", "../x")),
    ("absolute", PathEscapeError, "outside the scope root", lambda c: c.lease("a", "/etc/passwd")),
    ("symlink", PathEscapeError, "through a symlink", lambda c: c.lease("a", "escape/x")),
    ("glob-dotdot", CoordInputError, "after a wildcard", lambda c: c.lease("a", "src/*/../../x")),
    ("task-file", PathEscapeError, "outside", lambda c: c.add_task("t", files=["../x"])),
    ("cycle", DependencyCycleError, "cycle", lambda c: c.add_dependencies(1, [2])),
    ("self-dep", DependencyCycleError, "itself", lambda c: c.add_dependencies(2, [2])),
    ("big-value", TooLargeError, "limit is 16", lambda c: c.kv_set("k", "x" * 17)),
    ("big-message", TooLargeError, "limit is 16", lambda c: c.send("a", "x" * 17)),
    ("big-title", TooLargeError, "limit is 32", lambda c: c.add_task("x" * 33)),
    ("unknown-task", NotFoundError, "#77", lambda c: c.claim("a", 77)),
    ("unknown-dep", NotFoundError, "#77", lambda c: c.add_task("t", depends_on=[1, 77])),
    ("unknown-agent", NotFoundError, "ghost", lambda c: c.lease("ghost", "x")),
    ("unknown-message", NotFoundError, "#77", lambda c: c.ack("a", [77])),
    ("unknown-recipient", NotFoundError, "ghost", lambda c: c.send("ghost", "hi")),
    ("unknown-key", NotFoundError, "nope", lambda c: c.kv_delete("nope")),
    ("stale-generation", FencedError, "superseded", lambda c: c.lease("old#1", "docs/")),
    ("stale-claim", FencedError, "superseded", lambda c: c.claim("old#1", 1)),
    ("bad-status", CoordInputError, "unknown task status", lambda c: c.tasks(status="nope")),
    ("bad-ttl", CoordInputError, "positive", lambda c: c.lease("a", "docs/", ttl=-1)),
    ("empty-path", CoordInputError, "empty path", lambda c: c.lease("a", "")),
    ("bad-policy", CoordInputError, "if_dep_fails", lambda c: c.add_task("t", if_dep_fails="x")),
]


def snapshot(c: Coord) -> dict[str, Any]:
    """Everything a scope holds, for "nothing changed" assertions."""
    return {
        "agents": [a.to_dict() for a in c.agents(all=True)],
        "leases": [lease.to_dict() for lease in c.leases()],
        "tasks": [t.to_dict() for t in c.tasks()],
        "kv": [e.to_dict() for e in c.kv_list()],
        "events": [e.to_dict() for e in c.events(limit=10_000)],
    }


@pytest.mark.parametrize(("case", "error", "words", "call"), CASES, ids=[c[0] for c in CASES])
def test_refused_with_a_clear_error_and_nothing_changed(
    busy: Coord,
    clock: ManualClock,
    case: str,
    error: type[Exception],
    words: str,
    call: Callable[[Coord], Any],
) -> None:
    before = snapshot(busy)
    with pytest.raises(error, match=words) as info:
        call(busy)
    message = str(info.value)
    assert "\n" not in message and len(message) < 300
    assert snapshot(busy) == before
    if not isinstance(info.value, FencedError):
        assert isinstance(info.value, UsageError)  # exit code 2 in the CLI
