"""Cursors: atomic saves, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeswarm.mailbox import Cursor, Layout, MailboxError, MailboxInputError, Position


def test_load_without_a_save_is_the_start(layout: Layout) -> None:
    assert Cursor(layout.cursor("router", "outbox", "a")).load() == Position.start()


def test_save_and_load_with_extra_fields(layout: Layout) -> None:
    path = layout.cursor("router", "outbox", "a")
    cursor = Cursor(path)
    cursor.save(Position(2, 345), seq=17, note="x")
    again = Cursor(path)
    assert again.load() == Position(2, 345)
    assert again.extra == {"seq": 17, "note": "x"}
    cursor.save(Position(3, 0))
    assert Cursor(path).load() == Position(3, 0)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left
    with pytest.raises(MailboxInputError, match="offset"):
        cursor.save(Position(0, 0), offset=3)


def test_unfsynced_cursor_still_saves(tmp_path: Path) -> None:
    cursor = Cursor(tmp_path / "c" / "x.json", fsync=False)
    cursor.save(Position(0, 9))
    assert cursor.load() == Position(0, 9)


def test_a_damaged_cursor_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"segment": 1}')
    with pytest.raises(MailboxError, match=f"cursor {path} is not a saved position"):
        Cursor(path).load()
    path.write_text("{nope")
    with pytest.raises(MailboxError, match="not a saved position"):
        Cursor(path).load()
