"""``codeswarm run --backend slurm``: the orchestrator and its workers are the tasks of one
Slurm job; the run ends when the orchestrator finishes, and the job is gone when it returns."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from swarmkit import SlurmSwarm

pytestmark = [pytest.mark.codex, pytest.mark.slow]


def test_a_run_on_slurm_finishes_and_leaves_no_job(
    slurm_swarm: Callable[[str], SlurmSwarm],
) -> None:
    swarm = slurm_swarm("sr")
    # its own project (a .git a parent directory may hold, or get, does not decide the scope)
    subprocess.run(["git", "init", "-q", str(swarm.workdir)], check=True)
    usage = {"input_tokens": 70, "output_tokens": 7}
    script = swarm.write_script(
        {
            "agents": {
                "0": [
                    {"tool": "codeswarm/finish", "arguments": {"summary": "done"}, "usage": usage},
                    {"text": "Finished.", "usage": usage},
                ],
                "*": [],
            }
        }
    )
    summary_path = swarm.state.parent / "sr-summary.json"
    done = subprocess.run(
        [sys.executable, "-P", "-m", "codeswarm", "run", "the goal", "-n", "2", "--name", "sr",
         "--cwd", str(swarm.workdir), "--backend", "slurm", "--partition", "debug",
         "--model-provider", "mock",
         "--script", str(script), "--summary-json", str(summary_path)],
        capture_output=True, text=True, env=swarm.env, cwd=swarm.workdir, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(summary_path.read_text())
    assert summary["outcome"] == "finished" and summary["orchestrator_summary"] == "done"
    assert summary["tokens"]["agents"]["sr_0"]["counted"] == 2 * (70 + 7)
    assert summary["tokens"]["total"]["counted"] == 2 * (70 + 7)
    assert swarm.jobs() == []  # the job ended with the run
    assert swarm.processes() == []
