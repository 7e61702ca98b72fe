"""Contention across processes: 32 processes x 500 random lease / release / claim operations on a
few paths and tasks; the audit log, replayed by an independent checker, shows no conflicting
holders, no double claim, and strictly increasing fencing tokens (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import audit_checker
import pytest
from contention_worker import run_swarm

from codeswarm.coordination import Coord, open_store

PROCESSES = 32
OPS = 500
EXPECTED = {"lease", "release", "lease_conflict", "claim", "claim_lost", "complete", "unclaim",
            "none_open", "lapsed"}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_no_conflicting_holders_no_double_claims(db_url: str, root: Path) -> None:
    reports = run_swarm(db_url, root, PROCESSES, OPS, tasks=40)
    outcomes: dict[str, int] = {}
    for r in reports:
        for k, v in r["outcomes"].items():
            outcomes[k] = outcomes.get(k, 0) + v
    assert sum(outcomes.values()) == PROCESSES * OPS
    assert set(outcomes) <= EXPECTED
    assert outcomes["lease_conflict"] > 100 and outcomes["claim_lost"] > 10  # real contention
    with Coord(open_store(db_url), root=str(root)) as coord:
        events = [e.to_dict() for e in coord.events(limit=10_000)]
        while len(events) % 10_000 == 0 and events:
            more = [e.to_dict() for e in coord.events(since=events[-1]["seq"], limit=10_000)]
            if not more:
                break
            events += more
        live = len(coord.leases())
    counts = audit_checker.check(events)
    assert counts["grants"] == sum(r["grants"] for r in reports)  # the log misses no grant
    assert counts["claims"] >= outcomes["claim"]
    assert counts["still_held"] >= live  # the rest expired by TTL and await a sweep


def test_the_checker_catches_violations() -> None:
    grant = {"kind": "lease.acquired", "agent": "a#1"}
    ok = [
        {**grant, "seq": 1, "data": {"id": 1, "path": "src/", "mode": "exclusive", "token": 1, "holder": "a#1"}},
        {"seq": 2, "kind": "lease.released", "agent": "a#1", "data": {"id": 1}},
        {**grant, "seq": 3, "data": {"id": 2, "path": "src/x", "mode": "exclusive", "token": 2, "holder": "b#1"}},
    ]  # fmt: skip
    assert audit_checker.check(ok)["grants"] == 2
    overlapping = [ok[0], ok[2]]
    with pytest.raises(audit_checker.Violation, match="while a#1 held src/"):
        audit_checker.check(overlapping)
    stale_token = [ok[0], ok[1], {**ok[2], "data": {**ok[2]["data"], "token": 1}}]
    with pytest.raises(audit_checker.Violation, match="token"):
        audit_checker.check(stale_token)
    double = [
        {"seq": 1, "kind": "task.added", "agent": None, "data": {"id": 1, "status": "open"}},
        {"seq": 2, "kind": "task.claimed", "agent": "a#1", "data": {"id": 1}},
        {"seq": 3, "kind": "task.claimed", "agent": "b#1", "data": {"id": 1}},
    ]
    with pytest.raises(audit_checker.Violation, match="claimed task 1 while it was claimed"):
        audit_checker.check(double)
