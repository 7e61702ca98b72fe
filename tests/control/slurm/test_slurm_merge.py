"""The merge queue of a worktree swarm on Slurm: the batch step runs the queue process (no
supervisor on the login node), and a submission is merged into the project's branch."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from codeswarm.control.launch.slurm_jobs import render_script
from codeswarm.core.swarm import SwarmSpec
from swarmkit import SlurmSwarm, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "worktrees"))
from worktree_repo import GIT_ENV, git, make_repo


def test_the_batch_step_runs_the_queue_only_for_worktrees(tmp_path: Path) -> None:
    base = {"name": "w", "size": 1, "cwd": str(tmp_path), "codex_bin": "/c", "coord": False,
            "backend": "slurm"}  # fmt: skip
    shared = render_script(SwarmSpec(**base), tmp_path, python="/p", env={})  # type: ignore[arg-type]
    assert "codeswarm.control.merge.runner" not in shared
    spec = SwarmSpec(**base, isolation="worktree", into="main")  # type: ignore[arg-type]
    text = render_script(spec, tmp_path, python="/p", env={})
    assert '-m codeswarm.control.merge.runner --run-dir "$RUN_DIR"' in text
    assert text.index("merge.runner") < text.index("srun ")  # before the workers
    assert 'pkill -TERM -P "$merge"' in text  # stopped with the job


@pytest.mark.codex
@pytest.mark.slow
def test_a_submission_merged_by_the_job(slurm_swarm: Callable[[str], SlurmSwarm]) -> None:
    s = slurm_swarm("m")
    s.env.update(GIT_ENV)
    make_repo(s.workdir)
    patch = "*** Begin Patch\n*** Update File: src/b.py\n@@\n-b = 1\n+b = 2\n*** End Patch\n"
    script = {"agents": {"*": [{"when": "edit b", "patch": patch}, {"text": "b edited"}]}}
    s.up(1, script, "--approval-policy", "never", "--sandbox", "workspace-write",
         "--isolation", "worktree", "--check", "grep -q 'b = 2' src/b.py")  # fmt: skip
    out = json.loads(s.cli("send", "m", "0", "edit b", "--wait", "--json").stdout)
    assert out["m_0"]["text"] == "b edited"
    done = json.loads(s.cli("merge", "submit", "m", "0", "--summary", "b is 2", "--json").stdout)

    def merged() -> bool:
        doc = json.loads(s.cli("merge", "status", "m", "--json").stdout)
        return any(x["id"] == done["queued"] and x["state"] == "merged"
                   for x in doc["submissions"])  # fmt: skip

    wait_until(merged, 120, "the job's queue process to merge it")
    assert git(s.workdir, "show", "main:src/b.py") == "b = 2"
    assert (s.workdir / "src" / "b.py").read_text() == "b = 2\n"  # the clean tree followed
    assert json.loads(s.cli("merge", "status", "m", "--json").stdout)["runner"]
