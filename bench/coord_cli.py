"""``codeswarm coord`` through a real process, interpreter start included, side by side with
``python -c pass`` of the same interpreter in the same run (interleaved rounds).

Cases: ``lease`` + ``release`` (two processes, counted per command), and ``check`` (read-only,
what a hook runs), each with the environment a worker gives its hooks (``CODESWARM_DB``,
``CODESWARM_SCOPE``, ``CODESWARM_AGENT_ID``), and ``check`` without it (the store found from the
working directory: project root, state dir, config files). "warm": another process keeps the
database open, as every live agent's MCP server does; "cold": nothing else has it open, so every
command also creates and checkpoints the WAL.

Target (issue "Coordination"): p50 <= 2x ``python -c pass``.

    .venv/bin/python bench/coord_cli.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, pct

VENV_BIN = Path(sys.executable).parent
CODESWARM = str(VENV_BIN / "codeswarm")
PYTHON = str(VENV_BIN / "python")


def run(argv: list[str], env: dict[str, str], cwd: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CODESWARM_")}
    with tempfile.TemporaryDirectory() as tmp:
        project = os.path.join(tmp, "proj")
        os.makedirs(os.path.join(project, ".git"))
        base_env["XDG_STATE_HOME"] = os.path.join(tmp, "xdg-state")
        # the store codeswarm finds by itself for this project (check_discovered)
        db = subprocess.run(
            [PYTHON, "-c", "from codeswarm.core.paths import state_dir as s; print(s() / 'coord.db')"],
            env=base_env, cwd=project, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        os.makedirs(os.path.dirname(db), mode=0o700, exist_ok=True)
        hook_env = {**base_env, "CODESWARM_DB": db, "CODESWARM_SCOPE": project,
                    "CODESWARM_AGENT_ID": "bench"}  # fmt: skip
        subprocess.run([CODESWARM, "coord", "register", "bench"], env=hook_env, cwd=project,
                       stdout=subprocess.DEVNULL, check=True)  # fmt: skip
        cases = {
            "python_c_pass": ([PYTHON, "-c", "pass"], base_env),
            "lease": ([CODESWARM, "coord", "lease", "src/app.py"], hook_env),
            "release": ([CODESWARM, "coord", "release", "src/app.py"], hook_env),
            "check": ([CODESWARM, "coord", "check", "src/app.py"], hook_env),
            "check_discovered": (
                [CODESWARM, "coord", "--as", "bench", "check", "src/app.py"],
                base_env,
            ),
        }
        results: dict[str, dict[str, object]] = {}
        for mode in ("warm", "cold"):
            holder = None
            if mode == "warm":  # a long-lived connection, like a running agent's MCP server
                holder = subprocess.Popen(
                    [PYTHON, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                     "c.execute('SELECT 1 FROM agents').fetchall(); sys.stdin.read()", db],
                    stdin=subprocess.PIPE,
                )  # fmt: skip
            samples: dict[str, list[float]] = {k: [] for k in cases}
            try:
                for _ in range(args.rounds):
                    for name, (argv, env) in cases.items():
                        samples[name].append(run(argv, env, project))
            finally:
                if holder is not None:
                    assert holder.stdin is not None
                    holder.stdin.close()
                    holder.wait()
            floor = statistics.median(samples["python_c_pass"])
            results[mode] = {
                name: {
                    "p50_ms": round(pct(xs, 50) * 1000, 2),
                    "p99_ms": round(pct(xs, 99) * 1000, 2),
                    "ratio_p50_to_python": round(statistics.median(xs) / floor, 2),
                }
                for name, xs in samples.items()
            }
    emit({"benchmark": "coord_cli", "rounds": args.rounds, "results": results,
          "target": {"ratio_p50_to_python": "<= 2"}, "loadavg": os.getloadavg(),
          "bytecode_cache": not sys.dont_write_bytecode})  # fmt: skip


if __name__ == "__main__":
    main()
