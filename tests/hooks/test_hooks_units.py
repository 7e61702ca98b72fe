"""The pieces of the content check, in process: where the scratch directory is, signatures,
snapshots, and the holders' busy records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codeswarm.core.errors import HookStateError
from codeswarm.hooks import busy, leased, scratch


def test_the_scratch_directory_is_the_run_dir_else_a_private_per_user_one(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    env = {"CODESWARM_RUN_DIR": "/r/run", "XDG_RUNTIME_DIR": str(runtime), "XDG_STATE_HOME": "/s"}
    assert scratch.location(env) == "/r/run/hooks"
    del env["CODESWARM_RUN_DIR"]
    assert scratch.location(env) == f"{runtime}/codeswarm/hooks"
    del env["XDG_RUNTIME_DIR"]
    assert scratch.location(env) == "/s/codeswarm/hooks"
    assert scratch.location({"XDG_STATE_HOME": "relative"}).endswith(
        "/.local/state/codeswarm/hooks"
    )
    made = scratch.ensure({"XDG_STATE_HOME": str(tmp_path / "state")})
    assert made == f"{tmp_path}/state/codeswarm/hooks"
    assert sorted(os.listdir(made)) == sorted(scratch.SUBDIRS)
    assert os.stat(made).st_mode & 0o777 == 0o700
    os.chmod(made, 0o770)
    with pytest.raises(HookStateError, match="mode 0770"):
        scratch.ensure({"XDG_STATE_HOME": str(tmp_path / "state")})


def test_signatures_see_content_not_times(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("one\n")
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    sig, mode = leased.signature(str(f), str(blobs))
    assert sig is not None and sig.startswith("f:") and mode == f.stat().st_mode & 0o777
    assert (blobs / sig[2:]).read_text() == "one\n"
    st = f.stat()
    f.write_text("two\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert leased.signature(str(f), None)[0] != sig
    f.unlink()
    assert leased.signature(str(f), None) == (None, 0)
    f.symlink_to("/etc/hostname")
    assert leased.signature(str(f), None)[0] == "l:/etc/hostname"
    f.unlink()
    os.mkfifo(f)  # never opened for reading (that would block)
    assert str(leased.signature(str(f), None)[0]).startswith("o:")


def test_a_file_over_the_copy_cap_is_hashed_not_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leased, "COPY_CAP", 4)
    f = tmp_path / "big"
    f.write_text("more than four bytes")
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    sig, _ = leased.signature(str(f), str(blobs))
    assert sig is not None and sig.startswith("F:") and not list(blobs.iterdir())
    assert "no copy" in str(leased.restore(str(tmp_path), "big", sig, 0o644, str(blobs)))


def test_a_snapshot_covers_files_dirs_and_globs_and_reports_every_change(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for rel in ("a.py", "d/one.txt", "d/sub/two.txt", "g/x.py", "g/y.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    specs = [
        leased.Spec("a.py", "file", "h#1"),
        leased.Spec("d/", "dir", "h#1"),
        leased.Spec("g/*.py", "glob", "h#1"),
        leased.Spec("none/missing.py", "file", "h#1"),
    ]
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    snap = leased.Snapshot.take(1.0, str(root), specs, str(blobs))
    assert sorted(snap.files) == ["a.py", "d/one.txt", "d/sub/two.txt", "g/x.py"]
    snap = leased.Snapshot.load(snap.dump())
    assert snap is not None and snap.changes() == []
    (root / "g" / "y.txt").write_text("not covered")
    (root / "d" / "sub" / "two.txt").unlink()
    (root / "d" / "new.txt").write_text("new")
    (root / "none").mkdir()
    (root / "none" / "missing.py").write_text("created")
    changed = {rel: (before, spec.path) for rel, before, _, spec in snap.changes()}
    assert set(changed) == {"d/sub/two.txt", "d/new.txt", "none/missing.py"}
    assert changed["d/new.txt"] == (None, "d/")
    for rel, before, mode, _ in snap.changes():
        assert leased.restore(str(root), rel, before, mode, str(blobs)) is None
    assert snap.changes() == []


def test_restore_never_writes_through_a_directory_swapped_for_a_symlink(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_text("mine")
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    sig, mode = leased.signature(str(root / "d" / "f"), str(blobs))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "d" / "f").unlink()
    (root / "d").rmdir()
    (root / "d").symlink_to(elsewhere)
    why = leased.restore(str(root), "d/f", sig, mode, str(blobs))
    assert why is not None and "symlink" in why and not list(elsewhere.iterdir())


def test_busy_records_say_who_may_have_written_what_and_when(tmp_path: Path) -> None:
    where = scratch.ensure({"XDG_STATE_HOME": str(tmp_path)})
    busy.start(where, "h", "c1", ["src/a.py", "lib/"], now=100.0)
    assert busy.overlapped(where, "h", "src/a.py", since=50.0, now=110.0)
    assert busy.overlapped(where, "h", "lib/x/y.py", since=50.0, now=110.0)
    assert not busy.overlapped(where, "h", "src/b.py", since=50.0, now=110.0)
    assert not busy.overlapped(where, "other", "src/a.py", since=50.0, now=110.0)
    busy.end(where, "h", "c1", now=120.0)
    assert busy.overlapped(where, "h", "src/a.py", since=119.0, now=130.0)  # ended after since
    assert not busy.overlapped(where, "h", "src/a.py", since=121.0, now=130.0)
    busy.start(where, "h", "c2", None, now=200.0)  # a shell command: any path
    busy.end_all(where, "h", now=210.0)
    assert busy.overlapped(where, "h", "anything", since=205.0, now=220.0)
    assert not busy.overlapped(where, "h", "anything", since=211.0, now=220.0)
    assert not busy.overlapped(where, "h", "src/a.py", since=0.0, now=210.0 + busy.KEEP_S + 1)
    assert os.listdir(os.path.join(where, "busy")) == []  # forgotten
