"""Many long-lived agent processes contending on a few paths and tasks, side by side in one run:
SQLite and PostgreSQL, 8 and 32 processes. Each process runs the contention test's worker
(tests/coordination/contention_worker.py: lease / release on 8 overlapping paths, claim / claim-next /
complete / unclaim on 40 tasks); the audit log is then replayed by the independent checker.

Two loads per case: a closed loop (every process back to back: the most the store takes, and the
latency at saturation, where 32 processes share 2 cores) and an open loop offering --paced
operations/s in total on a fixed schedule (the latency at the target load).

Targets (issue "Coordination"): >= 2,000 operations/s in total, p99 <= 50 ms, zero violations.
PostgreSQL is a throwaway server started for the run (tests/pg_service.py).

    .venv/bin/python bench/coord_contention.py [--ops 500] [--procs 8,32] [--paced 2400]
                                               [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [
    str(Path(__file__).resolve().parent),
    str(ROOT / "tests"),
    str(ROOT / "tests" / "coordination"),
]
import audit_checker  # noqa: E402
from contention_worker import run_swarm  # noqa: E402

import pg_service  # noqa: E402
from _common import emit, pct  # noqa: E402
from codeswarm.coordination import Coord, open_store  # noqa: E402


def one(url: str, procs: int, ops: int, rate: float = 0.0) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        if url == "sqlite":
            url = f"sqlite://{tmp}/coord.db"
        started = time.perf_counter()
        reports = run_swarm(url, root, procs, ops, tasks=40, rate=rate)
        wall = time.perf_counter() - started
        with Coord(open_store(url), root=str(root)) as coord:
            events = [e.to_dict() for e in coord.events(limit=10_000)]
            while events and len(events) % 10_000 == 0:
                more = [e.to_dict() for e in coord.events(since=events[-1]["seq"], limit=10_000)]
                if not more:
                    break
                events += more
    lat = [x for r in reports for x in r["latencies"]]
    busy = max(r["elapsed"] for r in reports)
    try:
        counts = audit_checker.check(events)
        violations = 0
    except audit_checker.Violation as exc:
        counts, violations = {"error": str(exc)}, 1  # type: ignore[dict-item]
    outcomes: dict[str, int] = {}
    for r in reports:
        for k, v in r["outcomes"].items():
            outcomes[k] = outcomes.get(k, 0) + v
    return {
        "processes": procs,
        "offered_ops_per_s": round(rate * procs) if rate else "closed loop",
        "operations": len(lat),
        "ops_per_s": round(len(lat) / busy),
        "p50_ms": round(pct(lat, 50) * 1000, 3),
        "p99_ms": round(pct(lat, 99) * 1000, 3),
        "max_ms": round(max(lat) * 1000, 3),
        "violations": violations,
        "audit": counts,
        "outcomes": outcomes,
        "wall_s_including_start": round(wall, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=500)
    ap.add_argument("--procs", default="8,32")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument(
        "--paced",
        type=float,
        default=2400,
        help="also run an open loop offering this many operations/s in total (0: skip)",
    )
    args = ap.parse_args()
    backends = args.backends.split(",")
    server = None
    results: dict[str, object] = {}
    try:
        admin = ""
        if "postgresql" in backends:
            server = pg_service.PgServer(pg_service.bin_dir())
            admin = server.start()
        for n in [int(x) for x in args.procs.split(",")]:
            for backend in backends:
                url = (
                    "sqlite" if backend == "sqlite" else f"{admin}?schema=b_{uuid.uuid4().hex[:8]}"
                )
                results[f"{backend}_{n}"] = one(url, n, args.ops)
                if args.paced:
                    url = url if backend == "sqlite" else f"{admin}?schema=p_{uuid.uuid4().hex[:8]}"
                    results[f"{backend}_{n}_paced"] = one(url, n, args.ops, args.paced / n)
    finally:
        if server is not None:
            server.stop()
    emit({"benchmark": "coord_contention", "ops_per_process": args.ops, "results": results,
          "targets": {"ops_per_s": ">= 2000", "p99_ms": "<= 50", "violations": 0},
          "loadavg": os.getloadavg()})  # fmt: skip


if __name__ == "__main__":
    main()
