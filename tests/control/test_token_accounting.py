"""Token figures stay exact across a worker's kill -9 and the thread's resume (issue 12's first
bug): Codex sends the thread's last usage update again right after ``thread/resume``; the fleet
state counts each thread's running total once. Real supervisor, workers and Codex against the
scripted model, which declares each response's usage."""

from __future__ import annotations

import os
import signal

import pytest

from swarmkit import Swarm, wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow]

USAGE = {"input_tokens": 30, "output_tokens": 3}


def tokens(swarm: Swarm, rank: int) -> dict[str, int]:
    return dict(swarm.status()["agents"][rank]["tokens"])


def test_tokens_are_exact_after_a_worker_is_killed_and_its_thread_resumed(swarm: Swarm) -> None:
    reply = {"when": ".", "text": "ok", "usage": USAGE, "repeat": True}
    swarm.up(3, {"agents": {"0": [reply], "1": [reply], "2": [reply]}})
    swarm.cli("send", "t", "all", "one", "--wait")
    assert tokens(swarm, 2)["input"] == 30 and tokens(swarm, 2)["output"] == 3
    pid_file = swarm.run_dir / "agents" / "t_2" / "worker.pid"
    worker = int(pid_file.read_text())
    os.kill(worker, signal.SIGKILL)
    wait_until(
        lambda: pid_file.exists() and pid_file.read_text().strip() not in ("", str(worker))
        and swarm.status()["agents"][2]["state"] == "idle",
        timeout=90, what="rank 2's worker back, its thread resumed",
    )  # fmt: skip
    swarm.cli("send", "t", "2", "two", "--wait")
    served = [r for r in swarm.model_requests() if r["agent"] == "t_2"]
    assert len(served) == 2
    assert tokens(swarm, 2) == {"input": 60, "cached_input": 0, "output": 6, "total": 66}
    assert tokens(swarm, 0)["total"] == 33 and tokens(swarm, 1)["total"] == 33
    assert swarm.status()["tokens"]["total"] == 66 + 33 + 33
