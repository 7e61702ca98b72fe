"""A mailbox other users can write is refused with one clear line; ours are 0700 / 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from codeswarm.core.errors import UsageError
from codeswarm.mailbox import (
    Cursor,
    Layout,
    MailboxPermissionError,
    Position,
    Reader,
    Writer,
    check_private,
    ensure_private_dir,
    perms,
)


def test_a_world_writable_mailbox_directory_is_refused(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "run").create()
    os.chmod(layout.outbox_dir, 0o777)
    with pytest.raises(MailboxPermissionError) as info:
        Writer.open(layout.outbox("a"))
    msg = str(info.value)
    assert (
        str(layout.outbox_dir) in msg and "0777" in msg and f"chmod 700 {layout.outbox_dir}" in msg
    )
    assert "\n" not in msg and isinstance(info.value, UsageError)
    with pytest.raises(MailboxPermissionError):
        Layout(tmp_path / "run").create()


def test_a_group_writable_mailbox_file_is_refused_by_writers_and_readers(outbox: Path) -> None:
    with Writer.open(outbox) as w:
        w.append("x")
    os.chmod(outbox, 0o666)
    with pytest.raises(MailboxPermissionError, match=f"chmod 600 {outbox}"):
        Writer.open(outbox)
    with pytest.raises(MailboxPermissionError, match="group and others"):
        Reader(outbox).read()


def test_a_mailbox_owned_by_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = ensure_private_dir(tmp_path / "mine")
    me = os.geteuid()
    monkeypatch.setattr(perms.os, "geteuid", lambda: me + 1)
    with pytest.raises(MailboxPermissionError, match=f"owned by uid {me}, not by you"):
        check_private(d)


def test_created_modes_and_no_chmod_behind_your_back(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        layout = Layout(tmp_path / "a" / "b" / "run").create()
        with Writer.open(layout.inbox("x"), lock=True) as w:
            w.append("hi")
        Cursor(layout.cursor("router", "inbox", "x")).save(Position(0, 5))
    finally:
        os.umask(old)
    for d in (
        tmp_path / "a",
        tmp_path / "a" / "b",
        layout.run_dir,
        layout.inbox_dir,
        layout.cursor_dir("router"),
    ):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    for f in (
        layout.inbox("x"),
        layout.inbox("x").with_name("x.jsonl.lock"),
        layout.cursor("router", "inbox", "x"),
    ):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    readable = tmp_path / "readable"
    readable.mkdir(mode=0o755)
    os.chmod(readable, 0o755)
    assert ensure_private_dir(readable) == readable  # readable by others is not refused
    assert stat.S_IMODE(readable.stat().st_mode) == 0o755
    check_private(tmp_path / "missing")  # nothing to refuse
