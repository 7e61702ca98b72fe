"""Relay over ssh next to local following, side by side in one run.

A throwaway sshd on 127.0.0.1 (tests/sshd_local.py; installed with apt if missing) serves
the far end. The same kind of writer process (random gaps of 1-20 ms, each record carrying
``time.monotonic_ns()``; one host, so the clock is shared) feeds, in turn:

* ``LocalTransport.follow`` (inotify): what a router on the cluster sees;
* ``SshTransport.follow`` with the far end on inotify: the ssh hop alone;
* ``SshTransport.follow`` with the far end polling every 50 ms: the case of a run directory on a
  network filesystem written from compute nodes.

Then the other direction: ``append`` round trips (a CLI ``send``) locally and over ssh; a backlog
replayed through each (a router catching up after a reconnect); and what a connection costs
(ssh handshake plus the remote interpreter's start), against a bare ``ssh true``.

    .venv/bin/python bench/ssh_relay.py [--n 300] [--appends 300] [--backlog 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT / "tests")]
import sshd_local  # noqa: E402
from _common import emit, summary  # noqa: E402
from codeswarm.mailbox import Layout, LocalTransport, Transport, Writer  # noqa: E402
from codeswarm.mailbox.ssh import SshTransport  # noqa: E402

# argv: path, n, seed. Gaps uniform in [1, 20] ms.
WRITER = r"""
import random, sys, time
from pathlib import Path
from codeswarm.mailbox import Writer
path, n, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
delta = {"method": "item/agentMessage/delta", "params": {"threadId": "th", "turnId": "tu", "itemId": "it", "delta": "tok"}}
with Writer.open(path) as w:
    time.sleep(0.3)  # let the follower settle
    for i in range(n):
        time.sleep(rng.uniform(0.001, 0.020))
        w.append("codex", t=time.monotonic_ns(), i=i, msg=delta)
"""

DELTA = {
    "method": "item/agentMessage/delta",
    "params": {"threadId": "th", "turnId": "tu", "itemId": "msg_0123456789", "delta": " token"},
}


def spawn_writer(path: Path, n: int, seed: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(n), str(seed)], env=env)


async def relay(t: Transport, layout: Layout, agent: str, n: int, seed: int) -> dict[str, Any]:
    stream = t.follow("outbox", agent)
    proc = spawn_writer(layout.outbox(agent), n, seed)
    lat: list[float] = []
    async for d in stream:
        lat.append((time.monotonic_ns() - d.record["t"]) / 1e9)
        if len(lat) == n:
            break
    await stream.aclose()
    proc.wait()
    return summary(lat)


async def round_trips(t: Transport, n: int) -> dict[str, Any]:
    lat: list[float] = []
    for i in range(n):
        t0 = time.perf_counter()
        await t.append("inbox", "rt_0", {"kind": "prompt", "i": i, "text": "add a test"})
        lat.append(time.perf_counter() - t0)
    return summary(lat)


async def replay(t: Transport, agent: str, n: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    got = 0
    stream = t.follow("outbox", agent)
    async for _d in stream:
        got += 1
        if got == n:
            break
    secs = time.perf_counter() - t0
    await stream.aclose()
    return {"records": n, "records_per_s": round(n / secs), "seconds": round(secs, 3)}


async def connect_cost(sshd: sshd_local.Sshd, make: Any, rounds: int) -> dict[str, Any]:
    ours: list[float] = []
    for _ in range(rounds):
        t = make()
        t0 = time.perf_counter()
        await t.connect()
        ours.append(time.perf_counter() - t0)
        await t.aclose()
    bare: list[float] = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await asyncio.to_thread(subprocess.run, [*sshd.ssh_argv(), "true"], check=True)
        bare.append(time.perf_counter() - t0)
    return {"ssh_transport_connect": summary(ours), "baseline_ssh_true": summary(bare)}


def ratio(a: dict[str, Any], b: dict[str, Any], key: str) -> float:
    return round(a[key] / b[key], 1) if b[key] else float("nan")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300, help="records per relay run")
    ap.add_argument("--appends", type=int, default=300, help="append round trips per transport")
    ap.add_argument("--backlog", type=int, default=100_000, help="records in the replay")
    ap.add_argument("--connects", type=int, default=10)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="ssh-bench-") as tmp:
        root = Path(tmp)
        sshd = sshd_local.Sshd.start(root / "sshd")
        try:
            run = root / "run"
            layout = Layout(run).create()

            def make(**kw: Any) -> SshTransport:
                return SshTransport(sshd.url(run), python=sys.executable, **sshd.options(), **kw)

            local = LocalTransport(layout, mode="inotify")
            ssh = make(mode="inotify")
            ssh_poll = make(mode="poll", poll_interval=0.05)
            await ssh.connect()
            await ssh_poll.connect()
            relay_lat = {
                "local_inotify": await relay(local, layout, "l_0", args.n, 1),
                "ssh_remote_inotify": await relay(ssh, layout, "s_0", args.n, 1),
                "ssh_remote_poll_50ms": await relay(ssh_poll, layout, "p_0", args.n, 1),
            }
            appends = {
                "local": await round_trips(local, args.appends),
                "ssh": await round_trips(ssh, args.appends),
            }
            with Writer.open(layout.outbox("big_0"), rotate_bytes=None) as w:
                for i in range(args.backlog):
                    w.append("codex", i=i, msg=DELTA)
            backlog = {
                "local": await replay(local, "big_0", args.backlog),
                "ssh": await replay(ssh, "big_0", args.backlog),
            }
            for t in (local, ssh, ssh_poll):
                await t.aclose()
            connects = await connect_cost(sshd, make, args.connects)
        finally:
            sshd.stop()
    emit(
        {
            "benchmark": "ssh_relay",
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "relay_latency": relay_lat,
            "append_round_trip": appends,
            "replay": backlog,
            "connect": connects,
            "ratios": {
                "relay_p50_ssh_vs_local": ratio(
                    relay_lat["ssh_remote_inotify"], relay_lat["local_inotify"], "p50_ms"
                ),
                "relay_p99_ssh_vs_local": ratio(
                    relay_lat["ssh_remote_inotify"], relay_lat["local_inotify"], "p99_ms"
                ),
                "append_p50_ssh_vs_local": ratio(appends["ssh"], appends["local"], "p50_ms"),
                "replay_local_vs_ssh": round(
                    backlog["local"]["records_per_s"] / backlog["ssh"]["records_per_s"], 1
                ),
            },
        }
    )


if __name__ == "__main__":
    asyncio.run(main())
