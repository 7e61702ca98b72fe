"""A local swarm for tests: real supervisor, workers and Codex, scripted model (the fixtures
``swarm_factory`` and ``swarm`` in conftest.py use it).

Every test gets its own state directory; whatever a test leaves running is stopped (and, if it
must be, killed) at teardown, and the test fails if a process of its swarm survived that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


REQUIRE_ALL = os.environ.get("CODESWARM_REQUIRE_ALL") == "1"


def need(reason: str) -> None:
    """Skip for a missing component, or fail under CODESWARM_REQUIRE_ALL=1 (CI sets it): a test
    skipped in CI is a test that does not exist."""
    if REQUIRE_ALL:
        pytest.fail(f"required component missing (CODESWARM_REQUIRE_ALL=1): {reason}")
    pytest.skip(reason)


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (these are other processes: there is
    nothing to block on but their files)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def pids_of(needle: str) -> list[int]:
    """Live processes whose command line or environment contains ``needle`` (Codex has the
    agent's CODEX_HOME, under the run directory, in its environment)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if (needle in cmd or f"={needle}" in environ) and ") Z " not in stat:
            out.append(int(entry.name))
    return out


class Swarm:
    def __init__(self, name: str, state: Path, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.state = state
        self.env = env
        self.workdir = workdir
        self.run_dir = state / "runs" / name

    def cli(
        self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "codeswarm", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=self.workdir,
            input=input if input is not None else "",
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"codeswarm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
            )
        return proc

    def up(self, n: int, script: dict[str, Any], *extra: str) -> dict[str, Any]:
        path = self.state.parent / f"{self.name}-script.json"
        path.write_text(json.dumps(script))
        proc = self.cli(
            "up", "-n", str(n), "--name", self.name, "--cwd", str(self.workdir),
            "--model-provider", "mock", "--script", str(path), "--json", *extra,
        )  # fmt: skip
        return json.loads(proc.stdout)

    def status(self) -> dict[str, Any]:
        return json.loads(self.cli("status", self.name, "--json").stdout)

    def agent(self, rank: int) -> str:
        return f"{self.name}_{rank}"

    def outbox(self, rank: int) -> list[dict[str, Any]]:
        path = self.run_dir / "mailbox" / "outbox" / f"{self.agent(rank)}.jsonl"
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def model_requests(self) -> list[dict[str, Any]]:
        path = self.run_dir / "model-requests.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def processes(self) -> list[int]:
        return pids_of(str(self.run_dir))
