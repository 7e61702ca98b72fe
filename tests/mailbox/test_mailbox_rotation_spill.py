"""Rotation (readers and followers anywhere lose and repeat nothing) and spilled records."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
import pytest
from mbhelp import take

from codeswarm.mailbox import Follower, Position, Reader, RecordTooLargeError, Writer
from codeswarm.mailbox.layout import rotated_segments, segment_path, spill_dir


def test_rotate_names_segments_in_stream_order_and_seq_continues(outbox: Path) -> None:
    with Writer.open(outbox) as w:
        assert w.rotate() is None  # nothing to rotate
        for round_ in range(3):
            for i in range(5):
                w.append("n", round=round_, i=i)
            assert w.rotate() == round_
        w.append("live")
        assert w.position.segment == 3
    assert rotated_segments(outbox) == [0, 1, 2]
    assert segment_path(outbox, 1).name == "t_0.jsonl.000001"
    got = Reader(outbox).read()
    assert [rec["seq"] for rec, _ in got] == list(range(1, 17))
    assert [pos.segment for _, pos in got] == [0] * 5 + [1] * 5 + [2] * 5 + [3]


def test_a_reader_in_the_middle_of_a_segment_loses_and_repeats_nothing(outbox: Path) -> None:
    with Writer.open(outbox) as w:
        for i in range(10):
            w.append("n", i=i)
        reader = Reader(outbox)
        first = reader.read(max_bytes=300)  # part-way through segment 0
        assert 0 < len(first) < 10
        resume_at = first[-1][1]
        w.rotate()
        w.append("n", i=10)
        w.rotate()
        w.append("n", i=11)
        rest = reader.read()
    seen = [rec["i"] for rec, _ in first + rest]
    assert seen == list(range(12))
    again = Reader(outbox, resume_at).read()  # a fresh reader from a position in the old segment
    assert [rec["i"] for rec, _ in again] == seen[len(first) :]
    assert Reader(outbox, rest[-1][1]).read() == []


def test_position_at_the_end_of_a_sealed_segment_moves_on(outbox: Path) -> None:
    with Writer.open(outbox) as w:
        w.append("a")
        end_of_0 = w.position
        w.rotate()
        w.append("b")
    reader = Reader(outbox, end_of_0)
    [(rec, pos)] = reader.read()
    assert rec["kind"] == "b" and pos.segment == 1
    assert reader.position == pos


def test_a_deleted_segment_that_is_still_needed_is_refused(outbox: Path) -> None:
    from codeswarm.mailbox import StreamBrokenError

    with Writer.open(outbox) as w:
        for kind in "abc":
            w.append(kind)
            w.rotate()
        w.append("d")
    os.unlink(segment_path(outbox, 0))  # segment 1 is still needed, after it
    with pytest.raises(StreamBrokenError, match="gone"):
        Reader(outbox).read()
    assert [r["kind"] for r, _ in Reader(outbox, Position(1, 0)).read()] == ["b", "c", "d"]


def test_automatic_rotation_at_a_size(outbox: Path) -> None:
    with Writer.open(outbox, rotate_bytes=1000) as w:
        for i in range(100):
            w.append("n", i=i)
    assert len(rotated_segments(outbox)) >= 5
    assert all(segment_path(outbox, s).stat().st_size < 1100 for s in rotated_segments(outbox))
    assert [rec["i"] for rec, _ in Reader(outbox).read()] == list(range(100))


@pytest.mark.parametrize("mode", ["inotify", "poll"])
async def test_a_follower_mid_segment_follows_through_rotations(outbox: Path, mode: str) -> None:
    with Writer.open(outbox) as w:
        for i in range(5):
            w.append("n", i=i)
        async with Follower(outbox, mode=mode, poll_interval=0.01) as f:  # type: ignore[arg-type]
            got = await take(f, 3)
            w.rotate()  # the follower still has 2 unread records in segment 0
            for i in range(5, 8):
                w.append("n", i=i)
            w.rotate()
            w.rotate()  # empty: nothing happens
            w.append("n", i=8)
            got += await take(f, 6)
            assert f.position == w.position == Position(2, got[-1][1].offset)
    assert [rec["i"] for rec, _ in got] == list(range(9))


def test_an_oversized_record_is_spilled_and_read_back_whole(outbox: Path) -> None:
    big = {
        "kind": "codex",
        "agent": "t_0",
        "msg": {"delta": "x" * 400_000, "items": list(range(1000))},
    }
    with Writer.open(outbox) as w:
        w.append("small")
        rec = w.append_record(big)
        w.append("after")
    lines = outbox.read_bytes().splitlines()
    assert all(len(line) < 1000 for line in lines)  # never a huge line
    pointer = orjson.loads(lines[1])
    assert pointer["spill"] == "t_0.jsonl.spill/2.json" and pointer["agent"] == "t_0"
    assert pointer["seq"] == 2 and pointer["kind"] == "codex" and "msg" not in pointer
    side = spill_dir(outbox) / "2.json"
    assert stat.S_IMODE(side.stat().st_mode) == 0o600
    assert stat.S_IMODE(spill_dir(outbox).stat().st_mode) == 0o700
    got = [r for r, _ in Reader(outbox).read()]
    assert got[1] == rec and got[1]["msg"]["delta"] == "x" * 400_000
    assert [r["kind"] for r in got] == ["small", "codex", "after"]
    assert not list(spill_dir(outbox).glob(".*"))  # no temp files left


def test_a_spilled_record_whose_side_file_is_gone_is_reported_not_invented(outbox: Path) -> None:
    with Writer.open(outbox) as w:
        w.append("big", body="y" * 300_000)
        w.append("after")
    (spill_dir(outbox) / "1.json").unlink()
    reader = Reader(outbox)
    got = reader.read()
    assert [r["kind"] for r, _ in got] == ["after"]
    [bad] = reader.corrupt
    assert "side file" in bad.reason and "missing" in bad.reason


def test_records_over_the_limit_are_refused(outbox: Path) -> None:
    with Writer.open(outbox, max_line=4096, max_record=100_000) as w:
        w.append("fits", body="z" * 50_000)  # spilled
        with pytest.raises(RecordTooLargeError, match="exceeds the limit of 100000"):
            w.append("too big", body="z" * 200_000)
        assert w.seq == 1
    assert len(Reader(outbox).read()) == 1
