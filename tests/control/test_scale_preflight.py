"""`up` warns before a local swarm would exhaust the user's inotify instances (its workers would
then poll their inboxes instead of sleeping)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeswarm.cli.swarm import preflight


@pytest.fixture
def limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "max_user_instances"
    monkeypatch.setattr(preflight, "INOTIFY_LIMIT", str(path))
    return path


def test_a_swarm_that_fits_says_nothing(limit: Path) -> None:
    limit.write_text("128\n")
    assert preflight.inotify_shortfall(4) is None
    limit.write_text("100000\n")
    assert preflight.inotify_shortfall(500) is None


def test_a_swarm_past_the_limit_is_warned_about(limit: Path) -> None:
    limit.write_text("128\n")
    said = preflight.inotify_shortfall(50)
    assert said is not None
    assert "150 inotify instances" in said and "fs.inotify.max_user_instances=128" in said
    assert "sysctl" in said


def test_claude_agents_need_one_fewer_each(limit: Path) -> None:
    """A Claude Code agent holds 2 (its worker, its ``claude``), a Codex agent 3."""
    limit.write_text("128\n")
    said = preflight.inotify_shortfall(50, claude=20)
    assert said is not None and "130 inotify instances" in said, said
    limit.write_text("1000\n")
    assert preflight.inotify_shortfall(50, claude=50) is None


def test_no_limit_to_read_says_nothing(limit: Path) -> None:
    assert preflight.inotify_shortfall(50) is None  # not Linux: the file is not there


def test_what_this_user_holds_is_counted() -> None:
    import ctypes
    import os

    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_CLOEXEC)
    assert fd >= 0, ctypes.get_errno()
    try:  # at least ours (other processes of this user come and go meanwhile)
        assert preflight._inotify_in_use() >= 1
    finally:
        os.close(fd)
