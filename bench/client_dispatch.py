"""Client dispatch throughput: a peer floods small notifications; how many per second reach a
subscriber through ``codeswarm.codex`` (framing + parse + dispatch + subscription), next to a bare
baseline in the same run that only splits lines and parses them (no dispatch).

Target (issue "Codex runtime"): >= 100k notifications/s on one core.

    .venv/bin/python bench/client_dispatch.py [--n 500000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit
from codeswarm.codex import AppServer

# The peer answers any request: method "flood" with params n -> n notifications, then the reply.
PEER = r"""
import sys, json
note = '{"method":"item/agentMessage/delta","params":{"threadId":"t","turnId":"u","itemId":"m","delta":"tok %d"}}\n'
for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    n = msg.get("params", {}).get("n", 0)
    out = sys.stdout
    chunk = 5000
    for start in range(0, n, chunk):
        out.write("".join(note % i for i in range(start, min(n, start + chunk))))
    out.write(json.dumps({"id": msg["id"], "result": n}) + "\n")
    out.flush()
"""


async def ours(n: int) -> float:
    peer = await AppServer.spawn(
        [sys.executable, "-u", "-c", PEER], codex_home=Path("/tmp"), initialize=False
    )
    async with peer:
        sub = peer.subscribe()
        t0 = time.perf_counter()
        reply = asyncio.create_task(peer.request("flood", {"n": n}))
        got = 0
        async for _msg in sub:
            got += 1
            if got == n:
                break
        elapsed = time.perf_counter() - t0
        assert await reply == n
    return elapsed


async def baseline(n: int) -> float:
    """Read the same flood with asyncio's readline + orjson.loads, no dispatch at all."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-u", "-c", PEER,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 20,
    )  # fmt: skip
    assert proc.stdin and proc.stdout
    t0 = time.perf_counter()
    proc.stdin.write(orjson.dumps({"id": 1, "method": "flood", "params": {"n": n}}) + b"\n")
    await proc.stdin.drain()
    got = 0
    while got < n:
        line = await proc.stdout.readline()
        orjson.loads(line)
        got += 1
    elapsed = time.perf_counter() - t0
    proc.stdin.close()
    await proc.wait()
    return elapsed


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    try:
        os.sched_setaffinity(0, {0})  # the client on one core; the peer may use the other
        pinned = True
    except (AttributeError, OSError):
        pinned = False
    ours_s, base_s = [], []
    for _ in range(args.rounds):
        base_s.append(await baseline(args.n))
        ours_s.append(await ours(args.n))
    best_ours, best_base = min(ours_s), min(base_s)
    emit(
        {
            "benchmark": "client_dispatch",
            "notifications": args.n,
            "rounds": args.rounds,
            "client_pinned_to_one_core": pinned,
            "ours_per_s": round(args.n / best_ours),
            "baseline_readline_parse_per_s": round(args.n / best_base),
            "ratio_ours_to_baseline": round(best_base / best_ours, 3),
            "target_per_s": 100_000,
            "meets_target": args.n / best_ours >= 100_000,
        }
    )


if __name__ == "__main__":
    asyncio.run(main())
