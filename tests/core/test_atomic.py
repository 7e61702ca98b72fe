"""core.atomic: the one way a whole file is replaced (its fsync policy, modes, temp files)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeswarm.core.atomic import KEEP_MODE, atomic_write, atomic_write_json, read_json


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_replaces_the_content_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    atomic_write(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert os.listdir(tmp_path) == ["state.json"]


def test_mode_is_exact_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        atomic_write(tmp_path / "script.sh", b"#!/bin/sh\n", mode=0o750)
        atomic_write(tmp_path / "private", b"x")
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "script.sh") == 0o750
    assert mode_of(tmp_path / "private") == 0o600


def test_keep_mode_keeps_the_replaced_files_bits(tmp_path: Path, umask_022: None) -> None:
    mine = tmp_path / "settings.json"
    mine.write_text("{}")
    os.chmod(mine, 0o640)
    atomic_write(mine, b'{"a": 1}', mode=KEEP_MODE)
    assert mode_of(mine) == 0o640 and mine.read_bytes() == b'{"a": 1}'
    fresh = tmp_path / "new.json"
    atomic_write(fresh, b"{}", mode=KEEP_MODE)
    assert mode_of(fresh) == 0o644  # as open(2) makes it: 0o666 less the umask


def test_a_failure_mid_write_leaves_the_old_content_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old content")
    real_write = os.write
    calls = 0

    def half_then_crash(fd: int, data: bytes | memoryview) -> int:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise KeyboardInterrupt  # not even an OSError: the temp file still goes
        return real_write(fd, bytes(data[: len(data) // 2]))

    monkeypatch.setattr(os, "write", half_then_crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"a new content that never lands")
    monkeypatch.undo()
    assert calls == 2
    assert target.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["state.json"]


def test_a_failed_rename_removes_the_temp_file(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "inside").write_text("x")  # a non-empty directory cannot be replaced
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path / "dir", b"data")
    assert sorted(os.listdir(tmp_path)) == ["dir"]


def test_a_planted_link_at_the_temp_name_is_never_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    monkeypatch.setattr(os, "urandom", lambda n: b"\x00" * n)
    planted = tmp_path / f".state.{os.getpid()}.00000000.tmp"
    planted.symlink_to(victim)
    with pytest.raises(FileExistsError):
        atomic_write(tmp_path / "state", b"attacker chose where this goes")
    assert victim.read_bytes() == b"keep me"
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(("durable", "fsyncs"), [(True, 2), (False, 0)])
def test_fsync_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable: bool, fsyncs: int
) -> None:
    synced: list[bool] = []
    real_fsync = os.fsync

    def counting(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting)
    atomic_write(tmp_path / "f", b"x", durable=durable)
    assert len(synced) == fsyncs
    if durable:
        assert synced == [False, True]  # the file, then its directory (after the rename)
    assert (tmp_path / "f").read_bytes() == b"x"


def test_json_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert read_json(path) is None
    atomic_write_json(path, {"a": [1, 2]})
    assert read_json(path) == {"a": [1, 2]}
    assert mode_of(path) == 0o600


def test_import_is_cheap() -> None:
    """Hooks import this on every tool call: stdlib only, no typing, no orjson."""
    code = (
        "import sys, codeswarm.core.atomic;"
        "print(','.join(m for m in ('typing', 'orjson', 'pathlib', 'msgspec') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
