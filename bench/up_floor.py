"""What N bare Codex agents take to start when a few Python processes start beside them: the
floor any launcher made of Python processes has on this machine's cores (issue 15: "`up -n 4`
within 30 % of bare Codex").

Each round, alternating:

- ``bare``: `bench/up_scale.py`'s baseline: N ``codex app-server`` processes started in parallel
  by one stdlib-only driver, each doing ``initialize`` + ``thread/start`` against a scripted
  model that runs already; timed to the driver's ``READY`` line.
- ``with_K``: the same, with K other Python interpreters of this virtualenv started at the same
  instant, each importing only ``asyncio``, ``json`` and ``logging`` and ending: the least a
  Python supervisor, hub or command that follows files and sockets imports. codeswarm's `up`
  runs four such processes (the command, the supervisor, the hub, the zygote; the workers are
  forked), each importing more than that.

Printed: the median seconds of each, its ratio to ``bare`` in the same run, and the CPU seconds
one such interpreter takes alone (``interpreter_cpu_s``).

    .venv/bin/python bench/up_floor.py [--agents 4] [--rounds 8] [--extra 0,2,4,6]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit
from up_scale import BARE, CS, ROOT, SCRIPT, home_env, serve_model

LEAST = "import asyncio, json, logging"
"""What each extra interpreter imports."""


def interpreter_cpu(rounds: int = 5) -> float:
    """Median CPU seconds of one extra interpreter, alone."""
    cpu = []
    for _ in range(rounds):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", LEAST], check=True)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime))
    return statistics.median(cpu)


def main() -> None:
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # caches written, as in an installation
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--extra", default="0,2,4,6", help="numbers of extra interpreters")
    args = ap.parse_args()
    extras = sorted({int(k) for k in args.extra.split(",") if k.strip()} | {0})
    codex = subprocess.run(
        [CS, "toolchain", "path"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="bench-upfloor-"))
    (work / "ws").mkdir()
    (work / "script.json").write_text(json.dumps(SCRIPT))
    (work / "bare.py").write_text(BARE)
    env = {**os.environ, **home_env(work)}
    model, port = serve_model(work / "script.json")
    times: dict[int, list[float]] = {k: [] for k in extras}

    def one(k: int) -> float:
        homes = work / f"homes-{time.monotonic_ns()}"
        t0 = time.monotonic()
        extra = [subprocess.Popen([sys.executable, "-c", LEAST]) for _ in range(k)]
        driver = subprocess.Popen(
            [sys.executable, str(work / "bare.py"), codex, str(work / "ws"), str(port),
             str(args.agents), str(homes)],
            stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert driver.stdout is not None
        ready = driver.stdout.readline()
        wall = time.monotonic() - t0
        driver.stdout.read()
        assert driver.wait() == 0 and ready.startswith("READY"), ready
        for proc in extra:
            proc.wait()
        shutil.rmtree(homes, ignore_errors=True)
        return wall

    try:
        for k in extras:  # warm-up: caches, the model's first answers
            one(k)
        for r in range(args.rounds):
            for k in extras if r % 2 == 0 else extras[::-1]:
                times[k].append(one(k))
                time.sleep(0.3)
        cpu = interpreter_cpu()
    finally:
        model.terminate()
        model.wait()
        shutil.rmtree(work, ignore_errors=True)
    bare = statistics.median(times[0])
    emit({
        "benchmark": "up_floor", "agents": args.agents, "rounds": args.rounds,
        "extra_imports": LEAST, "interpreter_cpu_s": round(cpu, 3),
        "bare_s": round(bare, 3),
        **{f"with_{k}": {"median_s": round(statistics.median(v), 3),
                         "over_bare": round(statistics.median(v) / bare, 3)}
           for k, v in times.items() if k},
    })  # fmt: skip


if __name__ == "__main__":
    main()
