"""An idle ``codeswarm serve``: its CPU over 30 s with 3 idle swarms, side by side with the seed
design's 200 ms polling follower (JSON out).

Three swarms of 3 agents each (run directories and specs, no workers); a writer process appends
a ``heartbeat`` record to every agent's outbox every 5 s, as idle workers do (no event comes of
it, but the follower wakes for it). One SSE client per swarm, and one on an agent's stream, stay
connected throughout (so each swarm's follower runs, and pings go out). CPU of the server
process from ``/proc/<pid>/stat`` over the window. Baseline: the poller of bench/serve_sse.py on
the same outboxes with the same clients. Target: < 0.5 % of a core.

    .venv/bin/python bench/serve_idle.py            # --seconds 30 (default)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import msgspec

from _common import emit
from codeswarm.core.swarm import RunDir, SwarmSpec
from codeswarm.mailbox import Layout
from serve_sse import BASELINE, TICKS, _listening, cpu_ticks, free_port, start_serve

SWARMS = ("idle-a", "idle-b", "idle-c")
AGENTS = 3

HEARTBEATS = r"""
import sys, time
from pathlib import Path
from codeswarm.mailbox import Layout, Writer
roots = [Path(p) for p in sys.argv[1:]]
writers = [Writer.open(Layout(r).outbox(f"{r.name}_{i}")) for r in roots for i in range(3)]
while True:
    for w in writers:
        w.append("heartbeat", busy=False, queued=0, approvals=0, ts_mono=time.monotonic())
    time.sleep(5.0)
"""

CLIENTS = r"""
import asyncio, sys
host, port, token, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
async def one(path):
    r, w = await asyncio.open_connection(host, port)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    w.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n".encode())
    while await r.read(65536):
        pass
async def main():
    tasks = [asyncio.create_task(one(p)) for p in paths]
    await asyncio.sleep(0.5)
    print("ready", flush=True)
    await asyncio.gather(*tasks)
asyncio.run(main())
"""


def make_swarm(runs: Path, name: str) -> RunDir:
    run = RunDir(runs / name)
    run.root.mkdir(parents=True, mode=0o700)
    Layout(run.root).create()
    spec = SwarmSpec(name=name, size=AGENTS, cwd=str(runs), codex_bin="/bin/true")
    run.spec_path.write_bytes(msgspec.json.encode(spec))
    return run


def measure(pid: int, url: str, token: str, paths: list[str], seconds: float) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    clients = subprocess.Popen(
        [sys.executable, "-c", CLIENTS, host, port, token, *paths],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert clients.stdout is not None
        if clients.stdout.readline().strip() != "ready":
            raise SystemExit("the clients did not connect")
        time.sleep(3.0)  # settle: replays done, followers waiting
        c0, t0 = cpu_ticks(pid), time.monotonic()
        time.sleep(seconds)
        c1, t1 = cpu_ticks(pid), time.monotonic()
        alive = clients.poll() is None
    finally:
        clients.kill()
        clients.wait()
    share = (c1 - c0) / TICKS / (t1 - t0)
    return {
        "cpu_seconds": round((c1 - c0) / TICKS, 3),
        "window_s": round(t1 - t0, 1),
        "cpu_percent_of_one_core": round(100 * share, 3),
        "clients_connected_throughout": alive,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-idle-"))
    os.chmod(tmp, 0o700)
    state = tmp / "state"
    runs = [make_swarm(state / "runs", name) for name in SWARMS]
    workdir = tmp / "project"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESWARM_")}
    env.update(CODESWARM_STATE_DIR=str(state), XDG_STATE_HOME=str(tmp / "xdg"))
    beats = subprocess.Popen([sys.executable, "-c", HEARTBEATS, *(str(r.root) for r in runs)])
    result: dict[str, Any] = {
        "benchmark": "serve_idle",
        "swarms": len(SWARMS),
        "agents_per_swarm": AGENTS,
        "heartbeat_every_s": 5.0,
        "seconds": args.seconds,
    }
    try:
        server, url, token = start_serve(workdir, env)
        try:
            paths = [f"/api/swarms/{s}/events" for s in SWARMS] + [
                f"/api/swarms/{SWARMS[0]}/agents/0/events"
            ]
            result["serve"] = measure(server.pid, url, token, paths, args.seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)
        port = free_port()  # the baseline follows the first swarm's outboxes
        base = subprocess.Popen(
            [sys.executable, "-c", BASELINE.replace('f"load_{i}"', f'f"{SWARMS[0]}_{{i}}"'),
             str(runs[0].root), str(AGENTS), str(port)],
            env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not _listening(port):
                if time.monotonic() > deadline:
                    raise SystemExit("the baseline server did not start")
                time.sleep(0.05)
            result["baseline_poll_200ms_one_swarm"] = measure(
                base.pid, f"http://127.0.0.1:{port}", "", ["/events"] * 4, args.seconds
            )
        finally:
            base.terminate()
            base.wait(timeout=30)
    finally:
        beats.kill()
        beats.wait()
    result["target_cpu_percent"] = 0.5
    result["meets_target"] = result["serve"]["cpu_percent_of_one_core"] < 0.5
    emit(result)


if __name__ == "__main__":
    main()
