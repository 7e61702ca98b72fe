"""Small helpers shared by the benchmarks: percentiles, JSON output, running codeswarm, waiting."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(values: list[float], scale: float = 1000.0) -> dict[str, float]:
    """p50 / p99 / mean of ``values`` (seconds), in milliseconds by default."""
    return {
        "p50_ms": round(pct(values, 50) * scale, 3),
        "p95_ms": round(pct(values, 95) * scale, 3),
        "p99_ms": round(pct(values, 99) * scale, 3),
        "mean_ms": round(statistics.fmean(values) * scale, 3) if values else float("nan"),
        "n": len(values),
    }


def emit(result: dict[str, Any]) -> None:
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


ROOT = Path(__file__).resolve().parent.parent
CS = str(Path(sys.executable).parent / "codeswarm")
"""The codeswarm of this virtualenv."""


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``codeswarm ARGS`` from the checkout, output captured; fails loudly."""
    return subprocess.run(
        [CS, *args], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )


def jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of ``path`` (a torn or bad line skipped; none when it is missing)."""
    out = []
    if path.exists():
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


def wait_for(pred: Any, timeout: float = 60, poll: float = 0.005) -> Any:
    """``pred()`` once it is true (exits the benchmark after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(poll)
    raise SystemExit("timed out")


@dataclass
class BenchSwarm:
    """A swarm a benchmark brought up (:func:`scripted_swarm`)."""

    work: Path
    repo: Path
    env: dict[str, str]
    run_dir: Path
    spec: dict[str, Any]


@contextlib.contextmanager
def scripted_swarm(
    prefix: str,
    script: dict[str, Any],
    n: int,
    *up_args: str,
    result: dict[str, Any],
    keep: bool = False,
    git: bool = False,
    name: str = "b",
) -> Iterator[BenchSwarm]:
    """``up -n N`` of a swarm on the scripted model (``script``) in a fresh state directory and
    repository under a temporary directory; brought down (and everything removed) at the end,
    unless ``keep`` (then ``result["kept"]`` names the directory)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    codex = cli({**os.environ}, "toolchain", "path").stdout.strip()
    env = {**os.environ, "CODESWARM_STATE_DIR": str(work / "state"), "CODESWARM_CODEX_BIN": codex}
    repo = work / "repo"
    repo.mkdir()
    if git:
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (work / "script.json").write_text(json.dumps(script))
    try:
        cli(env, "up", "-n", str(n), "--name", name, "--cwd", str(repo), "--model-provider",
            "mock", "--script", str(work / "script.json"), *up_args)  # fmt: skip
        run_dir = work / "state" / "runs" / name
        spec = json.loads((run_dir / "swarm.json").read_text())
        yield BenchSwarm(work, repo, env, run_dir, spec)
    finally:
        purge = [] if keep else ["--purge"]
        subprocess.run([CS, "down", name, *purge], env=env, capture_output=True, cwd=ROOT)
        if keep:
            result["kept"] = str(work)
        else:
            shutil.rmtree(work, ignore_errors=True)


GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}
"""git for the benchmarks: nothing from the machine's configuration."""


def git(cwd: Path, *args: str) -> str:
    """``git -C CWD ARGS`` (isolated: :data:`GIT_ENV`), its output stripped; fails loudly."""
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                          check=True, env={**os.environ, **GIT_ENV})  # fmt: skip
    return done.stdout.strip()


ANSWER_OK: dict[str, object] = {
    "agents": {
        "*": [
            {
                "when": ".",
                "repeat": True,
                "text": "ok",
                "usage": {"input_tokens": 10, "output_tokens": 1},
            }
        ]
    }
}
"""A scripted model that answers every message of every agent "ok" (10 tokens in, 1 out)."""
