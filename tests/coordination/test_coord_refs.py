"""Agent refs (``name#generation``) and record ids (``#12``): taken apart one way, in
coord.models, by the store, the hooks, the MCP tools and the CLI alike."""

from __future__ import annotations

import pytest

from codeswarm.coordination import Coord
from codeswarm.coordination.models import agent_name, agent_ref, record_id, split_ref
from codeswarm.core.errors import CoordInputError


def test_refs_round_trip() -> None:
    assert agent_ref("alice", 3) == "alice#3"
    assert split_ref("alice#3") == ("alice", 3)
    assert split_ref("alice") == ("alice", None)
    assert agent_name("alice#3") == "alice" == agent_name("alice")


@pytest.mark.parametrize("bad", ["", "alice#", "alice#0", "alice#x", "al ice", "a#1#2", "#3"])
def test_a_bad_ref_is_refused(bad: str) -> None:
    with pytest.raises(CoordInputError):
        split_ref(bad)
    with pytest.raises(CoordInputError):
        agent_name(bad)


def test_record_ids() -> None:
    assert record_id("task", 12) == 12 == record_id("task", "12") == record_id("task", "#12")
    for bad in (0, -1, "x", "#", True, 1.5, None):
        with pytest.raises(CoordInputError, match="invalid message id"):
            record_id("message", bad)


def test_a_message_to_a_ref_reaches_the_name(coord: Coord) -> None:
    bob = coord.register("bob")
    alice = coord.register("alice")
    coord.send(bob.id, "hi", sender=alice)  # "bob#1": the name receives it, any generation
    assert [m.text for m in coord.inbox("bob")] == ["hi"]
    with pytest.raises(CoordInputError, match="invalid agent ref"):
        coord.send("bob#x", "hi", sender=alice)
    assert [m.to for m in coord.inbox("bob")] == ["bob"]
