"""Time from `codeswarm up` to every agent ready: the Slurm backend (a real three-node cluster on
this machine, started if it is not running) side by side with the local backend, same machine,
same run, same script. Real Codex against the scripted model; a fresh swarm every round.

For each size and backend: the whole `up` command (wall), and, from the outboxes' timestamps,
when the first worker started (queueing + launch: sbatch, scheduling, srun; or the supervisor)
and when the last agent was ready. Also `down` (graceful stop until nothing is left). Slurm runs
with `--nodes 3` (9 agents: 3 per node, `--overcommit`, since a node here has 2 CPUs).

    .venv/bin/python bench/slurm_up.py [--rounds 3] [--sizes 3,9]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CS = [sys.executable, "-m", "codeswarm"]
SCRIPT = {"agents": {"*": [{"when": ".", "repeat": True, "text": "ok"}]}}


def _cluster() -> Any:
    path = ROOT / "tests" / "control" / "slurm" / "slurm_cluster.py"
    spec = importlib.util.spec_from_file_location("slurm_cluster", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*CS, *args], env=env, capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    if proc.returncode != 0:
        raise SystemExit(f"codeswarm {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def first_ts(outbox: Path, kind: str, last: bool = False) -> int | None:
    found = None
    for line in outbox.read_text().splitlines():
        with contextlib.suppress(ValueError):
            rec = json.loads(line)
            if rec.get("kind") == kind:
                if not last:
                    return int(rec["ts"])
                found = int(rec["ts"])
    return found


def one_up(env: dict[str, str], work: Path, name: str, n: int, backend: str) -> dict[str, float]:
    args = [
        "up", "-n", str(n), "--name", name, "--cwd", str(work / "repo"),
        "--model-provider", "mock", "--script", str(work / "script.json"), "--json",
        "--timeout", "300",
    ]  # fmt: skip
    if backend == "slurm":
        args += ["--backend", "slurm", "--nodes", "3"]
        if n > 6:
            args.append("--sbatch-arg=--overcommit")
    t0_ms = time.time() * 1000
    t0 = time.monotonic()
    try:
        cli(env, *args)
    except SystemExit:
        subprocess.run([*CS, "down", name], env=env, capture_output=True, cwd=ROOT, check=False)
        raise
    up_s = time.monotonic() - t0
    outboxes = [work / "state" / "runs" / name / "mailbox" / "outbox" / f"{name}_{r}.jsonl"
                for r in range(n)]  # fmt: skip
    started = [first_ts(p, "worker.started") for p in outboxes]
    ready = [first_ts(p, "agent.ready") for p in outboxes]
    t1 = time.monotonic()
    cli(env, "down", name)
    down_s = time.monotonic() - t1
    return {
        "up_s": up_s,
        "first_worker_s": (min(s for s in started if s) - t0_ms) / 1000,
        "last_ready_s": (max(r for r in ready if r) - t0_ms) / 1000,
        "down_s": down_s,
    }


def med(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in rows), 2) for k in rows[0]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--sizes", default="3,9")
    args = p.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    cluster = _cluster()
    started = cluster.start()
    codex = subprocess.run(
        [*CS, "toolchain", "path"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.strip()
    try:
        with tempfile.TemporaryDirectory(prefix="cs-bench-slurm-") as tmp:
            work = Path(tmp)
            (work / "repo").mkdir()
            (work / "script.json").write_text(json.dumps(SCRIPT))
            env = {
                **os.environ,
                "CODESWARM_STATE_DIR": str(work / "state"),
                "CODESWARM_CODEX_BIN": codex,
                "CODEX_HOME": str(work / "codex-home"),
            }
            results: dict[str, Any] = {}
            for n in sizes:
                rows: dict[str, list[dict[str, float]]] = {"local": [], "slurm": []}
                failures: list[str] = []
                for i in range(args.rounds):
                    for backend in ("local", "slurm"):  # interleaved: same machine load
                        for attempt in range(3):  # other work on this machine can break a round
                            name = f"{backend}{n}r{i}a{attempt}"
                            try:
                                rows[backend].append(one_up(env, work, name, n, backend))
                                break
                            except SystemExit as exc:
                                failures.append(str(exc)[-300:])
                local, slurm = med(rows["local"]), med(rows["slurm"])
                results[str(n)] = {
                    "local": local,
                    "slurm": slurm,
                    "slurm_over_local_up": round(slurm["up_s"] / local["up_s"], 2),
                    "rounds": {k: v for k, v in rows.items()},
                    "failed_attempts": failures,
                }
    finally:
        cluster.stop(started)
    json.dump(
        {"cpus": os.cpu_count(), "nodes": 3, "median_of": args.rounds, "results": results},
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
