"""core.swarm: agent ids and ranks, the one way (the fleet and the scripted model use it)."""

from __future__ import annotations

import pytest

from codeswarm.core.swarm import agent_id, agent_rank


@pytest.mark.parametrize(
    ("agent", "rank"),
    [
        ("demo_0", 0),
        ("my_swarm_12", 12),
        ("job_007", 7),
        ("demo", None),
        ("demo_x", None),
        ("7", None),
        ("_5", None),
    ],
)
def test_agent_rank(agent: str, rank: int | None) -> None:
    assert agent_rank(agent) == rank


def test_agent_id_and_rank_round_trip() -> None:
    assert agent_id("my-swarm", 3) == "my-swarm_3"
    assert agent_rank(agent_id("my-swarm", 3)) == 3
