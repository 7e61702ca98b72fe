"""Property: however a byte stream is cut into appends, a reader that reads between them sees
exactly the complete valid records in order, and one report per complete bad line."""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codeswarm.mailbox import CorruptLine, Position, Reader

record = st.fixed_dictionaries(
    {"seq": st.integers(0, 2**40), "kind": st.sampled_from(["a", "b"])},
    optional={"text": st.text(max_size=30), "n": st.integers(-5, 5)},
).map(lambda r: ("record", orjson.dumps(r)))
garbage = (
    st.binary(min_size=1, max_size=30)
    .filter(lambda b: b"\n" not in b)
    .map(lambda b: ("bad", b"#" + b))
)
not_a_record = st.sampled_from(
    [b"[1,2]", b'"text"', b"17", b'{"seq": "1"}', b'{"kind": 1}', b"null"]
).map(lambda b: ("bad", b))
blank = st.just(("blank", b""))
lines = st.lists(st.one_of(record, record, garbage, not_a_record, blank), max_size=25)
tail = st.one_of(st.just(b""), st.binary(min_size=1, max_size=20).filter(lambda b: b"\n" not in b))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=lines,
    tail=tail,
    cuts=st.lists(st.integers(0, 2000), max_size=12),
    max_bytes=st.sampled_from([None, 1, 7, 64]),
)
def test_any_chunking_gives_the_complete_records_in_order(
    lines: list[tuple[str, bytes]], tail: bytes, cuts: list[int], max_bytes: int | None
) -> None:
    stream = b"".join(line + b"\n" for _, line in lines) + tail
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    expected_records = []
    expected_bad = []
    offset = 0
    for what, line in lines:
        end = offset + len(line) + 1
        if what == "record":
            expected_records.append((json.loads(line), Position(0, end)))
        elif what == "bad":
            expected_bad.append((offset, end))
        offset = end

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.jsonl"
        path.touch(mode=0o600)
        reports: list[CorruptLine] = []
        reader = Reader(path, on_corrupt=reports.append)
        got = []
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            for start, stop in itertools.pairwise(bounds):
                os.write(fd, stream[start:stop])
                got.extend(reader.read(max_bytes))
                while reader.has_backlog:
                    got.extend(reader.read(max_bytes))
        finally:
            os.close(fd)
        got.extend(reader.read())
        reader.close()

    assert got == expected_records
    assert [(r.position.offset, r.end.offset) for r in reports] == expected_bad
    assert reader.position == Position(0, offset)  # the partial tail is left for later
