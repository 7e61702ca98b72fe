"""Swarms as real Slurm jobs: three nodes on this machine, real workers and Codex, the scripted
model in the batch step."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
from collections.abc import Callable

import pytest

import swarmkit
from swarmkit import SlurmSwarm

pytestmark = [pytest.mark.codex, pytest.mark.slow]

THREE = {
    "agents": {
        "0": [{"text": "zero here", "usage": {"input_tokens": 100, "output_tokens": 10}}],
        "1": [{"text": "one here", "usage": {"input_tokens": 200, "output_tokens": 20}}],
        "2": [{"text": "two here", "usage": {"input_tokens": 300, "output_tokens": 30}}],
    }
}
SLOW = {
    "agents": {
        "*": [
            {"when": "(?i)slow", "delay": 120, "text": "never finished"},
            {"when": "(?i)again", "text": "back again", "repeat": True},
        ]
    }
}
Factory = Callable[[str], SlurmSwarm]
wait_until = functools.partial(swarmkit.wait_until, timeout=60.0)  # Slurm schedules in seconds


def test_three_agents_on_three_nodes_answer_and_down_leaves_nothing(slurm_swarm: Factory) -> None:
    s = slurm_swarm("t")
    fleet = s.up(3, THREE, "--nodes", "3")
    assert [a["id"] for a in fleet["agents"]] == ["t_0", "t_1", "t_2"]
    assert all(a["state"] == "idle" for a in fleet["agents"])
    job = fleet["slurm"]["job_id"]
    assert job == s.job_id() and fleet["slurm"]["state"] == "RUNNING"
    assert s.jobs() == [{"job": job, "state": "RUNNING", "reason": "node[1-3]"}]

    out = json.loads(s.cli("send", "t", "all", "who are you?", "--wait", "--json").stdout)
    assert {a: r["text"] for a, r in out.items()} == {
        "t_0": "zero here",
        "t_1": "one here",
        "t_2": "two here",
    }
    st = s.status()
    assert st["backend"] == "slurm" and st["supervisor"]["running"]
    assert st["slurm"]["state"] == "RUNNING" and st["slurm"]["job_id"] == job
    agents = st["agents"]
    # one worker per node; identity from the rank, although every node has the same hostname
    assert sorted(a["node"] for a in agents) == ["node1", "node2", "node3"]
    assert len({a["host"] for a in agents}) == 1
    assert all(a["state"] == "idle" and a["turns"] == 1 for a in agents)
    assert st["tokens"]["total"] == 660

    done = s.cli("down", "t")
    assert "is down" in done.stdout
    assert s.jobs() == []
    assert s.processes() == []
    st = s.status()
    assert [a["state"] for a in st["agents"]] == ["stopped"] * 3
    assert st["slurm"]["state"] == "COMPLETED" and not st["supervisor"]["running"]
    assert "stopped (job step exit code 0)" in (s.run_dir / "slurm" / f"job-{job}.out").read_text()


def test_scancel_mid_turn_fails_the_agents_and_a_relaunch_resumes_their_threads(
    slurm_swarm: Factory,
) -> None:
    s = slurm_swarm("c")
    s.up(3, SLOW, "--nodes", "3")
    threads = {r: s.ready_threads(r) for r in range(3)}
    job = s.job_id()
    s.cli("send", "c", "all", "something slow")
    wait_until(lambda: len(s.model_requests()) >= 3, what="three slow model requests")
    subprocess.run(["scancel", job], check=True, timeout=60)
    wait_until(lambda: not s.jobs(), what="the job to end")

    st = s.status()
    assert st["slurm"]["state"] == "CANCELLED" and not st["supervisor"]["running"]
    for a in st["agents"]:
        assert a["state"] == "failed", a
        assert a["error"] == f"slurm job {job} CANCELLED"

    # `up` again, same name: a new job, every agent back on its own thread
    fleet = s.up(3, SLOW, "--nodes", "3")
    assert all(a["state"] == "idle" for a in fleet["agents"])
    assert s.job_id() != job
    for rank in range(3):
        ready = [r for r in s.outbox(rank) if r["kind"] == "agent.ready"]
        assert ready[-1]["thread_id"] == threads[rank][0] and ready[-1]["resumed"]
    out = json.loads(s.cli("send", "c", "all", "again?", "--wait", "--json").stdout)
    assert {r["text"] for r in out.values()} == {"back again"}
    # the resumed thread carried the interrupted turn's message to the model
    last = s.model_requests()[-1]["body"]["input"]
    assert "something slow" in json.dumps(last)


def test_a_killed_job_step_is_reported_with_slurms_reason(slurm_swarm: Factory) -> None:
    s = slurm_swarm("k")
    s.up(2, SLOW, "--nodes", "2")
    job = s.job_id()
    s.cli("send", "k", "all", "slow please")
    wait_until(lambda: len(s.model_requests()) >= 2, what="two slow model requests")
    subprocess.run(["scancel", "--signal=KILL", f"{job}.0"], check=True, timeout=60)
    wait_until(lambda: not s.jobs(), what="the job to end")
    st = s.status()
    assert st["slurm"]["state"] == "FAILED"
    for a in st["agents"]:
        assert a["state"] == "failed"
        assert a["error"].startswith(f"slurm job {job} FAILED") and "exit code 137" in a["error"]
    for rank in range(2):  # nobody said goodbye: the workers were killed
        assert s.outbox(rank)[-1]["kind"] != "agent.stopped"


def test_a_rejected_submission_says_why_and_leaves_nothing(slurm_swarm: Factory) -> None:
    s = slurm_swarm("r")
    proc = s.cli(*s.up_args(2, THREE, "--partition", "no-such-partition"), check=False)
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1 and "Traceback" not in proc.stderr
    assert "sbatch rejected the job" in errors[0]
    assert "Invalid partition name specified" in errors[0]
    assert s.jobs() == [] and not s.run_dir.exists()
    # nothing in the way of the next try
    fleet = s.up(2, THREE)
    assert all(a["state"] == "idle" for a in fleet["agents"])


def test_a_worker_that_dies_inside_the_job_is_restarted_on_its_thread(
    slurm_swarm: Factory,
) -> None:
    s = slurm_swarm("w")
    s.up(2, THREE, "--nodes", "2")
    thread = s.ready_threads(1)[0]
    worker = int((s.run_dir / "agents" / "w_1" / "worker.pid").read_text())
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: len(s.ready_threads(1)) == 2, what="the worker restarted in its task")
    assert s.ready_threads(1) == [thread, thread]
    exited = [r for r in s.outbox(1) if r["kind"] == "worker.exited"]
    assert exited and exited[0]["reason"] == "worker killed by SIGKILL"
    assert exited[0]["node"] == "node2"
    st = s.status()
    assert [a["state"] for a in st["agents"]] == ["idle", "idle"]
    assert st["agents"][1]["restarts"] == 1 and st["slurm"]["state"] == "RUNNING"
    out = json.loads(s.cli("send", "w", "1", "still there?", "--wait", "--json").stdout)
    assert out["w_1"]["text"] == "one here"


def test_a_job_that_cannot_start_yet_stays_queued_and_down_cancels_it(
    slurm_swarm: Factory,
) -> None:
    s = slurm_swarm("p")
    args = s.up_args(2, THREE, "--sbatch-arg=--begin=now+3600", "--timeout", "5")
    proc = s.cli(*args, check=False)
    assert proc.returncode == 1
    assert "PENDING (BeginTime)" in proc.stderr and "stays queued" in proc.stderr
    (job,) = s.jobs()
    assert job["state"] == "PENDING" and job["job"] == s.job_id()
    st = s.status()
    assert [a["state"] for a in st["agents"]] == ["starting", "starting"]
    assert st["slurm"]["describe"] == f"job {job['job']} PENDING (BeginTime)"
    again = s.cli(*args, check=False)
    assert again.returncode == 2 and "already up" in again.stderr
    s.cli("down", "p")
    assert s.jobs() == []
    assert s.status()["slurm"]["state"] == "CANCELLED"
