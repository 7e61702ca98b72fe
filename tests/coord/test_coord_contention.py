"""Contention across processes: 32 processes x 500 random lease / release / claim operations on a
few paths and tasks; the audit log, replayed by an independent checker, shows no conflicting
holders, no double claim, and strictly increasing fencing tokens (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import audit_checker
import pytest

from codeswarm.coord import Coord, open_store
from conftest import HERE, PYTHON, python_env

PROCESSES = 32
OPS = 500
EXPECTED = {"lease", "release", "lease_conflict", "claim", "claim_lost", "complete", "unclaim",
            "none_open", "lapsed"}  # fmt: skip


def run_swarm(
    url: str, root: Path, processes: int, ops: int, tasks: int, rate: float = 0.0
) -> list[dict[str, Any]]:
    """Start the workers, release them together, collect their reports."""
    with Coord(open_store(url), root=str(root)) as coord:
        ids = [coord.add_task(f"task {i}", files=[f"src/t{i % 5}.py"]).id for i in range(tasks)]
    task_arg = ",".join(map(str, ids))
    env = python_env()
    procs = [
        subprocess.Popen(
            [
                PYTHON,
                str(HERE / "contention_worker.py"),
                url,
                str(root),
                f"w{i}",
                str(ops),
                str(1000 + i),
                task_arg,
                str(rate),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for i in range(processes)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        reports = []
        for p in procs:
            out, _ = p.communicate(timeout=240)
            assert p.returncode == 0
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


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
