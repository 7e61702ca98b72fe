"""Reading a mailbox file backwards: newest first, across rotations, partial lines left out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codeswarm.mailbox import MailboxPermissionError, Writer, records_backward
from codeswarm.mailbox import tail as tail_mod


def test_newest_first_across_rotations_spills_and_chunks(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tail_mod, "CHUNK", 7)  # lines cut by every read
    with Writer.open(outbox, max_line=1024) as w:
        for i in range(5):
            w.append("x", i=i)
        w.rotate()
        w.append("big", body="y" * 5000)  # spilled
        for i in range(5, 8):
            w.append("x", i=i)
    with outbox.open("ab") as f:
        f.write(b'not json\n{"seq": 99, "kind": "half wri')  # a corrupt line, a partial one
    got = list(records_backward(outbox))
    assert [r.get("i", r["kind"]) for r in got] == [7, 6, 5, "big", 4, 3, 2, 1, 0]
    assert got[3]["body"] == "y" * 5000
    assert [r["seq"] for r in got] == list(range(9, 0, -1))


def test_keep_filters_raw_lines_before_parsing(outbox: Path) -> None:
    with Writer.open(outbox) as w:
        for kind in ("a", "b", "a", "c"):
            w.append(kind)
    got = list(records_backward(outbox, keep=lambda line: b'"kind":"a"' in line))
    assert [r["seq"] for r in got] == [3, 1]


def test_missing_empty_and_unsafe_files(outbox: Path, tmp_path: Path) -> None:
    assert list(records_backward(outbox)) == []
    outbox.touch(mode=0o600)
    assert list(records_backward(outbox)) == []
    outbox.unlink()
    real = tmp_path / "elsewhere.jsonl"
    with Writer.open(real) as w:
        w.append("x")
    os.symlink(real, outbox)
    with pytest.raises(MailboxPermissionError, match="symbolic link"):
        list(records_backward(outbox))
