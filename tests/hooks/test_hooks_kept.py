"""What the hooks' decision service keeps between calls (codeswarm.hooks.service.KeptLeases, the
derived lists in codeswarm.hooks.handlers and codeswarm.hooks.leased): never a stale lease set.
A lease taken or released a moment ago, by another process or by the worker's own store, is seen
by the very next decision; one that expires is gone without any commit; the service's own
heartbeats and audit rows do not make it read again, anyone else's commit does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hookkit import PATCH_X, coord, denied

from codeswarm.coordination import Coord, ManualClock
from codeswarm.hooks.call import decide
from codeswarm.hooks.leased import Snapshot, Spec, covered, specs_of
from codeswarm.hooks.service import KeptLeases

PATCH_Y = "*** Begin Patch\n*** Update File: src/y.py\n@@\n-a\n+b\n*** End Patch\n"


def in_another_process(repo: Path, code: str) -> None:
    """Run ``code`` with ``c``, a Coord of its own on the test's store, in another process."""
    script = (
        "import sys\nfrom codeswarm.coordination import Coord\n"
        "with Coord.open(sys.argv[1], root=sys.argv[2]) as c:\n"
        + "".join(f"    {line}\n" for line in code.splitlines())
    )
    subprocess.run(
        [sys.executable, "-c", script, str(repo.parent / "coord.db"), str(repo)],
        check=True, timeout=60, capture_output=True,
    )  # fmt: skip


def pre_tool_use(repo: Path, view: Any, patch: str, call: str = "u-1") -> dict[str, Any] | None:
    """One PreToolUse of the fleet agent ``me``, decided as the service decides it."""
    env = {"CODESWARM_DB": str(repo.parent / "coord.db"), "CODESWARM_SCOPE": str(repo),
           "CODESWARM_AGENT_ID": "me", "CODESWARM_LEASES_AUTO": "0",
           "CODESWARM_RUN_DIR": str(repo.parent / "run")}  # fmt: skip
    event = {"session_id": "s-1", "cwd": str(repo), "tool_use_id": call,
             "tool_name": "apply_patch", "tool_input": {"command": patch}}  # fmt: skip
    out, err = decide(
        "codex", "pre-tool-use", json.dumps(event).encode(), env, cwd=str(repo),
        parent_pid=os.getpid(), opener=lambda root, scope: view, raise_unreachable=True,
    )  # fmt: skip
    assert err == "", err
    return json.loads(out) if out else None


def kept_view(repo: Path, clock: ManualClock | None = None) -> tuple[KeptLeases, Coord]:
    """The worker's store (the one store of this process) and the service's view of it."""
    (repo.parent / "run").mkdir(mode=0o700, exist_ok=True)
    own = Coord.open(str(repo.parent / "coord.db"), root=str(repo), clock=clock)
    own.register("me", lease_s=3600)
    mark = getattr(own.store, "change_mark")  # noqa: B009 (a SQLite store's)
    return KeptLeases(Coord(own.store, root=str(repo), clock=clock), mark), own


def test_a_lease_taken_or_released_between_two_decisions_is_seen(repo: Path) -> None:
    in_another_process(repo, "c.register('peer', lease_s=3600)")
    view, own = kept_view(repo)
    try:
        assert pre_tool_use(repo, view, PATCH_Y) is None  # free
        reads = view.reads
        assert pre_tool_use(repo, view, PATCH_Y, "u-2") is None
        assert view.reads == reads  # nothing committed but our heartbeat: not read again
        # another process leases it: the very next decision denies, naming the holder
        in_another_process(repo, "c.lease('peer', 'src/y.py', note='mine now')")
        reason = denied(pre_tool_use(repo, view, PATCH_Y, "u-3")) or ""
        assert "src/y.py is held (exclusive) by peer#1" in reason and "mine now" in reason
        assert view.reads == reads + 1
        in_another_process(repo, "c.release('peer', 'src/y.py')")
        assert pre_tool_use(repo, view, PATCH_Y, "u-4") is None
        # the worker's own store takes one (no data_version change: its commit counter moves)
        own.register("worker-peer", lease_s=3600)
        own.lease("worker-peer", "src/", note="whole dir")
        reason = denied(pre_tool_use(repo, view, PATCH_Y, "u-5")) or ""
        assert "src/ is held (exclusive) by worker-peer#1" in reason
        own.release("worker-peer", "src/")
        assert pre_tool_use(repo, view, PATCH_Y, "u-6") is None
        # the denial's audit rows, with this agent as the actor
        kinds = [(e.agent, e.subject) for e in own.events(kind="lease.denied")]
        assert kinds == [("me#1", "src/y.py"), ("me#1", "src/")]
    finally:
        own.close()


def test_the_kept_leases_are_what_the_store_says(repo: Path) -> None:
    clock = ManualClock()
    view, own = kept_view(repo, clock)
    try:

        def same() -> None:
            assert view.lease_paths() == own.lease_paths()
            for path in ("src/x.py", "src/y.py", "docs/a.md", "src/"):
                mine = view.conflicts(path, agent="me")
                assert [le.id for le in mine] == [le.id for le in own.conflicts(path, agent="me")]

        own.register("a", lease_s=60)
        own.register("b", lease_s=3600)
        own.lease("a", "src/x.py")
        own.lease("b", "docs/*.md")
        own.lease("b", "src/y.py", ttl=30)
        own.lease("me", "src/z.py")
        same()
        reads = view.reads
        view.heartbeat("me")  # ours: kept
        view.report("me", "test.seen", "src/x.py", {})
        same()
        assert view.reads == reads
        clock.advance(31)  # b's src/y.py lease expires: no commit, gone all the same
        assert ("src/y.py", "file", "b#1") not in view.lease_paths()
        same()
        clock.advance(30)  # a's registration lapses: its lease is not live any more
        assert ("src/x.py", "file", "a#1") not in view.lease_paths()
        same()
        reads = view.reads
        own.heartbeat("b")  # anyone else's commit: read again
        same()
        assert view.reads == reads + 1
        own.register("a", lease_s=60)  # a new generation; its old lease is reclaimed
        own.lease("a", "lib/", shared=True)
        own.deregister("b")
        same()
    finally:
        own.close()


def test_a_foreign_decision_in_between_is_seen(repo: Path) -> None:
    """A hook deciding by itself in another process (its own connection) takes a lease:
    the service's next decision sees it."""
    in_another_process(repo, "c.register('peer', lease_s=3600)")
    view, own = kept_view(repo)
    try:
        assert pre_tool_use(repo, view, PATCH_X) is None
        in_another_process(repo, "c.lease('peer', 'src/x.py')")
        assert "peer#1" in (denied(pre_tool_use(repo, view, PATCH_X, "u-2")) or "")
    finally:
        own.close()


def test_kept_coverage_follows_the_tree_for_directory_leases(repo: Path) -> None:
    leases = [("src/x.py", "file", "p#1"), ("src/y.py", "file", "p#1")]
    files = specs_of(leases)
    assert specs_of(leases) is files
    assert covered(str(repo), files) is covered(str(repo), files)  # kept: the tree has no say
    mine = [Spec("src/x.py", "file", "p#1")]  # a list of the caller's: never kept
    assert covered(str(repo), mine) is not covered(str(repo), mine)
    assert specs_of(list(leases)) is not files  # another list: made again
    tree = [Spec("src", "dir", "p#1")]
    assert sorted(covered(str(repo), tree)) == ["src/x.py", "src/y.py"]
    (repo / "src" / "new.py").write_text("n\n")
    assert sorted(covered(str(repo), tree)) == ["src/new.py", "src/x.py", "src/y.py"]
    blobs = repo.parent / "blobs"
    blobs.mkdir()
    snap = Snapshot.take(0.0, str(repo), tree, str(blobs))
    assert sorted(snap.files) == ["src/new.py", "src/x.py", "src/y.py"]
    (repo / "src" / "later.py").write_text("l\n")  # created during the call: a change
    assert [c[0] for c in snap.changes()] == ["src/later.py"]


def test_a_same_size_write_is_seen_after_kept_snapshots(repo: Path) -> None:
    """The list of leases is kept; the content of the files never is: a write of the same
    size, with the mtime put back, is a change."""
    specs = specs_of([("src/x.py", "file", "p#1"), ("gone/a.py", "file", "p#1")])
    blobs = repo.parent / "blobs"
    blobs.mkdir()
    x = repo / "src" / "x.py"
    for _ in range(2):  # the second time from the kept coverage
        snap = Snapshot.take(0.0, str(repo), specs, str(blobs))
        before = os.stat(x)
        x.write_text("b\n")
        os.utime(x, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert [c[0] for c in snap.changes()] == ["src/x.py"]
        again = Snapshot.load(snap.dump())
        assert again is not None and [c[0] for c in again.changes()] == ["src/x.py"]
        assert [(s.path, s.kind, s.holder) for s in again.specs] == [
            ("src/x.py", "file", "p#1"),
            ("gone/a.py", "file", "p#1"),
        ]
        x.write_text("a\n")


def test_the_service_sees_a_lease_taken_a_moment_ago(repo: Path) -> None:
    """End to end: the hook process asks the service (the worker's store in this process), a
    peer's process leases the file, the next hook is denied, the release lets the next one go."""
    from codeswarm.core.swarm import RunDir
    from codeswarm.hooks import ENTRY
    from codeswarm.hooks.service import HookService

    in_another_process(repo, "c.register('peer', lease_s=3600)")
    run = repo.parent / "run"
    agent_dir = RunDir(run).agent_dir("me")
    agent_dir.mkdir(parents=True, mode=0o700)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CODESWARM_")},
        "CODESWARM_DB": str(repo.parent / "coord.db"), "CODESWARM_SCOPE": str(repo),
        "CODESWARM_AGENT_ID": "me", "CODESWARM_RUN_DIR": str(run), "CODESWARM_LEASES_AUTO": "0",
    }  # fmt: skip
    store = coord(repo).store
    service = HookService(str(agent_dir), lambda: env, os.getpid, lambda: store)
    service.start()

    def hook(call: str) -> dict[str, Any] | None:
        event = {"session_id": "s-1", "cwd": str(repo), "tool_use_id": call,
                 "tool_name": "apply_patch", "tool_input": {"command": PATCH_Y}}  # fmt: skip
        proc = subprocess.run(
            [sys.executable, ENTRY, "codex", "pre-tool-use"], input=json.dumps(event),
            capture_output=True, text=True, env=env, timeout=30, check=True,
        )  # fmt: skip
        return json.loads(proc.stdout) if proc.stdout else None

    try:
        Coord(store, root=str(repo)).register("me", lease_s=3600)
        assert hook("u-1") is None
        reads = service.lease_reads
        assert hook("u-1b") is None
        assert service.lease_reads == reads  # nothing committed but its heartbeat: kept
        in_another_process(repo, "c.lease('peer', 'src/y.py')")
        assert "src/y.py is held (exclusive) by peer#1" in (denied(hook("u-2")) or "")
        in_another_process(repo, "c.release('peer', 'src/y.py')")
        assert hook("u-3") is None
        assert service.served == 4
        assert service.lease_reads == reads + 2
    finally:
        service.close()
        store.close()


def test_absent_and_removed_directories_of_leased_files(repo: Path) -> None:
    """One lstat stands for an absent directory's files: those that were there before are
    reported deleted, one created in a new directory during the call is seen."""
    import shutil

    (repo / "lib").mkdir()
    (repo / "lib" / "a.py").write_text("a\n")
    (repo / "lib" / "b.py").write_text("b\n")
    specs = specs_of(
        [(p, "file", "p#1") for p in ("lib/a.py", "lib/b.py", "new/c.py", "none/d.py", "top.py")]
    )
    blobs = repo.parent / "blobs"
    blobs.mkdir()
    snap = Snapshot.take(0.0, str(repo), specs, str(blobs))
    assert sorted(snap.files) == ["lib/a.py", "lib/b.py"]
    assert snap.changes() == []
    shutil.rmtree(repo / "lib")
    (repo / "new").mkdir()
    (repo / "new" / "c.py").write_text("c\n")
    (repo / "top.py").write_text("t\n")
    assert [(c[0], c[1] is None) for c in snap.changes()] == [
        ("lib/a.py", False), ("lib/b.py", False), ("new/c.py", True), ("top.py", True)
    ]  # fmt: skip
