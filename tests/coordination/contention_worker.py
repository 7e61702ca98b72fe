"""Contending agent processes (for the contention test and bench/coord_contention.py):
:func:`run_swarm` starts them; run as a script, this module is one of them.

    python contention_worker.py URL ROOT NAME OPS SEED TASK_IDS [RATE]

Registers NAME, prints ``ready``, waits for a line on stdin, then runs OPS random operations
(back to back, or RATE per second on a fixed schedule: an open loop, for latency at a given load)
(lease / release on a few overlapping paths, some with short TTLs; claim / claim-next / complete /
unclaim on the given tasks) and prints one JSON line: counts of outcomes, grants, latencies.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from codeswarm.coordination import Coord, Limits, open_store
from codeswarm.coordination.bounds import Range
from codeswarm.core.errors import ClaimLostError, LeaseConflictError, NotFoundError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PATHS = ["a.py", "b.py", "c.py", "src/", "src/x.py", "src/y.py", "docs/", "docs/guide.md"]


def main(argv: list[str]) -> int:
    url, root, name, ops, seed, task_arg, *pace = argv
    rate = float(pace[0]) if pace else 0.0
    rng = random.Random(int(seed))
    task_ids = [int(t) for t in task_arg.split(",") if t]
    # leases of 50 ms (under the 1 s minimum), to race expiry against every other operation
    short_ttls = Limits(ttl=Range(0.01, 60.0, integer=False))
    coord = Coord(open_store(url), root=root, limits=short_ttls)
    me = coord.register(name, lease_s=600).id
    print("ready", flush=True)
    sys.stdin.readline()
    held: dict[str, bool] = {}
    my_task: int | None = None
    outcomes: dict[str, int] = {}
    grants = 0
    latencies: list[float] = []
    started = time.perf_counter()
    for i in range(int(ops)):
        if rate:
            due = started + i / rate
            ahead = due - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)  # pacing an open-loop load, not waiting for a condition
        t0 = time.perf_counter()
        outcome = "ok"
        try:
            if rng.random() < 0.6:
                if held and rng.random() < 0.5:
                    path = rng.choice(sorted(held))
                    del held[path]
                    coord.release(me, path)
                    outcome = "release"
                else:
                    path = rng.choice(PATHS)
                    if path in held:
                        del held[path]
                        coord.release(me, path)
                        outcome = "release"
                    else:
                        ttl = rng.choice([None, None, None, 0.05])
                        coord.lease(me, path, shared=rng.random() < 0.3, ttl=ttl)
                        held[path] = True
                        grants += 1
                        outcome = "lease"
            elif my_task is not None:
                task, my_task = my_task, None
                if rng.random() < 0.3:
                    coord.complete(me, task, result="ok")
                    outcome = "complete"
                else:
                    coord.unclaim(me, task)
                    outcome = "unclaim"
            elif rng.random() < 0.5 and task_ids:
                my_task = coord.claim(me, rng.choice(task_ids)).id
                outcome = "claim"
            else:
                found = coord.claim_next(me)
                my_task = None if found is None else found.id
                outcome = "claim" if found is not None else "none_open"
        except LeaseConflictError:
            outcome = "lease_conflict"
        except ClaimLostError:
            outcome = "claim_lost"
        except NotFoundError:
            outcome = "lapsed"  # a TTL lease expired before its release
        latencies.append(time.perf_counter() - t0)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    elapsed = time.perf_counter() - started
    coord.close()
    print(
        json.dumps(
            {
                "name": name,
                "outcomes": outcomes,
                "grants": grants,
                "elapsed": elapsed,
                "latencies": latencies,
            }
        ),
        flush=True,
    )
    return 0


def run_swarm(
    url: str, root: Path, processes: int, ops: int, tasks: int, rate: float = 0.0
) -> list[dict[str, Any]]:
    """Start ``processes`` workers on a store with ``tasks`` new tasks, release them together,
    collect their reports (``rate``: operations/s per process, 0 back to back)."""
    with Coord(open_store(url), root=str(root)) as coord:
        ids = [coord.add_task(f"task {i}", files=[f"src/t{i % 5}.py"]).id for i in range(tasks)]
    task_arg = ",".join(map(str, ids))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESWARM_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(HERE)])
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
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


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
