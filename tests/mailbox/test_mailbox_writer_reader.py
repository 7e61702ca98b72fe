"""Writer and Reader: stamping, one write per record, seq recovery, partial and corrupt lines."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
import pytest

from codeswarm.core.errors import UsageError
from codeswarm.mailbox import (
    CorruptLine,
    InvalidRecordError,
    Layout,
    MailboxClosedError,
    MailboxNameError,
    Position,
    Reader,
    StreamBrokenError,
    Writer,
    WriterBusyError,
)
from codeswarm.mailbox import writer as writer_mod


def raw_append(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def test_append_stamps_seq_id_ts_kind_and_reads_back(outbox: Path) -> None:
    with Writer.open(outbox) as w:
        assert w.seq == 0
        written = [w.append("note", n=i, text="héllo") for i in range(5)]
        assert w.seq == 5
    assert [r["seq"] for r in written] == [1, 2, 3, 4, 5]
    assert len({r["id"] for r in written}) == 5
    assert all(type(r["ts"]) is int and r["kind"] == "note" for r in written)
    assert list(written[0])[:4] == ["seq", "id", "ts", "kind"]
    got = Reader(outbox).read()
    assert [rec for rec, _ in got] == written
    positions = [pos for _, pos in got]
    assert positions == sorted(positions) and positions[-1] == Position(0, outbox.stat().st_size)
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o600


def test_append_record_keeps_the_callers_id_and_ts(outbox: Path) -> None:
    with Writer.open(outbox) as w:
        rec = w.append_record({"kind": "prompt", "id": "cli-42", "ts": 7, "text": "hi"})
        auto = w.append_record({"kind": "prompt"})
    assert rec == {"seq": 1, "id": "cli-42", "ts": 7, "kind": "prompt", "text": "hi"}
    assert auto["id"] != "cli-42" and auto["seq"] == 2


@pytest.mark.parametrize(
    "record",
    [
        {"kind": "x", "seq": 3},
        {"kind": "x", "spill": "elsewhere"},
        {"text": "no kind"},
        {"kind": ""},
        {"kind": "x", "id": 5},
        {"kind": "x", "value": {1, 2}},
    ],
)
def test_invalid_records_are_refused_and_nothing_is_written(outbox: Path, record: dict) -> None:  # type: ignore[type-arg]
    with Writer.open(outbox) as w:
        with pytest.raises(InvalidRecordError):
            w.append_record(record)
        assert w.seq == 0
    assert outbox.read_bytes() == b""


def test_each_record_is_exactly_one_write(outbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_write = os.write

    def counting_write(fd: int, data: bytes) -> int:
        calls.append(len(data))
        return real_write(fd, data)

    with Writer.open(outbox) as w:
        monkeypatch.setattr(writer_mod.os, "write", counting_write)
        for i in range(10):
            w.append("tok", delta="x" * i)
    assert len(calls) == 10
    assert sum(calls) == outbox.stat().st_size


def test_seq_continues_after_reopen(outbox: Path) -> None:
    with Writer.open(outbox) as w:
        first = [w.append("a") for _ in range(3)]
    with Writer.open(outbox) as w:
        assert w.seq == 3
        nxt = w.append("b")
    assert nxt["seq"] == 4
    assert nxt["id"].split("-")[0] != first[0]["id"].split("-")[0]  # a new writer session


def test_seq_continues_from_a_rotated_segment_when_the_live_file_is_empty(outbox: Path) -> None:
    with Writer.open(outbox) as w:
        for _ in range(4):
            w.append("a")
        assert w.rotate() == 0
    with Writer.open(outbox) as w:
        assert w.seq == 4
        assert w.append("b")["seq"] == 5
        assert w.position.segment == 1


def test_a_second_exclusive_writer_is_refused_with_the_holder(outbox: Path) -> None:
    with Writer.open(outbox), pytest.raises(WriterBusyError, match=f"{os.getpid()}@"):
        Writer.open(outbox)
    Writer.open(outbox).close()  # free again once the first closed


def test_shared_writers_keep_seq_unique_and_increasing(outbox: Path) -> None:
    a = Writer.open(outbox, lock=True)
    b = Writer.open(outbox, lock=True)
    try:
        for i in range(20):
            (a if i % 3 else b).append("m", i=i)
        assert a.seq in (19, 20) and b.seq in (19, 20)
    finally:
        a.close()
        b.close()
    records = [rec for rec, _ in Reader(outbox).read()]
    assert [r["seq"] for r in records] == list(range(1, 21))
    assert [r["i"] for r in records] == list(range(20))


def test_reader_waits_for_a_partial_line(outbox: Path) -> None:
    with Writer.open(outbox) as w:
        w.append("a")
    line = orjson.dumps({"seq": 2, "id": "x", "kind": "b"}) + b"\n"
    reader = Reader(outbox)
    assert len(reader.read()) == 1
    raw_append(outbox, line[:10])
    assert reader.read() == []
    assert reader.read() == []
    raw_append(outbox, line[10:])
    [(rec, pos)] = reader.read()
    assert rec["seq"] == 2 and pos.offset == outbox.stat().st_size
    assert not reader.corrupt


def test_corrupt_lines_are_reported_once_and_skipped(outbox: Path) -> None:
    reports: list[CorruptLine] = []
    good = orjson.dumps({"seq": 1, "id": "a", "kind": "k"}) + b"\n"
    raw_append(outbox, good + b"not json\n" + b"[1, 2]\n" + b'{"kind": "no seq"}\n' + b"\n" + good)
    reader = Reader(outbox, on_corrupt=reports.append)
    got = reader.read()
    assert [rec["id"] for rec, _ in got] == ["a", "a"]
    assert [r.reason.split(":")[0] for r in reports] == [
        "not JSON",
        "not a JSON object",
        "no integer seq",
    ]
    assert reports[0].text == "not json"
    assert reports[0].position == Position(0, len(good))
    assert reports[0].end == Position(0, len(good) + 9)
    assert list(reader.corrupt) == reports
    assert reader.read() == [] and len(reports) == 3
    assert reader.position == Position(0, outbox.stat().st_size)


def test_writer_open_ends_a_torn_line_so_it_is_reported_once(outbox: Path) -> None:
    with Writer.open(outbox) as w:
        w.append("a")
        w.append("a")
    raw_append(outbox, b'{"seq": 3, "id": "torn", "ki')  # the writer died mid-write
    reader = Reader(outbox)
    assert len(reader.read()) == 2
    assert reader.read() == []  # waits on the partial line
    with Writer.open(outbox) as w:
        assert w.seq == 2
        assert reader.read() == []
        assert len(reader.corrupt) == 1 and "torn" in reader.corrupt[0].text
        w.append("b")
    [(rec, _)] = reader.read()
    assert rec["seq"] == 3 and rec["kind"] == "b"
    assert len(reader.corrupt) == 1


def test_reader_from_a_saved_position_and_in_batches(outbox: Path) -> None:
    with Writer.open(outbox) as w:
        for i in range(100):
            w.append("n", i=i, pad="p" * 100)
    everything = Reader(outbox).read()
    middle = everything[49][1]
    rest = Reader(outbox, middle).read()
    assert [rec["i"] for rec, _ in rest] == list(range(50, 100))
    reader = Reader(outbox)
    batches = []
    while True:
        batch = reader.read(max_bytes=2000)
        batches.append(batch)
        if not reader.has_backlog:
            break
    assert len(batches) > 5
    assert [rec for batch in batches for rec, _ in batch] == [rec for rec, _ in everything]


def test_an_overlong_line_is_reported_and_skipped(outbox: Path) -> None:
    good = orjson.dumps({"seq": 1, "id": "a", "kind": "k"}) + b"\n"
    reader = Reader(outbox, max_line=100)
    raw_append(outbox, good + b"x" * 150)
    assert len(reader.read()) == 1
    assert len(reader.corrupt) == 1 and "longer than 100" in reader.corrupt[0].reason
    raw_append(outbox, b"y" * 300 + b"\n" + good)
    [(rec, pos)] = reader.read()
    assert rec["id"] == "a" and pos.offset == outbox.stat().st_size
    assert len(reader.corrupt) == 1


def test_a_missing_file_reads_as_empty_until_it_appears(outbox: Path) -> None:
    reader = Reader(outbox)
    assert reader.read() == []
    with Writer.open(outbox) as w:
        w.append("hello")
    assert len(reader.read()) == 1


def test_truncation_under_a_reader_is_refused(outbox: Path) -> None:
    with Writer.open(outbox) as w:
        w.append("a")
        w.append("b")
    reader = Reader(outbox)
    assert len(reader.read()) == 2
    os.truncate(outbox, 10)
    with pytest.raises(StreamBrokenError, match="truncated"):
        reader.read()


def test_a_position_past_the_end_is_refused(outbox: Path) -> None:
    with Writer.open(outbox) as w:
        w.append("a")
    with pytest.raises(StreamBrokenError):
        Reader(outbox, Position(0, 10_000)).read()
    with pytest.raises(StreamBrokenError):
        Reader(outbox, Position(3, 0)).read()


def test_closed_writer_and_reader_refuse_use(outbox: Path) -> None:
    w = Writer.open(outbox)
    w.close()
    w.close()
    with pytest.raises(MailboxClosedError):
        w.append("x")
    r = Reader(outbox)
    r.close()
    with pytest.raises(MailboxClosedError):
        r.read()


def test_fsync_policy_still_writes_one_line(outbox: Path) -> None:
    with Writer.open(outbox, fsync=True) as w:
        w.append("durable")
    assert len(Reader(outbox).read()) == 1


def test_position_orders_and_serialises() -> None:
    a, b, c = Position(0, 500), Position(1, 0), Position(1, 20)
    assert a < b < c and Position.start() == Position(0, 0)
    assert orjson.loads(orjson.dumps(c)) == {"segment": 1, "offset": 20} == c.to_json()
    assert Position.from_json({"segment": 1, "offset": 20}) == c == Position.from_json([1, 20])
    with pytest.raises(ValueError, match="not a position"):
        Position.from_json({"segment": -1, "offset": 0})


def test_layout_paths_and_names(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "r")
    assert layout.inbox("s_1") == tmp_path / "r/mailbox/inbox/s_1.jsonl"
    assert layout.outbox("s_1") == tmp_path / "r/mailbox/outbox/s_1.jsonl"
    assert layout.cursor_dir("router") == tmp_path / "r/mailbox/cursors/router"
    assert layout.cursor("router", "outbox", "s_1").name == "outbox.s_1.json"
    for bad in ("", "../x", "a/b", ".hidden", "x" * 300, "sp ace"):
        with pytest.raises(MailboxNameError) as info:
            layout.outbox(bad)
        assert isinstance(info.value, UsageError)
    layout.create()
    for mode_dir in (layout.run_dir, layout.mailbox, layout.inbox_dir, layout.outbox_dir):
        assert stat.S_IMODE(mode_dir.stat().st_mode) == 0o700
    with Writer.open(layout.outbox("b_1")) as w:
        w.append("x", body="y" * 300_000)  # spilled: makes a .spill directory
        w.rotate()
        w.append("x")
    with Writer.open(layout.outbox("a.dotted")) as w:
        w.append("x")
    assert layout.agents_with_outbox() == ["a.dotted", "b_1"]
    assert layout.agents("inbox") == []


def test_a_shared_sender_gives_up_on_an_exclusive_writer_with_a_clear_error(outbox: Path) -> None:
    with Writer.open(outbox) as owner:
        owner.append("x")
        with pytest.raises(WriterBusyError, match=rf"timed out .* \(held by {os.getpid()}@"):
            Writer.open(outbox, lock=True, lock_timeout=0.05)


def test_without_flock_an_exclusive_writer_goes_on_and_a_shared_one_refuses(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from codeswarm.mailbox import MailboxError, locking

    def no_locks(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(locking.fcntl, "flock", no_locks)
    with Writer.open(outbox) as w:
        w.append("unguarded")
    with pytest.raises(MailboxError, match="need flock"):
        Writer.open(outbox, lock=True)


def test_a_failed_write_leaves_nothing_torn_for_the_next_record(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from codeswarm.mailbox import MailboxError

    real_write = os.write
    with Writer.open(outbox) as w:
        w.append("ok")

        calls: list[int] = []

        def disk_full(fd: int, data: bytes) -> int:
            calls.append(len(data))
            if len(calls) == 1:  # a short write: part of the line made it ...
                return real_write(fd, bytes(data[:10]))
            raise OSError(errno.ENOSPC, "No space left on device")  # ... then the disk was full

        monkeypatch.setattr(writer_mod.os, "write", disk_full)
        with pytest.raises(MailboxError, match="No space left"):
            w.append("lost")
        monkeypatch.setattr(writer_mod.os, "write", real_write)
        assert w.seq == 1
        w.append("next")
    reader = Reader(outbox)
    assert [(r["seq"], r["kind"]) for r, _ in reader.read()] == [(1, "ok"), (2, "next")]
    assert len(reader.corrupt) == 1
