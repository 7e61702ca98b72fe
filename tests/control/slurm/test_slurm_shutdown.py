"""A ``shutdown`` record stops an agent for good on the Slurm backend: its task ends and is not
restarted, the job keeps running for the others, and ends COMPLETED when the last one stops
(the local backend's twin: tests/control/test_shutdown.py)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

import pytest

import swarmkit
from codeswarm.control.steering import shutdown
from codeswarm.core.swarm import RunDir
from swarmkit import SlurmSwarm

pytestmark = [pytest.mark.codex, pytest.mark.slow]

SCRIPT = {"agents": {"*": [{"when": ".", "text": "still here", "repeat": True}]}}
wait_until = functools.partial(swarmkit.wait_until, timeout=60.0)  # Slurm schedules in seconds


def test_shutdown_ends_one_task_for_good_and_the_last_one_completes_the_job(
    slurm_swarm: Callable[[str], SlurmSwarm],
) -> None:
    s = slurm_swarm("q")
    s.up(2, SCRIPT, "--nodes", "2")
    job = s.job_id()
    output = s.run_dir / "slurm" / f"job-{job}.out"
    run = RunDir(s.run_dir)

    shutdown(run, [s.agent(0)])
    wait_until(
        lambda: f"{s.agent(0)}: worker stopped on request" in output.read_text(),
        what="the task to see the stop",
    )
    kinds = [r["kind"] for r in s.outbox(0)]
    assert "worker.exited" not in kinds and kinds.count("worker.started") == 1
    st = s.status()
    by_id = {a["id"]: a for a in st["agents"]}
    assert by_id[s.agent(0)]["state"] == "stopped"
    assert by_id[s.agent(1)]["state"] == "idle" and st["slurm"]["state"] == "RUNNING"
    out = json.loads(s.cli("send", "q", "1", "hello", "--wait", "--json").stdout)
    assert out[s.agent(1)]["text"] == "still here"

    shutdown(run, [s.agent(1)])
    wait_until(lambda: s.jobs() == [], what="the job to end")
    st = s.status()
    assert st["slurm"]["state"] == "COMPLETED" and not st["supervisor"]["running"]
    assert [a["state"] for a in st["agents"]] == ["stopped", "stopped"]
