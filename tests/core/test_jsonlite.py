"""codeswarm.core.jsonlite (the hot commands' JSON) against orjson, which the rest of codeswarm
uses: the same text out, the same values in, the same refusals."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codeswarm.core import jsonlite
from swarmkit import json_values


@settings(max_examples=400, deadline=None)
@given(json_values(max_size=6, max_leaves=20))
def test_dumps_is_orjsons_text(value: Any) -> None:
    try:
        expected: str | None = orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # integers past 64 bits, lone surrogates
        expected = None
    try:
        wrote: str | None = jsonlite.dumps(value)
    except (TypeError, UnicodeEncodeError):
        wrote = None
    assert wrote == expected


@settings(max_examples=400, deadline=None)
@given(json_values(max_size=6, max_leaves=20, finite=True))
def test_loads_reads_what_orjson_reads(value: Any) -> None:
    try:
        data = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return
    got = jsonlite.loads(data)
    assert got == orjson.loads(data)
    assert jsonlite.dumps(got) == data.decode()


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b" ",
        b"NaN",
        b"[Infinity]",
        b"-Infinity",
        b'{"a": 1} x',
        b"[1,]",
        b"1e400",
        b"-1e999",
        b'"\\ud800"',
        b'{"\\udc00": 1}',
        b"\xff",
        b'"a\x01"',
        b"{'a': 1}",
    ],
)
def test_refuses_what_orjson_refuses(text: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)
    with pytest.raises(ValueError):  # noqa: PT011 (any ValueError: orjson's is one too)
        jsonlite.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        b' {"a": [1, 2.5e-7, -0.0, true, null]} \n',
        b'"\\ud83d\\ude00"',
        b"18446744073709551615",
        b"18446744073709551616",
        b"-9223372036854775809",
        b"[123456789012345678901234567890]",
    ],
)
def test_reads_what_orjson_reads(text: bytes) -> None:
    assert jsonlite.loads(text) == orjson.loads(text)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_written_as_orjson_writes_them(value: float) -> None:
    assert jsonlite.dumps([value]) == orjson.dumps([value]).decode()
