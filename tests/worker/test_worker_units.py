"""Worker pieces that need no Codex: the agent's own CODEX_HOME, forwarded approvals, records."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from codeswarm.codex.approval import ApprovalRequest, Decision
from codeswarm.control.events.records import record_events
from codeswarm.worker.approvals import ForwardedApprovals
from codeswarm.worker.home import prepare_codex_home
from swarmkit import wait_until_async


def test_codex_home_is_seeded_never_shared(tmp_path: Path) -> None:
    seed = tmp_path / "person"
    seed.mkdir()
    (seed / "auth.json").write_text('{"token": 1}')
    (seed / "config.toml").write_text("model = 'x'\n")
    before = {p.name: p.stat().st_mtime_ns for p in seed.iterdir()}
    home = tmp_path / "agent" / "codex-home"
    assert sorted(prepare_codex_home(home, seed)) == ["auth.json", "config.toml"]
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "auth.json").stat().st_mode) == 0o600
    assert not (home / "auth.json").is_symlink()
    # the agent's config is its own from now on; a newer login is picked up
    (home / "config.toml").write_text("model = 'agent'\n")
    assert prepare_codex_home(home, seed) == []
    (seed / "auth.json").write_text('{"token": 2}')
    later = (home / "auth.json").stat().st_mtime_ns + 1_000_000_000  # they logged in again
    os.utime(seed / "auth.json", ns=(later, later))
    assert prepare_codex_home(home, seed) == ["auth.json"]
    assert (home / "auth.json").read_text() == '{"token": 2}'
    assert (home / "config.toml").read_text() == "model = 'agent'\n"
    assert {p.name for p in seed.iterdir()} == set(before)  # nothing written into the seed
    assert prepare_codex_home(tmp_path / "other", None) == []
    assert prepare_codex_home(tmp_path / "other2", tmp_path / "missing") == []


def _request(rid: int, item: str) -> ApprovalRequest:
    return ApprovalRequest(
        rid, "item/commandExecution/requestApproval", "command", {}, item_id=item
    )


async def test_forwarded_approvals_match_id_and_item() -> None:
    fw = ForwardedApprovals()
    task = asyncio.create_task(fw.decide(_request(0, "call_1")))
    await wait_until_async(lambda: len(fw) == 1, what="the request parked")
    assert not fw.answer(0, "accept", item_id="call_other")  # a stale answer for another item
    assert not fw.answer(1, "accept")  # no such request
    assert not fw.answer(0, "maybe")  # not a decision
    assert fw.answer("0", "accept", item_id="call_1")
    assert await task is Decision.ACCEPT
    assert len(fw) == 0
    task = asyncio.create_task(fw.decide(_request(3, "call_2")))
    await wait_until_async(lambda: len(fw) == 1, what="the request parked")
    fw.cancel_all()  # Codex went away
    assert await task is Decision.CANCEL


def test_worker_records_become_events() -> None:
    (e,) = record_events("s_0", {"kind": "worker.started", "ts": 5, "pid": 9, "node": "node2"})
    assert (e["type"], e["node"], e["ts"]) == ("agent.started", "node2", 5)
    (e,) = record_events("s_0", {"kind": "turn.aborted", "turn_id": "t", "reason": "codex died"})
    assert (e["type"], e["status"]) == ("turn.completed", "failed") and "codex died" in e["error"]
    (e,) = record_events(
        "s_0", {"kind": "worker.exited", "code": -9, "reason": "killed", "final": True}
    )
    assert (e["type"], e["exit_code"], e["final"]) == ("agent.failed", -9, True)
    (e,) = record_events("s_0", {"kind": "turn.accepted", "inbox_id": "i", "turn_id": "t"})
    assert (e["type"], e["inbox_id"]) == ("message.accepted", "i")
    assert record_events("s_0", {"kind": "heartbeat"}) == []
    assert record_events("s_0", {"kind": "codex", "msg": "garbage"}) == []
    assert record_events("s_0", "not a dict") == []  # type: ignore[arg-type]
