"""SSE framing and event ids (pure: codeswarm.api.sse)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeswarm.api import sse
from codeswarm.core.errors import BadEventIdError, BadTypesError


def test_frame_is_id_then_one_data_line() -> None:
    assert sse.frame(b"3.0.7", b'{"a":1}') == b'id: 3.0.7\ndata: {"a":1}\n\n'
    assert sse.RETRY == b"retry: 1000\n\n" and sse.PING.startswith(b":")


@given(st.lists(st.integers(0, 10**17), min_size=1, max_size=40))
def test_a_swarm_id_round_trips(vector: list[int]) -> None:
    raw = sse.vector_id(vector).decode()
    assert sse.parse_swarm_id(raw, len(vector)) == vector
    assert sse.parse_swarm_id(raw, len(vector) + 3) == [*vector, 0, 0, 0]


def test_missing_components_are_zero_and_zero_is_the_beginning() -> None:
    assert sse.parse_swarm_id("0", 3) == [0, 0, 0]
    assert sse.parse_swarm_id("12.0", 3) == [12, 0, 0]
    assert sse.parse_agent_id("41") == 41
    assert sse.parse_agent_id(" 0 ") == 0


@pytest.mark.parametrize(
    "raw", ["", "x", "-1", "+1", "1.5.", ".1", "1..2", "1 .2", "0x10", "٣", "1e3", "9" * 19]
)
def test_malformed_swarm_ids_are_refused(raw: str) -> None:
    with pytest.raises(BadEventIdError):
        sse.parse_swarm_id(raw, 3)


@pytest.mark.parametrize("raw", ["", "x", "-1", "1.2", "4.0.0", "٣", "9" * 19])
def test_malformed_agent_ids_are_refused(raw: str) -> None:
    with pytest.raises(BadEventIdError):
        sse.parse_agent_id(raw)


def test_more_components_than_agents_is_refused() -> None:
    assert sse.parse_swarm_id("1.2.3", 3) == [1, 2, 3]
    with pytest.raises(BadEventIdError, match="4 components; the swarm has 3"):
        sse.parse_swarm_id("1.2.3.4", 3)


def test_where_a_stream_starts() -> None:
    assert sse.start_id("3.0.7", "1") == "3.0.7"  # the header wins
    assert sse.start_id(None, "1") == "1"
    assert sse.start_id("", "2") == "2"  # an empty header is none (browsers send none)
    assert sse.start_id(None, None) is None
    assert sse.start_id(None, "") == ""  # an empty after= is malformed, said by the parser


def test_types_filter() -> None:
    assert sse.parse_types(None) is None
    assert sse.parse_types("message.delta, turn.completed") == {"message.delta", "turn.completed"}
    for bad in ["", ",", "message.delta,nope"]:
        with pytest.raises(BadTypesError):
            sse.parse_types(bad)
