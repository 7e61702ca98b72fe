"""A scripted model served by a Slurm job's batch step is reached by workers on every node: the
batch step serves it at its own host name and records that host in the spec before the tasks
start, and each worker's Codex config names it (not 127.0.0.1). No cluster needed: the real
cluster here is three nodes on one machine, where 127.0.0.1 would work by accident."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from codeswarm.control.launch.base import create_run
from codeswarm.control.launch.slurm_jobs import render_script
from codeswarm.core.swarm import RunDir, SlurmOptions, SwarmSpec
from codeswarm.worker.agent import Worker
from swarmkit import SlurmSwarm, python_env

PORT = 45123


def mock_spec(tmp_path: Path, **kw: Any) -> SwarmSpec:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"agents": {"*": ["hi"]}}))
    base: dict[str, Any] = {
        "name": "farm",
        "size": 3,
        "cwd": str(tmp_path),
        "codex_bin": "/shared/tools/codex",
        "backend": "slurm",
        "slurm": SlurmOptions(nodes=3, ntasks_per_node=1),
        "model_provider": "mock",
        "script": str(script),
        "mock_port": PORT,
        "coord": False,
    }
    base.update(kw)
    return SwarmSpec(**base)


def model_urls(run: RunDir, agent: str) -> list[str]:
    """Every URL in the Codex config the worker of ``agent`` starts Codex with."""
    config = Worker(run, agent)._codex_config()
    text = json.dumps(config)
    return [w.strip('",') for w in text.split() if "://" in w]


def record(run: RunDir, host: str) -> subprocess.CompletedProcess[str]:
    """What the batch step runs once the model serves: the real entry point, as a process."""
    return subprocess.run(
        [sys.executable, "-P", "-m", "codeswarm.control.launch.slurm_task",
         "--run-dir", str(run.root), "--model-host", host],
        capture_output=True, text=True, timeout=60, env=python_env(),
    )  # fmt: skip


def test_the_batch_step_serves_the_model_at_its_host_and_records_it_before_the_tasks(
    tmp_path: Path,
) -> None:
    text = render_script(mock_spec(tmp_path), tmp_path / "run", python="/py", env={})
    assert 'MODEL_HOST="$(hostname)"' in text
    serve = text.index("mock-model serve")
    assert '--host "$MODEL_HOST"' in text[serve : text.index("\n", text.index("\n", serve) + 1)]
    recorded = text.index('--model-host "$MODEL_HOST"')
    assert serve < recorded < text.index("srun ")
    given = render_script(mock_spec(tmp_path, mock_host="10.1.2.3"), tmp_path, python="/p", env={})
    assert "MODEL_HOST=10.1.2.3" in given  # an address given in the spec is used as it is


def test_workers_on_other_nodes_get_the_models_host_not_loopback(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "state" / "runs" / "farm")
    create_run(run, mock_spec(tmp_path))
    # before the job records a host (a local swarm): the model is on this host
    assert model_urls(run, "farm_1") == [f"http://127.0.0.1:{PORT}/agents/farm_1/v1"]

    done = record(run, "node1.cluster")
    assert done.returncode == 0, done.stderr
    spec = run.load_spec()
    assert spec.mock_host == "node1.cluster" and spec.mock_port == PORT
    for agent in ("farm_0", "farm_1", "farm_2"):  # on node1 as on node2 and node3
        assert model_urls(run, agent) == [f"http://node1.cluster:{PORT}/agents/{agent}/v1"]
    assert "127.0.0.1" not in json.dumps(Worker(run, "farm_2")._codex_config())

    done = record(run, "fe80::1")  # an IPv6 address is bracketed in the URL
    assert done.returncode == 0, done.stderr
    assert model_urls(run, "farm_0") == [f"http://[fe80::1]:{PORT}/agents/farm_0/v1"]


def test_a_bad_model_host_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "state" / "runs" / "farm")
    create_run(run, mock_spec(tmp_path))
    before = run.spec_path.read_bytes()
    for bad in ("", "a b", "evil/path", "user@host"):
        done = record(run, bad)
        assert done.returncode == 2, (bad, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "--model-host" in lines[0] and "Traceback" not in done.stderr
    assert run.spec_path.read_bytes() == before
    assert msgspec.json.decode(before, type=SwarmSpec).mock_host is None


@pytest.mark.codex
@pytest.mark.slow
def test_a_real_job_records_its_batch_host_and_every_node_reaches_the_model(
    slurm_swarm: Callable[[str], SlurmSwarm],
) -> None:
    s = slurm_swarm("h")
    s.up(3, {"agents": {"*": ["here"]}}, "--nodes", "3")
    spec = RunDir(s.run_dir).load_spec()
    assert spec.mock_host == socket.gethostname()  # `hostname` in the batch step's node
    out = json.loads(s.cli("send", "h", "all", "where?", "--wait", "--json").stdout)
    assert {a: r["text"] for a, r in out.items()} == {"h_0": "here", "h_1": "here", "h_2": "here"}
    assert sorted(a["node"] for a in s.status()["agents"]) == ["node1", "node2", "node3"]
    assert {r["agent"] for r in s.model_requests()} == {"h_0", "h_1", "h_2"}
