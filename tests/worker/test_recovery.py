"""After a crash: finding the turn that was cut short in the worker's own outbox, and how the
resumed thread says it ended (the pure half of codeswarm.worker.recovery; the real-process half
is tests/control/test_crash_gaps.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeswarm.mailbox import Writer, records_backward
from codeswarm.worker import recovery
from codeswarm.worker.recovery import Unfinished, find_turn, find_unfinished


def outbox_of(path: Path, *records: dict[str, Any]) -> Unfinished | None:
    """Write ``records`` as a worker (and its keeper) would, then look for the open turn the
    way a restarted worker does (backwards, through the line filter)."""
    with Writer.open(path) as w:
        for rec in records:
            w.append_record(rec)
        for _ in range(50):  # the bulk of an outbox: Codex's messages, skipped unparsed
            w.append("codex", msg={"method": "item/agentMessage/delta", "params": {"delta": "x"}})
    return find_unfinished(records_backward(path, keep=recovery.worth_parsing))


def codex(method: str, **params: Any) -> dict[str, Any]:
    return {"kind": "codex", "msg": {"method": method, "params": params}}


def completed(turn: str) -> dict[str, Any]:
    return codex("turn/completed", turn={"id": turn, "status": "completed"})


STARTING = {"kind": "turn.starting", "inbox_id": "m1"}
ACCEPTED = {"kind": "turn.accepted", "inbox_id": "m1", "turn_id": "T1"}
KILLED = {"kind": "worker.exited", "reason": "worker killed by SIGKILL", "code": -9}


def test_an_accepted_turn_that_never_ended_is_found_with_its_cause(tmp_path: Path) -> None:
    found = outbox_of(
        tmp_path / "o.jsonl",
        completed("T0"),
        STARTING,
        ACCEPTED,
        codex("turn/started", turn={"id": "T1"}),
        KILLED,
        {"kind": "worker.started"},
        {"kind": "agent.ready"},
    )
    assert found == Unfinished("m1", "T1", "worker killed by SIGKILL", stopped=False)
    assert not found.is_continuation


def test_a_turn_that_ended_any_way_is_not_open(tmp_path: Path) -> None:
    assert outbox_of(tmp_path / "a.jsonl", STARTING, ACCEPTED, completed("T1"), KILLED) is None
    aborted = {"kind": "turn.aborted", "turn_id": "T1", "reason": "codex exited"}
    assert outbox_of(tmp_path / "b.jsonl", STARTING, ACCEPTED, aborted, KILLED) is None
    recovered = {"kind": "turn.recovered", "turn_id": "T1", "status": "completed"}
    assert outbox_of(tmp_path / "c.jsonl", STARTING, ACCEPTED, recovered) is None
    assert outbox_of(tmp_path / "d.jsonl", {"kind": "worker.started"}) is None  # no turn yet


def test_a_start_never_answered_is_open_unless_it_was_refused(tmp_path: Path) -> None:
    found = outbox_of(tmp_path / "a.jsonl", ACCEPTED, completed("T1"), {**STARTING, "inbox_id": "m2"},
                      KILLED)  # fmt: skip
    assert found == Unfinished("m2", None, "worker killed by SIGKILL", stopped=False)
    refused = {"kind": "inbox.rejected", "inbox_id": "m2", "reason": "too long"}
    assert outbox_of(tmp_path / "b.jsonl", {**STARTING, "inbox_id": "m2"}, refused) is None


def test_a_stop_on_request_and_a_continuation_are_told_apart(tmp_path: Path) -> None:
    stopped = {"kind": "agent.stopped", "requested": True}
    found = outbox_of(tmp_path / "a.jsonl", STARTING, ACCEPTED, stopped)
    assert found is not None and found.stopped
    stopping = {"kind": "worker.stopping", "reason": "SIGTERM", "turn_id": "T1"}  # then killed
    found = outbox_of(
        tmp_path / "c.jsonl", STARTING, ACCEPTED, stopping, {"kind": "worker.started"}
    )
    assert found is not None and found.stopped
    cont = {"kind": "turn.accepted", "inbox_id": "continue:T0", "turn_id": "T1"}
    found = outbox_of(tmp_path / "b.jsonl", cont, KILLED)
    assert found is not None and found.is_continuation


def test_a_spilled_turn_completed_still_counts(tmp_path: Path) -> None:
    big = codex(
        "turn/completed", turn={"id": "T1", "status": "completed", "items": ["x" * 400_000]}
    )
    assert outbox_of(tmp_path / "o.jsonl", STARTING, ACCEPTED, big, KILLED) is None


LISTED = {
    "data": [
        {"id": "T2", "status": "interrupted", "items": [
            {"type": "userMessage", "clientId": "m2"}]},
        {"id": "T1", "status": "completed", "items": [
            {"type": "userMessage", "clientId": "m1"},
            {"type": "agentMessage", "text": "first"},
            {"type": "agentMessage", "text": "done"}]},
    ]
}  # fmt: skip


def test_the_thread_says_how_the_turn_ended() -> None:
    by_id = find_turn(LISTED, Unfinished("m1", "T1", "", stopped=False))
    assert by_id is not None and recovery.really_ended(by_id)
    assert recovery.final_text(by_id) == "done" and recovery.turn_error(by_id) is None
    by_client = find_turn(LISTED, Unfinished("m2", None, "", stopped=False))
    assert by_client is not None and by_client["id"] == "T2"
    assert not recovery.really_ended(by_client)  # interrupted by the crash: aborted
    assert find_turn(LISTED, Unfinished("m9", None, "", stopped=False)) is None
    assert find_turn({"data": "garbage"}, Unfinished("m1", "T1", "", stopped=False)) is None
    assert recovery.turn_error({"error": {"message": "boom"}}) == "boom"


def test_the_continuation_names_the_turn_and_the_cause() -> None:
    rec = recovery.continuation("T1", "worker killed by SIGKILL")
    assert rec["id"] == "continue:T1" and rec["continues"] == "T1"
    assert "interrupted by a crash (worker killed by SIGKILL)" in rec["text"]
    assert "continue where you left off" in rec["text"]
