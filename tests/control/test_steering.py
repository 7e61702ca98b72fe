"""Steering's pure parts: which agents a target names, and what a message may be."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeswarm.control.steering import MAX_MESSAGE_CHARS, message_fields, resolve_targets
from codeswarm.core.errors import UsageError
from codeswarm.core.swarm import SwarmSpec

SPEC = SwarmSpec(name="t", size=4, cwd="/w", codex_bin="codex")
ALL = ["t_0", "t_1", "t_2", "t_3"]


@pytest.mark.parametrize(
    ("target", "agents"),
    [
        ("all", ALL),
        ("  all ", ALL),
        ("t_2", ["t_2"]),
        ("2", ["t_2"]),
        ("3,t_0", ["t_3", "t_0"]),  # in the given order
        (" 1 , t_3 ", ["t_1", "t_3"]),
        ("1,t_1,1", ["t_1"]),  # an agent named twice, once by rank: once
        ("t_0,2,t_0,3,2", ["t_0", "t_2", "t_3"]),
        ("01", ["t_1"]),  # a rank is a number
    ],
)
def test_targets(target: str, agents: list[str]) -> None:
    assert resolve_targets(SPEC, target) == agents


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("4", "no agent '4' in swarm 't'"),
        ("t_9", "no agent 't_9'"),
        ("u_0", "no agent 'u_0'"),  # an agent of another swarm
        ("-1", "no agent '-1'"),
        ("x", "no agent 'x'"),
        ("1,nobody", "no agent 'nobody'"),
        ("all,1", "no agent 'all'"),  # 'all' stands alone
        ("", "empty target"),
        ("1,,2", "empty target in '1,,2'"),
        ("1,", "empty target"),
    ],
)
def test_unknown_or_empty_targets_are_usage_errors(target: str, words: str) -> None:
    with pytest.raises(UsageError, match=words) as info:
        resolve_targets(SPEC, target)
    message = str(info.value)
    assert "\n" not in message
    if "no agent" in message:  # says what there is instead
        assert "t_0 … t_3" in message and "ranks 0 … 3" in message and "'all'" in message


names = st.integers(min_value=0, max_value=3).flatmap(
    lambda r: st.sampled_from([str(r), f"t_{r}", f" t_{r} "])
)


@given(st.lists(names, min_size=1, max_size=10))
def test_a_list_names_each_agent_once_in_first_mention_order(parts: list[str]) -> None:
    ranks = [int(p.strip().removeprefix("t_")) for p in parts]
    expected = [f"t_{r}" for r in dict.fromkeys(ranks)]
    assert resolve_targets(SPEC, ",".join(parts)) == expected


def test_message_fields() -> None:
    assert message_fields("hi", None) == {"text": "hi"}
    assert message_fields("hi", "steer") == {"text": "hi", "mode": "steer"}
    assert message_fields("x" * MAX_MESSAGE_CHARS, "queue")["mode"] == "queue"
    with pytest.raises(UsageError, match="empty"):
        message_fields(" \n\t", None)
    with pytest.raises(UsageError, match=f"the limit is {MAX_MESSAGE_CHARS}"):
        message_fields("x" * (MAX_MESSAGE_CHARS + 1), None)
    with pytest.raises(UsageError, match="queue or steer"):
        message_fields("hi", "shout")
