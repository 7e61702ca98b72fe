"""A mailbox file is a private regular file of ours with one name: writers (``send`` included) and
readers refuse a symbolic link, a hard link, a FIFO, and a file that became writable by others,
and follow nothing (issue 10, docs/security/mailbox.md)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from mbhelp import take

from codeswarm.mailbox import (
    Follower,
    Layout,
    MailboxPermissionError,
    Reader,
    Writer,
)


def test_a_writer_refuses_a_symlinked_inbox_and_writes_nothing_through_it(
    layout: Layout, tmp_path: Path
) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("mine\n")
    os.chmod(target, 0o600)
    inbox = layout.inbox("t_0")
    inbox.symlink_to(target)
    for lock in (True, False):
        with pytest.raises(MailboxPermissionError, match="is a symbolic link: refusing to follow"):
            Writer.open(inbox, lock=lock)
    assert target.read_text() == "mine\n" and inbox.is_symlink()


def test_a_symlinked_lock_file_is_refused_not_truncated(layout: Layout, tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("mine\n")
    os.chmod(target, 0o600)
    layout.outbox("t_0").with_name("t_0.jsonl.lock").symlink_to(target)
    with pytest.raises(MailboxPermissionError, match="symbolic link"):
        Writer.open(layout.outbox("t_0"))  # an exclusive writer would truncate the lock file
    assert target.read_text() == "mine\n"


def test_a_hard_link_planted_as_an_inbox_is_refused(layout: Layout, tmp_path: Path) -> None:
    target = tmp_path / "run" / "precious.txt"
    target.write_text("mine\n")
    os.chmod(target, 0o600)
    inbox = layout.inbox("t_0")
    os.link(target, inbox)
    with pytest.raises(MailboxPermissionError, match="has 2 hard links"):
        Writer.open(inbox, lock=True)
    with pytest.raises(MailboxPermissionError, match="hard links"):
        Reader(inbox).read()
    assert target.read_text() == "mine\n"


def test_a_fifo_is_refused_by_readers_and_writers_without_hanging(layout: Layout) -> None:
    inbox = layout.inbox("t_0")
    os.mkfifo(inbox, 0o600)
    with pytest.raises(MailboxPermissionError, match=r"not a regular file \(a FIFO\)"):
        Reader(inbox).read()
    with pytest.raises(MailboxPermissionError, match="not a regular file"):
        Writer.open(inbox, lock=True)


def test_a_symlinked_file_is_refused_by_a_reader(layout: Layout, tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.jsonl"
    with Writer.open(real) as w:
        w.append("message", text="planted")
    layout.inbox("t_0").symlink_to(real)
    with pytest.raises(MailboxPermissionError, match="symbolic link"):
        Reader(layout.inbox("t_0")).read()


def test_a_reader_refuses_a_file_that_became_writable_by_others_after_it_opened_it(
    layout: Layout,
) -> None:
    inbox = layout.inbox("t_0")
    with Writer.open(inbox, lock=True) as w:
        w.append("message", text="one")
    reader = Reader(inbox)
    assert [r["text"] for r, _ in reader.read()] == ["one"]
    os.chmod(inbox, 0o622)
    fd = os.open(inbox, os.O_WRONLY | os.O_APPEND)  # what anyone may now do
    os.write(fd, b'{"seq":2,"id":"x","ts":1,"kind":"message","text":"planted"}\n')
    os.close(fd)
    with pytest.raises(MailboxPermissionError, match="writable by group and others"):
        reader.read()
    with pytest.raises(MailboxPermissionError):  # and it stays refused: nothing is read
        reader.read()
    reader.close()


def test_a_shared_writer_rechecks_the_file_before_each_append(layout: Layout) -> None:
    inbox = layout.inbox("t_0")
    with Writer.open(inbox, lock=True) as w:
        w.append("message", text="one")
        os.chmod(inbox, 0o666)
        with pytest.raises(MailboxPermissionError, match="chmod 600"):
            w.append("message", text="two")
    assert len(inbox.read_text().splitlines()) == 1


async def test_a_follower_stops_at_once_when_the_file_is_made_writable(layout: Layout) -> None:
    inbox = layout.inbox("t_0")
    writer = Writer.open(inbox, lock=True)
    writer.append("message", text="one")
    follower = Follower(inbox, mode="inotify")
    try:
        ((first, _),) = await take(follower, 1)
        assert first["text"] == "one"
        pending = asyncio.ensure_future(anext(follower))
        os.chmod(inbox, 0o666)  # no append: the chmod alone wakes the follower (IN_ATTRIB)
        async with asyncio.timeout(10):
            with pytest.raises(MailboxPermissionError, match="0666"):
                await pending
    finally:
        follower.close()
        writer.close()
