"""Worker outbox records → events (pure), for the records tests/worker does not cover."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from codeswarm.control.events.records import record_events
from codeswarm.core.events import EVENT_TYPES
from swarmkit import json_values


def one(record: dict[str, Any]) -> dict[str, Any]:
    out = record_events("s_1", record)
    assert len(out) == 1, out
    assert "seq" not in out[0]  # the router numbers them
    return out[0]


def test_ready_restarted_stopped() -> None:
    e = one({"kind": "agent.ready", "ts": 7, "thread_id": "th", "model": "m", "resumed": 1})
    assert e == {
        "agent": "s_1",
        "ts": 7,
        "type": "agent.ready",
        "thread_id": "th",
        "model": "m",
        "resumed": True,
    }
    e = one({"kind": "agent.restarted", "reason": "codex exited"})
    assert (e["type"], e["reason"], e["ts"]) == ("agent.restarted", "codex exited", 0)
    e = one({"kind": "agent.stopped", "ts": "soon", "reason": "down"})
    assert (e["type"], e["reason"], e["ts"]) == ("agent.stopped", "down", 0)  # a bad ts is 0


def test_steered_and_recovered_acceptances() -> None:
    e = one({"kind": "turn.steered", "inbox_id": "i", "turn_id": "t", "recovered": True})
    assert (e["type"], e["steered"], e["recovered"]) == ("message.accepted", True, True)
    e = one({"kind": "turn.accepted", "inbox_id": "i"})
    assert (e["steered"], e["recovered"], e["turn_id"]) == (False, False, None)


def test_errors_and_rejections() -> None:
    e = one({"kind": "error", "message": "coordination unavailable"})
    assert e == {
        "agent": "s_1",
        "ts": 0,
        "type": "error",
        "message": "coordination unavailable",
        "will_retry": False,
    }
    e = one({"kind": "inbox.rejected", "inbox_id": "i9", "reason": "not JSON"})
    assert (e["type"], e["message"], e["inbox_id"]) == ("error", "not JSON", "i9")
    assert one({"kind": "error"})["message"] == "error"
    assert one({"kind": "error", "message": 42})["message"] == "42"


def test_a_worker_exit_without_a_reason_says_its_code() -> None:
    e = one({"kind": "worker.exited", "code": 3, "restart_in": 2.0})
    assert e["reason"] == "worker exited with code 3"
    assert (e["exit_code"], e["restart_in"], e["final"]) == (3, 2.0, False)


def test_a_restarted_worker_says_so() -> None:
    e = one({"kind": "worker.started", "pid": 5, "host": "h", "rank": 1, "restarted": True})
    assert (e["type"], e["pid"], e["host"], e["rank"], e["restarted"]) == (
        "agent.started",
        5,
        "h",
        1,
        True,
    )


def test_codex_messages_are_translated_with_the_records_time() -> None:
    msg = {"method": "item/agentMessage/delta", "params": {"itemId": "m", "delta": "hi"}}
    (e,) = record_events("s_1", {"kind": "codex", "ts": 1234, "msg": msg})
    assert (e["type"], e["agent"], e["ts"], e["delta"]) == ("message.delta", "s_1", 1234, "hi")
    timed = {**msg, "emittedAtMs": 99}
    (e,) = record_events("s_1", {"kind": "codex", "ts": 1234, "msg": timed})
    assert e["ts"] == 99  # Codex's own time wins
    assert record_events("s_1", {"kind": "codex"}) == []


KINDS = [
    "codex", "worker.started", "agent.ready", "turn.accepted", "turn.steered", "agent.restarted",
    "turn.aborted", "error", "inbox.rejected", "agent.stopped", "worker.exited", "heartbeat",
    "turn.recovered", "worker.stopping",
]  # fmt: skip
ANY_JSON = json_values()
records = st.fixed_dictionaries(
    {"kind": st.sampled_from(KINDS) | ANY_JSON},
    optional={
        k: ANY_JSON
        for k in ("ts", "msg", "code", "reason", "message", "inbox_id", "text", "status", "error")
    },
)


@given(records)
def test_never_raises_and_every_event_is_known(record: dict[str, Any]) -> None:
    for e in record_events("s_1", record):
        assert e["type"] in EVENT_TYPES and e["agent"] == "s_1" and isinstance(e["ts"], int)


def test_a_turn_resolved_after_a_crash_ends_for_every_reader() -> None:
    """``turn.aborted`` and ``turn.recovered`` (a restarted worker's verdict on the turn its
    predecessor left open) end the turn as Codex's own ``turn/completed`` would."""
    (e,) = record_events("s_1", {"kind": "turn.aborted", "turn_id": "T", "reason": "worker "
                                 "restarted mid-turn: worker killed by SIGKILL"})  # fmt: skip
    assert (e["type"], e["turn_id"], e["status"]) == ("turn.completed", "T", "failed")
    assert e["error"] == "turn aborted: worker restarted mid-turn: worker killed by SIGKILL"
    said, end = record_events(
        "s_1", {"kind": "turn.recovered", "turn_id": "T", "status": "completed", "text": "done"}
    )
    assert (said["type"], said["text"], said["turn_id"]) == ("message.completed", "done", "T")
    assert (end["type"], end["status"], end["recovered"]) == ("turn.completed", "completed", True)
    (end,) = record_events("s_1", {"kind": "turn.recovered", "turn_id": "T", "status": "failed",
                                   "error": "boom", "text": ""})  # fmt: skip
    assert (end["status"], end["error"]) == ("failed", "boom")
    assert record_events("s_1", {"kind": "worker.stopping", "reason": "SIGTERM"}) == []
