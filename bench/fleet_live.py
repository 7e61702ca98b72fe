"""A real local swarm (real Codex, scripted model), measured side by side in one run:

- inject: from `codeswarm send` returning to the worker calling `turn/start` (the worker's
  `turn.starting` record carries CLOCK_MONOTONIC, comparable across processes on one machine).
  Negative means the turn had started before the send command finished exiting.
  Target p50 <= 10 ms. Next to it: the time the `send` command itself takes, and a baseline of
  appending the same record in-process (the floor of the mailbox path).
- idle: a fleet of 4, idle; CPU of every process (supervisor, workers, Codex, model) over a
  window, and each worker's RSS. Targets: worker RSS <= 40 MB; idle fleet < 1% of a core.

    .venv/bin/python bench/fleet_live.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ANSWER_OK, emit, summary

ROOT = Path(__file__).resolve().parent.parent
CS = str(Path(sys.executable).parent / "codeswarm")
SCRIPT = ANSWER_OK
TICKS = os.sysconf("SC_CLK_TCK")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CS, *args], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )


def outbox_records(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def wait_for(pred: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.002)
    raise SystemExit("timed out")


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pids_under(run_dir: Path) -> dict[str, int]:
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "codeswarm.worker" in cmd and str(run_dir) in cmd:
            out[f"worker {cmd.split('--agent ')[-1].split()[0]}"] = int(entry.name)
        elif "codeswarm.control.launch.supervisor" in cmd and str(run_dir) in cmd:
            out["supervisor"] = int(entry.name)
        elif "mock-model" in cmd and str(run_dir) in cmd:
            out["model"] = int(entry.name)
        elif f"={run_dir}" in environ and "app-server" in cmd:
            out[f"codex {entry.name}"] = int(entry.name)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    codex = subprocess.run(
        [CS, "toolchain", "path"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()
    env = {**os.environ, "CODESWARM_STATE_DIR": str(work / "state"), "CODESWARM_CODEX_BIN": codex}
    (work / "repo").mkdir()
    (work / "script.json").write_text(json.dumps(SCRIPT))
    result: dict[str, Any] = {"benchmark": "fleet_live"}
    try:
        cli(env, "up", "-n", "4", "--name", "b", "--cwd", str(work / "repo"), "--model-provider", "mock",
            "--script", str(work / "script.json"))  # fmt: skip
        run_dir = work / "state" / "runs" / "b"
        outbox = run_dir / "mailbox" / "outbox" / "b_0.jsonl"
        inject, send_wall = [], []
        for i in range(args.rounds):
            t0 = time.monotonic_ns()
            out = subprocess.run([CS, "send", "b", "0", f"round {i}", "--json"], env=env,
                                 capture_output=True, text=True, check=True, cwd=ROOT)  # fmt: skip
            returned = time.monotonic_ns()
            send_wall.append((returned - t0) / 1e9)
            rid = json.loads(out.stdout)["b_0"]
            starting = wait_for(lambda rid=rid: next(
                (r for r in outbox_records(outbox) if r["kind"] == "turn.starting" and r["inbox_id"] == rid), None))  # fmt: skip
            # negative: the worker had started the turn before the send command finished exiting
            inject.append((starting["mono_ns"] - returned) / 1e9)
            wait_for(lambda rid=rid: any(
                r["kind"] == "codex" and r["msg"].get("method") == "turn/completed" for r in outbox_records(outbox)[-3:]))  # fmt: skip
        # baseline: the same append, in-process (no process start, no CLI)
        from codeswarm.control.steering import send as do_send
        from codeswarm.core.swarm import RunDir

        os.environ["CODESWARM_STATE_DIR"] = env["CODESWARM_STATE_DIR"]
        base = []
        for i in range(args.rounds):
            t0 = time.perf_counter()
            do_send(RunDir(run_dir), ["b_1"], f"baseline {i}")
            base.append(time.perf_counter() - t0)
        inj = summary(inject)
        result["inject"] = {
            "send_return_to_turn_start": inj,
            "send_command_wall": summary(send_wall),
            "baseline_inprocess_append": summary(base),
            "target_p50_ms": 10.0,
            "meets_target": inj["p50_ms"] <= 10.0,
        }
        # idle fleet
        time.sleep(3.0)  # let the baseline turns finish
        pids = pids_under(run_dir)
        before = {k: cpu_ticks(p) for k, p in pids.items()}
        time.sleep(args.idle_seconds)
        after = {k: cpu_ticks(p) for k, p in pids.items()}
        cpu = {k: round((after[k] - before[k]) / TICKS / args.idle_seconds, 4) for k in pids}
        worker_rss = {k: round(rss_mb(p), 1) for k, p in pids.items() if k.startswith("worker")}
        codeswarm_share = sum(v for k, v in cpu.items() if not k.startswith("codex"))
        result["idle_fleet_of_4"] = {
            "seconds": args.idle_seconds,
            "cpu_share_by_process": cpu,
            "codeswarm_processes_cpu_share": round(codeswarm_share, 4),
            "all_processes_cpu_share": round(sum(cpu.values()), 4),
            "worker_rss_mb": worker_rss,
            "targets": {"worker_rss_mb": 40, "idle_fleet_cpu_share": 0.01},
            "meets_targets": max(worker_rss.values()) <= 40 and codeswarm_share < 0.01,
        }
    finally:
        subprocess.run([CS, "down", "b", "--purge"], env=env, capture_output=True, cwd=ROOT)
    emit(result)


if __name__ == "__main__":
    main()
