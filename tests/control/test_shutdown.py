"""A ``shutdown`` record stops an agent for good on the local backend: its worker exits 0 and the
supervisor does not restart it; when every agent has stopped, the supervisor ends too (as a Slurm
job does when its last task ends: tests/control/slurm/test_slurm_shutdown.py)."""

from __future__ import annotations

import json

import pytest

from codeswarm.control.proc import pid_in, process_matches
from codeswarm.control.steering import shutdown
from codeswarm.core.swarm import RunDir
from swarmkit import Swarm, wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow]

SCRIPT = {"agents": {"*": [{"when": ".", "text": "still here", "repeat": True}]}}


def stopped_for_good(s: Swarm, rank: int) -> bool:
    """The keeper decided: the worker stopped on request (it logs this once, then returns)."""
    log = (s.run_dir / "supervisor.log").read_text()
    return f"{s.agent(rank)}: worker stopped on request" in log


def test_shutdown_stops_an_agent_for_good_and_the_last_one_ends_the_supervisor(
    swarm: Swarm,
) -> None:
    swarm.up(2, SCRIPT)
    run = RunDir(swarm.run_dir)
    first_pid = pid_in(run.worker_pid(swarm.agent(0)))
    assert first_pid is not None

    shutdown(run, [swarm.agent(0)])
    wait_until(lambda: stopped_for_good(swarm, 0), 60, "the keeper to see the stop")
    assert not process_matches(first_pid, "codeswarm.worker")
    kinds = [r["kind"] for r in swarm.outbox(0)]
    assert "worker.exited" not in kinds  # not counted as a crash
    assert kinds.count("worker.started") == 1  # and never restarted
    last = swarm.outbox(0)[-1]
    assert last["kind"] == "agent.stopped" and last["requested"] is True
    st = swarm.status()
    by_id = {a["id"]: a for a in st["agents"]}
    assert by_id[swarm.agent(0)]["state"] == "stopped"
    assert by_id[swarm.agent(1)]["state"] == "idle" and st["supervisor"]["running"]

    # the other agent still works
    out = json.loads(swarm.cli("send", "t", "1", "hello", "--wait", "--json").stdout)
    assert out[swarm.agent(1)]["text"] == "still here"

    shutdown(run, [swarm.agent(1)])
    wait_until(lambda: not swarm.status()["supervisor"]["running"], 60, "the supervisor to end")
    assert (
        "every agent has stopped: the supervisor ends"
        in (swarm.run_dir / "supervisor.log").read_text()
    )
    wait_until(lambda: not swarm.processes(), 30, "every process of the swarm to exit")
    st = swarm.status()
    assert [a["state"] for a in st["agents"]] == ["stopped", "stopped"]
    # `up` again resumes both threads
    threads = [swarm.ready_threads(r)[-1] for r in (0, 1)]
    swarm.up(2, SCRIPT)
    assert [swarm.ready_threads(r)[-1] for r in (0, 1)] == threads
