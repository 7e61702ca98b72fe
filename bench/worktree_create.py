"""Creating worktrees for 10 agents on a repository of 10,000 files (issue 14): codeswarm's
``prepare`` (what ``up --isolation worktree`` runs: the base resolved, a worktree and branch per
agent, ``.worktreeinclude`` files copied) next to plain ``git worktree add`` 10 times, in the same run,
rounds alternating; and the disk each uses. Prints JSON.

    .venv/bin/python bench/worktree_create.py [--files 10000] [--agents 10] [--rounds 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import GIT_ENV, emit, git


def make_repo(root: Path, files: int) -> None:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    per_dir = 100
    for i in range(files):
        d = root / "src" / f"d{i // per_dir:03d}"
        if i % per_dir == 0:
            d.mkdir(parents=True)
        (d / f"f{i:05d}.py").write_text(f"# file {i}\nVALUE = {i}\n" + "x = 1\n" * 20)
    (root / ".gitignore").write_text(".env\n")
    (root / ".worktreeinclude").write_text(".env\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "10k files")
    (root / ".env").write_text("TOKEN=local\n")


def disk(path: Path) -> int:
    """Bytes allocated under ``path`` (st_blocks; hard links once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for base, _dirs, names in os.walk(path):
        for name in [*names, *_dirs]:
            st = os.lstat(os.path.join(base, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def plain(repo: Path, where: Path, agents: int) -> float:
    where.mkdir()
    t0 = time.perf_counter()
    for i in range(agents):
        git(repo, "worktree", "add", "--quiet", "-b", f"plain/{where.name}/{i}",
            str(where / f"a{i}"), "HEAD")  # fmt: skip
    return time.perf_counter() - t0


def ours(repo: Path, state: Path, name: str, agents: int) -> tuple[float, Path]:
    from codeswarm.control.worktrees.create import prepare
    from codeswarm.core.swarm import RunDir, SwarmSpec

    spec = SwarmSpec(name=name, size=agents, cwd=str(repo), codex_bin="codex",
                     isolation="worktree")  # fmt: skip
    run = RunDir(state / "runs" / name)
    t0 = time.perf_counter()
    prepare(spec, run)
    elapsed = time.perf_counter() - t0
    assert all((run.worktree(a) / ".env").exists() for a in run.agents(spec))
    return elapsed, run.root / "worktrees"


def clean(repo: Path, where: Path) -> None:
    shutil.rmtree(where, ignore_errors=True)
    git(repo, "worktree", "prune")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1, help="rounds run first and not counted")
    opts = ap.parse_args()
    os.environ.update(GIT_ENV)
    with tempfile.TemporaryDirectory(prefix="cs-bench-wt-") as tmp:
        base = Path(tmp)
        repo = base / "repo"
        make_repo(repo, opts.files)
        times: dict[str, list[float]] = {"plain": [], "codeswarm": []}
        sizes: dict[str, int] = {}
        for r in range(-opts.warmup, opts.rounds):  # the warm-up rounds (r < 0) not counted
            order = ("plain", "codeswarm") if r % 2 == 0 else ("codeswarm", "plain")
            for kind in order:
                os.sync()  # the previous round's writeback is not charged to this one
                if kind == "plain":
                    where = base / f"plain{r + opts.warmup}"
                    elapsed = plain(repo, where, opts.agents)
                else:
                    name = f"b{r + opts.warmup}"
                    elapsed, where = ours(repo, base / f"state-{name}", name, opts.agents)
                if r >= 0:
                    times[kind].append(elapsed)
                sizes[kind] = disk(where)
                clean(repo, where)
                os.sync()
        git_meta = disk(repo / ".git")
        med = {k: statistics.median(v) for k, v in times.items()}
        emit({
            "files": opts.files, "agents": opts.agents, "rounds": opts.rounds,
            "warmup_rounds": opts.warmup,
            "plain_git_worktree_add_s": {"median": round(med["plain"], 3),
                                         "all": [round(t, 3) for t in times["plain"]]},
            "codeswarm_prepare_s": {"median": round(med["codeswarm"], 3),
                                    "all": [round(t, 3) for t in times["codeswarm"]]},
            "ratio": round(med["codeswarm"] / med["plain"], 3),
            # each round's two runs back to back: less of the machine's noise between them
            "paired_ratios": [round(c / p, 3) for c, p in zip(times["codeswarm"], times["plain"],
                                                               strict=True)],
            "target_ratio": 1.2,
            "per_agent_ms": round(med["codeswarm"] / opts.agents * 1000, 1),
            "disk_bytes": {"project_checkout": disk(repo) - git_meta, "project_git": git_meta,
                           "plain_worktrees": sizes["plain"],
                           "codeswarm_worktrees": sizes["codeswarm"]},
        })  # fmt: skip


if __name__ == "__main__":
    main()
