"""In-process round trips of the coordination store, side by side in one run:

- ``sqlite_floor``: a bare sqlite3 insert + delete pair (two ``BEGIN IMMEDIATE`` transactions,
  WAL, synchronous=NORMAL): what any SQLite-backed lease must pay;
- ``lease_release`` on SQLite (WAL), SQLite (rollback journal) and PostgreSQL (a throwaway local
  server): ``Coord.lease`` + ``Coord.release`` of one file by one agent;
- ``check``: ``Coord.conflicts`` (what a hook asks before a write) on SQLite.

Target (issue "Coordination"): lease + release p50 <= 1 ms on SQLite.

    .venv/bin/python bench/coord_latency.py [--rounds 2000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT / "tests")]
import pg_service  # noqa: E402
from _common import emit, summary  # noqa: E402
from codeswarm.coordination import Coord, open_store  # noqa: E402


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    for _ in range(min(200, rounds)):
        fn()
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def sqlite_floor(tmp: str, rounds: int) -> list[float]:
    conn = sqlite3.connect(os.path.join(tmp, "floor.db"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")

    def pair() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES ('x')")
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM t WHERE k = 'x'")
        conn.execute("COMMIT")

    try:
        return timed(pair, rounds)
    finally:
        conn.close()


def lease_release(url: str, root: str, rounds: int) -> tuple[list[float], list[float]]:
    with Coord(open_store(url), root=root) as coord:
        me = coord.register("bench").id
        other = coord.register("other").id
        coord.lease(other, "held/")

        def pair() -> None:
            coord.lease(me, "src/app.py")
            coord.release(me, "src/app.py")

        pairs = timed(pair, rounds)
        checks = timed(lambda: coord.conflicts("src/app.py", agent=me), rounds)
    return pairs, checks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "ws")
        os.mkdir(root)
        results["sqlite_floor_insert_delete"] = summary(sqlite_floor(tmp, args.rounds))
        pairs, checks = lease_release(f"sqlite://{tmp}/wal.db", root, args.rounds)
        results["sqlite_lease_release"] = summary(pairs)
        results["sqlite_check"] = summary(checks)
        pairs, _ = lease_release(f"sqlite://{tmp}/journal.db?journal=delete", root, args.rounds)
        results["sqlite_journal_lease_release"] = summary(pairs)
        if not args.no_postgres:
            server = pg_service.PgServer(pg_service.bin_dir())
            try:
                admin = server.start()
                url = f"{admin}?schema=b_{uuid.uuid4().hex[:8]}"
                pairs, checks = lease_release(url, root, args.rounds)
                results["postgresql_lease_release"] = summary(pairs)
                results["postgresql_check"] = summary(checks)
            finally:
                server.stop()
    floor = results["sqlite_floor_insert_delete"]["p50_ms"]  # type: ignore[index]
    ours = results["sqlite_lease_release"]["p50_ms"]  # type: ignore[index]
    emit({
        "benchmark": "coord_latency",
        "rounds": args.rounds,
        "results": results,
        "ratio_sqlite_lease_release_to_floor": round(ours / floor, 2),
        "target": {"sqlite_lease_release_p50_ms": "<= 1"},
        "loadavg": os.getloadavg(),
    })  # fmt: skip


if __name__ == "__main__":
    main()
