"""A worktree swarm as a Slurm job: the worktrees are made at `up` on the submitting host, in the
run directory (the shared filesystem), and every agent on its node works in its own."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from swarmkit import SlurmSwarm

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "worktrees"))
from worktree_repo import GIT_ENV, git, make_repo

pytestmark = [pytest.mark.codex, pytest.mark.slow]


def test_worktree_agents_on_two_nodes(slurm_swarm: Callable[[str], SlurmSwarm]) -> None:
    s = slurm_swarm("w")
    s.env.update(GIT_ENV)
    commits = make_repo(s.workdir)
    patch = "*** Begin Patch\n*** Update File: src/b.py\n@@\n-b = 1\n+b = 2\n*** End Patch\n"
    script = {"agents": {"*": [{"when": "edit b", "patch": patch}, {"text": "b edited"}]}}
    s.up(2, script, "--nodes", "2", "--approval-policy", "never", "--sandbox",
         "workspace-write", "--isolation", "worktree")  # fmt: skip
    out = json.loads(s.cli("send", "w", "1", "edit b", "--wait", "--json").stdout)
    assert out["w_1"]["text"] == "b edited"
    w0, w1 = (s.run_dir / "worktrees" / a for a in ("w_0", "w_1"))
    assert (w1 / "src" / "b.py").read_text() == "b = 2\n"
    assert (w0 / "src" / "b.py").read_text() == "b = 1\n"
    assert (s.workdir / "src" / "b.py").read_text() == "b = 1\n"
    assert git(w0, "rev-parse", "HEAD") == commits["main"]
    doc = json.loads(s.cli("worktrees", "w", "--json").stdout)
    assert all(row["in_use"] for row in doc["worktrees"])  # the job runs: every one is in use
    s.cli("down", "w")
    refused = s.cli("down", "w", "--purge", check=False)
    assert refused.returncode == 2 and str(w1) in refused.stderr and "src/b.py" in refused.stderr
    s.cli("down", "w", "--purge", "--force")
    assert not s.run_dir.exists()
    assert git(s.workdir, "worktree", "list", "--porcelain").count("worktree ") == 1
