"""The router, side by side in one run (JSON on stdout):

- relay: a writer process appends Codex delta records to an outbox; how long until the router
  yields the event. inotify and polling (50 ms) through the real Router, next to the seed design's
  baseline: a reader polling every 200 ms. Targets: inotify p99 <= 5 ms; polling p50 <= 27 ms.
- ingest: Router.replay() over a big outbox with a realistic mix of records, next to a baseline
  that only splits and parses the lines. Target >= 100k records/s on one core.
- fleet: 200 simulated workers appending a realistic mix at 20 records/s each, followed by one
  router process; its CPU use. Target < 50% of one core.

    .venv/bin/python bench/fleet_router.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import orjson

from _common import emit, summary
from codeswarm.control.fleet.router import Router
from codeswarm.core.swarm import RunDir, SwarmSpec
from codeswarm.mailbox import Layout, Writer


def make_run(root: Path, name: str, size: int) -> RunDir:
    run = RunDir(root / name)
    run.root.mkdir(parents=True, mode=0o700)
    Layout(run.root).create()
    spec = SwarmSpec(name=name, size=size, cwd=str(root), codex_bin="/bin/true")
    import msgspec

    run.spec_path.write_bytes(msgspec.json.encode(spec))
    return run


def mix(i: int) -> dict[str, Any]:
    """A realistic mix of relayed Codex messages: mostly deltas, some items and usage."""
    t = {"threadId": "th", "turnId": "tu"}
    k = i % 20
    if k < 14:
        return {
            "method": "item/agentMessage/delta",
            "params": {**t, "itemId": "m", "delta": f"tok{i} "},
        }
    if k < 16:
        item = {
            "type": "commandExecution",
            "id": f"c{i}",
            "command": "ls",
            "cwd": "/w",
            "status": "inProgress",
        }
        return {"method": "item/started", "params": {**t, "item": item}}
    if k < 18:
        item = {"type": "agentMessage", "id": f"m{i}", "text": "a complete answer " * 4}
        return {"method": "item/completed", "params": {**t, "item": item}}
    if k < 19:
        u = {"inputTokens": 100, "outputTokens": 10, "totalTokens": 110}
        return {
            "method": "thread/tokenUsage/updated",
            "params": {**t, "tokenUsage": {"total": u, "last": u}},
        }
    return {
        "method": "thread/status/changed",
        "params": {"threadId": "th", "status": {"type": "idle"}},
    }


WRITER = r"""
import sys, time, orjson
from codeswarm.mailbox import Writer
path, n, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
w = Writer.open(path)
for i in range(n):
    msg = {"method": "item/agentMessage/delta", "params": {"threadId": "th", "turnId": "tu", "itemId": "m", "delta": "x"}}
    w.append("codex", msg=msg, mono_ns=time.monotonic_ns())
    time.sleep(gap)
w.close()
"""


async def relay_router(run: RunDir, mode: str, n: int, gap: float) -> list[float]:
    router = Router(run, start="end", poll_interval=0.05, mode=mode)  # type: ignore[arg-type]
    latencies: list[float] = []
    original = router._events_for

    def timed(agent: str, record: dict[str, Any], after: Any) -> list[dict[str, Any]]:
        out = original(agent, record, after)
        if "mono_ns" in record:
            latencies.append((time.monotonic_ns() - record["mono_ns"]) / 1e9)
        return out

    router._events_for = timed  # type: ignore[method-assign]
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WRITER,
        str(Layout(run.root).outbox(router.agents[0])),
        str(n),
        str(gap),
    )

    async def consume() -> None:
        async for _batch in router.follow():
            if len(latencies) >= n:
                return

    try:
        await asyncio.wait_for(consume(), timeout=n * gap + 30)
        await writer.wait()
    finally:
        router.close()
    return latencies


def relay_baseline(path: Path, n: int, gap: float, interval: float = 0.2) -> list[float]:
    """The seed design: sleep 200 ms, read what is new, parse it."""
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(n), str(gap)])
    latencies: list[float] = []
    offset = 0
    deadline = time.monotonic() + n * gap + 30
    while len(latencies) < n and time.monotonic() < deadline:
        time.sleep(interval)
        try:
            data = path.read_bytes()[offset:]
        except FileNotFoundError:
            continue
        cut = data.rfind(b"\n") + 1
        offset += cut
        now = time.monotonic_ns()
        for line in data[:cut].splitlines():
            rec = json.loads(line)
            if "mono_ns" in rec:
                latencies.append((now - rec["mono_ns"]) / 1e9)
    writer.wait()
    return latencies


def ingest(root: Path, n: int) -> dict[str, Any]:
    run = make_run(root, "ingest", 1)
    path = Layout(run.root).outbox("ingest_0")
    with Writer.open(path, rotate_bytes=None) as w:
        for i in range(n):
            w.append("codex", msg=mix(i))
    t0 = time.perf_counter()
    router = Router(run, start="begin")
    events = router.replay()
    ours = time.perf_counter() - t0
    fleet_total = router.fleet.totals()["total"]
    t0 = time.perf_counter()
    with path.open("rb") as f:
        for line in f:
            orjson.loads(line)
    base = time.perf_counter() - t0
    return {
        "records": n,
        "events": events,
        "fleet_tokens_total": fleet_total,
        "router_records_per_s": round(n / ours),
        "baseline_parse_only_records_per_s": round(n / base),
        "ratio_router_to_parse_only": round(base / ours, 3),
        "target_records_per_s": 100_000,
        "meets_target": n / ours >= 100_000,
    }


FLEET_WRITER = r"""
import sys, time, orjson
sys.path.insert(0, sys.argv[4])
from fleet_router import mix
from codeswarm.mailbox import Layout, Writer
from pathlib import Path
root, agents, seconds = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
layout = Layout(root)
writers = [Writer.open(layout.outbox(f"fleet_{i}")) for i in range(agents)]
tick, i = 0.05, 0
t0 = time.monotonic()
while time.monotonic() - t0 < seconds:
    for w in writers:  # 20 records/s per agent: one per 50 ms tick
        w.append("codex", msg=mix(i)); i += 1
    time.sleep(max(0.0, t0 + (i // agents) * tick - time.monotonic()))
for w in writers:
    w.close()
print(i)
"""

FLEET_ROUTER = r"""
import asyncio, resource, sys, time
from pathlib import Path
from codeswarm.control.fleet.router import Router
from codeswarm.core.swarm import RunDir
run, expected = RunDir(Path(sys.argv[1])), int(sys.argv[2])
async def main():
    router = Router(run, start="begin")
    seen = 0
    t0 = time.monotonic(); r0 = resource.getrusage(resource.RUSAGE_SELF)
    async def go():
        nonlocal seen
        async for batch in router.follow():
            seen = sum(c.record_seq for c in router.cursors.values())
            if seen >= expected:
                return
    try:
        await asyncio.wait_for(go(), float(sys.argv[3]))
    except TimeoutError:
        pass
    r1 = resource.getrusage(resource.RUSAGE_SELF); t1 = time.monotonic()
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(f"{cpu} {t1 - t0} {seen} {r1.ru_maxrss}")
asyncio.run(main())
"""


def fleet(root: Path, agents: int, seconds: float) -> dict[str, Any]:
    run = make_run(root, "fleet", agents)
    bench_dir = str(Path(__file__).resolve().parent)
    expected = agents * int(seconds / 0.05)
    router = subprocess.Popen(
        [sys.executable, "-c", FLEET_ROUTER, str(run.root), str(expected), str(seconds + 20)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.0)  # let the router start following before the load begins
    writer = subprocess.run(
        [sys.executable, "-c", FLEET_WRITER, str(run.root), str(agents), str(seconds), bench_dir],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    written = int(writer.stdout.strip())
    out, _ = router.communicate(timeout=60)
    cpu, wall, seen, maxrss = out.split()
    share = float(cpu) / float(wall)
    return {
        "agents": agents,
        "records_per_s_per_agent": 20,
        "seconds": seconds,
        "records_written": written,
        "records_routed": int(seen),
        "router_cpu_share_of_one_core": round(share, 3),
        "router_max_rss_mb": round(int(maxrss) / 1024, 1),
        "target_cpu_share": 0.5,
        "meets_target": share < 0.5,
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_relay = 100 if args.quick else 300
    root = Path(tempfile.mkdtemp(prefix="bench-router-"))
    os.chmod(root, 0o700)
    result: dict[str, Any] = {"benchmark": "fleet_router"}
    relay: dict[str, Any] = {}
    for mode in ("inotify", "poll"):
        run = make_run(root, f"relay{mode}", 1)
        relay[f"router_{mode}"] = summary(await relay_router(run, mode, n_relay, 0.01))
    base_run = make_run(root, "relaybase", 1)
    relay["baseline_poll_200ms"] = summary(
        relay_baseline(Layout(base_run.root).outbox("relaybase_0"), n_relay // 3, 0.03)
    )
    relay["targets"] = {"inotify_p99_ms": 5.0, "poll_p50_ms": 27.0}
    relay["meets_targets"] = (
        relay["router_inotify"]["p99_ms"] <= 5.0 and relay["router_poll"]["p50_ms"] <= 27.0
    )
    result["relay"] = relay
    result["ingest"] = ingest(root, 50_000 if args.quick else 200_000)
    result["fleet_200"] = fleet(root, 200, 5.0 if args.quick else 15.0)
    emit(result)


if __name__ == "__main__":
    asyncio.run(main())
