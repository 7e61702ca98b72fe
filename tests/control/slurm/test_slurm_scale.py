"""A Slurm swarm of 3 nodes x 8 agents (three nodes on this machine, real workers and Codex, the
scripted model in the batch step): every agent ready on its node, a message to all answered by
each, `status` lists them all, and `down` leaves no job and no process. Timing: bench/."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from swarmkit import SlurmSwarm, plain_home, survivors

pytestmark = [pytest.mark.codex, pytest.mark.slow]

ECHO = {"agents": {"*": [{"when": ".", "repeat": True, "text": "here"}]}}
NODES, PER_NODE = 3, 8


def test_three_nodes_of_eight_agents(
    slurm_swarm: Callable[[str], SlurmSwarm], tmp_path: Path
) -> None:
    s = slurm_swarm("g")
    plain_home(s, tmp_path)
    n = NODES * PER_NODE
    # each test node has 2 CPUs: 8 tasks a node share them (--overcommit; Slurm 22.05 refuses
    # --ntasks-per-node above a node's CPUs even so, and spreads -n 24 on 3 nodes evenly)
    args = s.up_args(n, ECHO, "--nodes", str(NODES), "--sbatch-arg=--overcommit",
                     "--timeout", "400")  # fmt: skip
    fleet = json.loads(s.cli(*args, timeout=450).stdout)
    ids = [s.agent(r) for r in range(n)]
    assert [a["id"] for a in fleet["agents"]] == ids
    assert all(a["state"] == "idle" for a in fleet["agents"])
    job = s.job_id()
    assert fleet["slurm"]["state"] == "RUNNING" and fleet["slurm"]["nodes"] == "node[1-3]"

    sent = s.cli("send", "g", "all", "hello", "--wait", "--json", "--timeout", "300", timeout=330)
    answers = json.loads(sent.stdout)
    assert set(answers) == set(ids) and all(a["text"] == "here" for a in answers.values())

    st = s.status()
    assert [a["id"] for a in st["agents"]] == ids
    assert all(a["state"] == "idle" and a["turns"] == 1 for a in st["agents"])
    assert Counter(a["node"] for a in st["agents"]) == {f"node{i}": PER_NODE for i in (1, 2, 3)}
    for rank in range(n):  # light per agent: no worker has OpenSSL or the MCP SDK loaded
        pid = int((s.run_dir / "agents" / s.agent(rank) / "worker.pid").read_text())
        maps = Path(f"/proc/{pid}/maps").read_text()
        for heavy in ("libssl", "libcrypto", "pydantic_core"):
            assert heavy not in maps, f"{s.agent(rank)} loaded {heavy}"
    tasks = [  # the task processes themselves, not srun's
        p for p in s.processes()
        if (cmd := survivors([p])[0]).startswith(sys.executable) and "slurm_task" in cmd
    ]  # fmt: skip
    assert len(tasks) == n  # one task process per agent, none with OpenSSL mapped either
    for pid in tasks:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "libssl" not in maps and "libcrypto" not in maps, pid
    for rank in range(n):  # nothing crashed under the load
        kinds = [r["kind"] for r in s.outbox(rank)]
        assert kinds.count("agent.ready") == 1 and "worker.exited" not in kinds, s.agent(rank)

    s.cli("down", "g", timeout=120)
    assert s.jobs() == []
    assert not (left := s.processes()), survivors(left)
    st = s.status()
    assert [a["state"] for a in st["agents"]] == ["stopped"] * n
    assert st["slurm"]["state"] == "COMPLETED" and st["slurm"]["job_id"] == job
