"""The merge queue (issue 14): 8 submissions, a check that takes T seconds, one of them bad.
The queue process (``python -m codeswarm.control.merge.runner``, as the supervisor runs it)
takes them as one batch and bisects it; next to it, in the same run, the same 8 merged one by
one (each submitted when the previous one has ended: 8 check runs). Prints JSON: wall seconds,
in units of T, and check runs, per position of the bad submission.

    .venv/bin/python bench/merge_queue.py [--check-seconds 2] [--submissions 8] [--bad 0,3,7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import GIT_ENV, emit, git, wait_for
from codeswarm.control.merge import journal
from codeswarm.control.merge.submit import submit
from codeswarm.core.swarm import RunDir, SwarmSpec


def setup(work: Path, n: int, check: str) -> tuple[Path, RunDir, SwarmSpec]:
    """A repository (a.txt, 4 lines per agent) and swarm ``b``'s run directory (no workers) whose
    agents have worktrees on their branches."""
    repo = work / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("".join(f"line {i}\n" for i in range(4 * n)))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    state = work / "state"
    state.mkdir(mode=0o700)
    run = RunDir(state / "runs" / "b")
    run.root.mkdir(parents=True, mode=0o700)
    spec = SwarmSpec(name="b", size=n, cwd=str(repo), codex_bin="/bin/false", coord=False,
                     isolation="worktree", base_commit=base, into="main", check=check)  # fmt: skip
    run.spec_path.write_bytes(msgspec.json.encode(spec))
    for agent in run.agents(spec):
        git(repo, "worktree", "add", "-q", "-b", f"codeswarm/b/{agent}", str(run.worktree(agent)),
            base)  # fmt: skip
    return repo, run, spec


def change(run: RunDir, agent: str, i: int, bad: bool) -> None:
    path = run.worktree(agent) / "a.txt"
    lines = path.read_text().splitlines(keepends=True)
    lines[4 * i + 1] = f"{agent} {'BAD' if bad else 'ok'}\n"
    path.write_text("".join(lines))


def start_runner(run: RunDir) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "codeswarm.control.merge.runner", "--run-dir", str(run.root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, **GIT_ENV},
    )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)


def ended(run: RunDir) -> int:
    return sum(1 for s in journal.state(run).submissions.values() if s.ended)


def batched(n: int, t: float, bad: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="cs-merge-bench-"))
    try:
        repo, run, spec = setup(work, n, f"sleep {t}; ! grep -q BAD a.txt")
        for i, agent in enumerate(run.agents(spec)):
            change(run, agent, i, i == bad)
            submit(run, spec, agent, f"change {i}")
        began = time.monotonic()
        proc = start_runner(run)
        try:
            wait_for(lambda: ended(run) == n, timeout=60 * t * n + 60, poll=0.02)
            wall = time.monotonic() - began
        finally:
            stop(proc)
        st = journal.state(run)
        merged = sum(1 for s in st.submissions.values() if s.state == "merged")
        assert merged == n - 1 and "BAD" not in git(repo, "show", "main:a.txt")
        return {"bad": bad, "wall_s": round(wall, 3), "in_T": round(wall / t, 2),
                "check_runs": st.checks, "merged": merged}  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


def one_by_one(n: int, t: float, bad: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="cs-merge-bench-"))
    try:
        _repo, run, spec = setup(work, n, f"sleep {t}; ! grep -q BAD a.txt")
        proc = start_runner(run)
        try:
            wait_for(lambda: (run.merge_dir / "runner.pid").exists(), poll=0.02)
            began = time.monotonic()
            for i, agent in enumerate(run.agents(spec)):
                change(run, agent, i, i == bad)
                submit(run, spec, agent, f"change {i}")
                wait_for(lambda i=i: ended(run) == i + 1, timeout=60 * t + 60, poll=0.02)
            wall = time.monotonic() - began
        finally:
            stop(proc)
        st = journal.state(run)
        return {"bad": bad, "wall_s": round(wall, 3), "in_T": round(wall / t, 2),
                "check_runs": st.checks}  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check-seconds", type=float, default=2.0)
    p.add_argument("--submissions", type=int, default=8)
    p.add_argument("--bad", default="0,3,7", help="positions of the bad one (one run each)")
    args = p.parse_args()
    os.environ.update(GIT_ENV)
    n, t = args.submissions, args.check_seconds
    positions = [int(x) for x in args.bad.split(",")]
    queue = [batched(n, t, bad) for bad in positions]
    serial = one_by_one(n, t, positions[len(positions) // 2])
    worst = max(float(r["in_T"]) for r in queue)  # type: ignore[arg-type]
    emit({
        "submissions": n, "check_seconds": t, "jobs": os.environ.get("CODESWARM_MERGE_JOBS", "2"),
        "queue": queue, "one_by_one": serial, "one_by_one_theory_in_T": n,
        "worst_queue_in_T": worst, "target_in_T": 4, "meets_target": worst <= 4,
    })  # fmt: skip


if __name__ == "__main__":
    main()
