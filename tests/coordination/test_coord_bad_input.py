"""Bad input: a clear one-line error, and nothing changed (every backend)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codeswarm.coordination import Coord, Limits, ManualClock, open_store
from codeswarm.core.errors import (
    CoordInputError,
    DependencyCycleError,
    FencedError,
    NotFoundError,
    PathEscapeError,
    StorePathError,
    StoreUnavailableError,
    TooLargeError,
    UsageError,
    exit_code,
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
    ("bad-ttl", CoordInputError, "between 1 and", lambda c: c.lease("a", "docs/", ttl=-1)),
    ("empty-path", CoordInputError, "empty path", lambda c: c.lease("a", "")),
    ("bad-policy", CoordInputError, "if_dep_fails", lambda c: c.add_task("t", if_dep_fails="x")),
    # bounds (codeswarm.coordination.bounds; the table in docs/coordination.md)
    ("ttl-huge", CoordInputError, "between 1 and 604800", lambda c: c.lease("a", "x", ttl=1e308)),
    ("ttl-tiny", CoordInputError, "between 1 and", lambda c: c.lease("a", "x", ttl=1e-300)),
    ("ttl-nan", CoordInputError, "not nan", lambda c: c.lease("a", "x", ttl=float("nan"))),
    ("ttl-inf", CoordInputError, "not inf", lambda c: c.lease("a", "x", ttl=float("inf"))),
    ("ttl-text", CoordInputError, "a number", lambda c: c.lease("a", "x", ttl="60")),  # type: ignore[arg-type]
    ("lease-wait", CoordInputError, "wait must be", lambda c: c.lease("a", "x", wait=-1)),
    ("lease-wait-long", CoordInputError, "3600", lambda c: c.lease("a", "x", wait=1e9)),
    ("path-100k", TooLargeError, "PATH_MAX", lambda c: c.lease("a", "d/" * 50_000)),
    ("path-long", TooLargeError, "PATH_MAX", lambda c: c.lease("a", "/".join(["d" * 200] * 21))),
    ("path-5m", TooLargeError, "PATH_MAX", lambda c: c.lease("a", "x" * 5_000_000)),
    ("path-segment", TooLargeError, "NAME_MAX", lambda c: c.lease("a", "src/" + "y" * 256)),
    ("task-file-long", TooLargeError, "PATH_MAX", lambda c: c.add_task("t", files=["z" * 5000])),
    ("task-files-many", CoordInputError, "1001 paths",
     lambda c: c.add_task("t", files=[f"f{i}" for i in range(1001)])),
    ("tests-run-many", CoordInputError, "tests_run: 1001",
     lambda c: c.complete("a", 1, tests_run=[f"t{i}" for i in range(1001)])),
    ("leases-path-huge", TooLargeError, "PATH_MAX", lambda c: c.leases(path="q/" * 10_000)),
    ("check-path-huge", TooLargeError, "PATH_MAX", lambda c: c.conflicts("q/" * 10_000)),
    ("lease-s-huge", CoordInputError, "lease_s", lambda c: c.register("n", lease_s=1e308)),
    ("lease-s-nan", CoordInputError, "lease_s", lambda c: c.register("n", lease_s=float("nan"))),
    ("pid-negative", CoordInputError, "pid", lambda c: c.register("n", pid=-1)),
    ("pid-huge", CoordInputError, "pid", lambda c: c.register("n", pid=2**40)),
    ("inbox-limit", CoordInputError, "limit must be", lambda c: c.inbox("a", limit=-1)),
    ("inbox-limit-0", CoordInputError, "limit must be", lambda c: c.inbox("a", limit=0)),
    ("inbox-limit-big", CoordInputError, "1000", lambda c: c.inbox("a", limit=10**6)),
    ("inbox-wait", CoordInputError, "wait must be", lambda c: c.inbox("a", wait=-1)),
    ("events-limit", CoordInputError, "limit must be", lambda c: c.events(limit=0)),
    ("events-since", CoordInputError, "since must be", lambda c: c.events(since=-1)),
    ("events-since-huge", CoordInputError, "since must be", lambda c: c.events(since=2**64)),
    ("events-kind-lines", CoordInputError, "one line", lambda c: c.events(kind="a\nb")),
    ("wait-negative", CoordInputError, "wait must be", lambda c: c.wait(since=0, timeout=-1)),
    ("wait-nan", CoordInputError, "wait must be", lambda c: c.wait(since=0, timeout=float("nan"))),
    ("task-id-huge", CoordInputError, "invalid task id", lambda c: c.claim("a", 2**63)),
    ("task-id-digits", CoordInputError, "invalid task id", lambda c: c.claim("a", "²")),
    ("task-id-long", CoordInputError, "5000 characters", lambda c: c.claim("a", "9" * 5000)),
    ("parent-huge", CoordInputError, "invalid task id", lambda c: c.add_task("t", parent=2**64)),
    ("dep-huge", CoordInputError, "invalid task id", lambda c: c.add_task("t", depends_on=[2**64])),
    ("deps-many", CoordInputError, "limit is 1000",
     lambda c: c.add_task("t", depends_on=range(1, 1002))),
    ("depend-many", CoordInputError, "limit is 1000",
     lambda c: c.add_dependencies(2, range(3, 1004))),
    ("claim-version", CoordInputError, "version must be", lambda c: c.claim("a", 1, version=-1)),
    ("reply-to-huge", CoordInputError, "invalid message id",
     lambda c: c.send("a", "hi", reply_to=2**64)),
    ("ack-many", CoordInputError, "limit is 1000", lambda c: c.ack("a", range(1, 1002))),
    ("ack-huge", CoordInputError, "invalid message id", lambda c: c.ack("a", [2**63])),
    ("ref-generation-huge", CoordInputError, "invalid agent ref",
     lambda c: c.heartbeat("a#99999999999999999999")),
    ("ref-generation-digits", CoordInputError, "invalid agent ref", lambda c: c.heartbeat("a#²")),
    ("kv-version", CoordInputError, "expect_version", lambda c: c.kv_set("k", "v", expect_version=-3)),
    ("kv-del-version", CoordInputError, "expect_version",
     lambda c: c.kv_delete("k", expect_version=2**64)),
    ("priority-huge", CoordInputError, "priority", lambda c: c.add_task("t", priority=2**40)),
    ("tasks-type-lines", CoordInputError, "one line", lambda c: c.tasks(type="a\nb")),
    ("claim-next-type", TooLargeError, "limit is", lambda c: c.claim_next("a", type="t" * 600)),
    # text that is not UTF-8 (a name or argument from bytes that were not: "\udcff")
    ("value-not-utf8", CoordInputError, "not valid UTF-8", lambda c: c.kv_set("k", "\udcff")),
    ("message-not-utf8", CoordInputError, "not valid UTF-8", lambda c: c.send("a", "hi\udcff")),
    ("title-not-utf8", CoordInputError, "not valid UTF-8", lambda c: c.add_task("t\udcff")),
    ("path-not-utf8", CoordInputError, "not valid UTF-8", lambda c: c.lease("a", "x\udcff")),
    ("release-not-utf8", CoordInputError, "not valid UTF-8", lambda c: c.release("a", "\udcff")),
]  # fmt: skip


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


# -- the database file itself (SQLite): refused before anything is created or written ------------


def tree(top: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and directory (None) under ``top``."""
    return {
        str(p.relative_to(top)): None if p.is_dir() else p.read_bytes()
        for p in sorted(top.rglob("*"))
    }


def refused(url: str, error: type[Exception], words: str) -> Exception:
    with pytest.raises(error, match=words) as info:
        open_store(url)
    message = str(info.value)
    assert "\n" not in message and len(message) < 300
    return info.value


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 100)
    before = tree(tmp_path)
    for url in (str(notes), f"sqlite://{notes}", f"sqlite://{notes}?journal=delete"):
        exc = refused(url, StorePathError, "not a SQLite database")
        assert exit_code(exc) == 2
    assert tree(tmp_path) == before  # no -wal, -shm, .lock; the bytes as they were


def test_a_missing_directory_is_refused_not_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    before = tree(tmp_path)
    for path, words in [
        (tmp_path / "no" / "such" / "dir" / "x.db", "does not exist"),
        (tmp_path / "file" / "x.db", "not a directory"),
    ]:
        exc = refused(str(path), StorePathError, words)
        assert exit_code(exc) == 2 and isinstance(exc, StoreUnavailableError)
    assert tree(tmp_path) == before


def test_a_directory_or_a_device_is_refused(tmp_path: Path) -> None:
    refused(str(tmp_path), StorePathError, "is a directory")
    refused("/dev/null", StorePathError, "not a regular file")
    assert tree(tmp_path) == {}


def test_another_programs_sqlite_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    import sqlite3

    for version in (0, 2):
        path = tmp_path / f"places-{version}.sqlite"
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("CREATE TABLE moz_places (url TEXT)")
            db.execute("INSERT INTO moz_places VALUES ('https://example.org')")
            db.execute(f"PRAGMA user_version = {version}")
            db.commit()
    before = tree(tmp_path)
    for version in (0, 2):
        exc = refused(str(tmp_path / f"places-{version}.sqlite"), StorePathError, "another program")
        assert exit_code(exc) == 2
    assert tree(tmp_path) == before  # not switched to WAL, no tables of ours added


def test_a_damaged_database_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    damaged = tmp_path / "coord.db"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\x01" * 200)
    before = tree(tmp_path)
    exc = refused(str(damaged), StoreUnavailableError, "cannot open .*: file is not a database")
    assert exit_code(exc) == 1  # the database is broken, not the flag
    assert tree(tmp_path) == before
