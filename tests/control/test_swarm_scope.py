"""A swarm's coordination scope is fixed at `up`: a `.git` that appears above the project later
(so the project root, found afresh, would move) does not split the swarm's processes between two
scopes. Real supervisor, workers and Codex against the scripted model."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from swarmkit import Swarm, wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow]


def test_the_scope_fixed_at_up_holds_when_a_git_repo_appears_above(swarm: Swarm) -> None:
    swarm.up(1, {"agents": {"0": [{"when": ".", "text": "ok", "repeat": True}]}})
    spec = json.loads((swarm.run_dir / "swarm.json").read_text())
    assert spec["scope"] == str(swarm.workdir.resolve())
    # a repository appears above the project: found afresh, the project root would move up
    subprocess.run(["git", "init", "-q", str(swarm.workdir.parent)], check=True, timeout=60)
    pid_file = swarm.run_dir / "agents" / "t_0" / "worker.pid"
    worker = int(pid_file.read_text())
    os.kill(worker, signal.SIGKILL)  # the restarted worker joins the store again
    wait_until(
        lambda: pid_file.read_text().strip() not in ("", str(worker))
        and swarm.status()["agents"][0]["state"] == "idle",
        timeout=90, what="the worker back",
    )  # fmt: skip
    scope = str(swarm.workdir.resolve())
    agents = json.loads(swarm.cli("coord", "--scope", scope, "agents", "--json").stdout)
    assert [a["name"] for a in agents] == ["t_0"]
    swarm.cli("coord", "--scope", scope, "--as", "t_0", "lease", "src/a.py")
    # status (a process started now, in the project) reads the same scope
    (agent,) = swarm.status()["agents"]
    assert [x["path"] for x in agent["leases"]] == ["src/a.py"], agent
