"""The Slurm suite: a real three-node cluster on this machine (started for the session when it is
not running, and shut down again at the end if this session started it), and swarms launched
through ``codeswarm up --backend slurm`` with the real Codex CLI against the scripted model.

Every swarm gets its own state directory; at teardown it is brought down and the test fails if
its job or any of its processes survived.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import slurm_cluster

import swarmkit
from swarmkit import need, pids_of


@pytest.fixture(scope="session")
def slurm() -> Iterator[None]:
    """A running three-node cluster (node1 … node3, partition ``debug``)."""
    try:
        started = slurm_cluster.start()
    except (slurm_cluster.Unavailable, OSError, subprocess.SubprocessError) as exc:
        need(f"Slurm unavailable: {exc}")
        raise AssertionError("unreachable") from exc
    try:
        yield
    finally:
        slurm_cluster.stop(started)


def wait_until(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """swarmkit's, with a longer default: Slurm schedules in seconds."""
    return swarmkit.wait_until(predicate, timeout, what)


def squeue(name: str) -> list[dict[str, str]]:
    """The jobs named ``codeswarm-<name>`` that Slurm still lists as pending or running."""
    done = subprocess.run(
        ["squeue", "-h", "-n", f"codeswarm-{name}", "-o", "%i %T %R"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    rows = []
    for line in done.stdout.splitlines():
        job, state, reason = [*line.split(maxsplit=2), "", "", ""][:3]
        rows.append({"job": job, "state": state, "reason": reason})
    return rows


class SlurmSwarm:
    def __init__(self, name: str, state: Path, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.state = state
        self.env = env
        self.workdir = workdir
        self.run_dir = state / "runs" / name

    def cli(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "codeswarm", *args],
            capture_output=True, text=True, timeout=timeout, env=self.env, cwd=self.workdir,
            input="",
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(
                f"codeswarm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
            )
        return proc

    def write_script(self, script: dict[str, Any]) -> Path:
        path = self.state.parent / f"{self.name}-script.json"
        path.write_text(json.dumps(script))
        return path

    def up_args(self, n: int, script: dict[str, Any], *extra: str) -> list[str]:
        return [
            "up", "-n", str(n), "--name", self.name, "--cwd", str(self.workdir),
            "--model-provider", "mock", "--script", str(self.write_script(script)),
            "--backend", "slurm", "--json", *extra,
        ]  # fmt: skip

    def up(self, n: int, script: dict[str, Any], *extra: str) -> dict[str, Any]:
        return json.loads(self.cli(*self.up_args(n, script, *extra)).stdout)

    def status(self) -> dict[str, Any]:
        return json.loads(self.cli("status", self.name, "--json").stdout)

    def agent(self, rank: int) -> str:
        return f"{self.name}_{rank}"

    def outbox(self, rank: int) -> list[dict[str, Any]]:
        path = self.run_dir / "mailbox" / "outbox" / f"{self.agent(rank)}.jsonl"
        out = []
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def ready_threads(self, rank: int) -> list[str]:
        return [r["thread_id"] for r in self.outbox(rank) if r["kind"] == "agent.ready"]

    def model_requests(self) -> list[dict[str, Any]]:
        path = self.run_dir / "model-requests.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def job_id(self) -> str:
        record = json.loads((self.run_dir / "slurm.json").read_text())
        return str(record["job_id"])

    def jobs(self) -> list[dict[str, str]]:
        return squeue(self.name)

    def processes(self) -> list[int]:
        return pids_of(str(self.run_dir))


@pytest.fixture
def slurm_swarm(
    slurm: None,
    tmp_path: Path,
    codex_binary,  # type: ignore[no-untyped-def]
) -> Iterator[Callable[[str], SlurmSwarm]]:
    made: list[SlurmSwarm] = []
    env = {
        **os.environ,
        "CODESWARM_STATE_DIR": str(tmp_path / "state"),
        "CODESWARM_CODEX_BIN": str(codex_binary.path),
        "CODEX_HOME": str(tmp_path / "user-codex-home"),
    }

    def make(name: str) -> SlurmSwarm:
        workdir = tmp_path / f"{name}-repo"
        workdir.mkdir()
        s = SlurmSwarm(name, tmp_path / "state", env, workdir)
        made.append(s)
        return s

    yield make
    for s in made:
        if (s.run_dir / "swarm.json").exists():
            s.cli("down", s.name, "--grace", "5", check=False)
        jobs = s.jobs()
        for job in jobs:
            subprocess.run(["scancel", job["job"]], check=False, timeout=60)
        survivors = s.processes()
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        assert not jobs, f"jobs of swarm {s.name} survived down: {jobs}"
        assert not survivors, f"processes of swarm {s.name} survived down: {survivors}"
