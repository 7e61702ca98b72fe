"""Plain-git fixtures for the merge queue's tests: a project repository, a swarm run directory
(``swarm.json`` only: no workers) whose agents have worktrees on ``codeswarm/<swarm>/<agent>``,
made with git directly, and a queue process to start and kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from codeswarm.control.merge import journal
from codeswarm.core.swarm import RunDir, SwarmSpec

GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, env=env,
                          check=False)  # fmt: skip
    assert done.returncode == 0, f"git {args}: {done.stderr}"
    return done.stdout.strip()


class Project:
    """A repository (branch main, a few files) and swarm ``s``'s run directory."""

    def __init__(self, tmp: Path, *, agents: int = 3, check: str | None = None,
                 name: str = "s") -> None:  # fmt: skip
        self.root = tmp / "project"
        self.root.mkdir()
        git(self.root, "init", "-q", "-b", "main")
        lines = "".join(f"line {i}\n" for i in range(1, 41))
        (self.root / "a.txt").write_text(lines)
        (self.root / "b.txt").write_text("b\n")
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", "base")
        self.base = git(self.root, "rev-parse", "HEAD")
        state = tmp / "state"
        state.mkdir(mode=0o700)
        self.run = RunDir(state / "runs" / name)
        self.run.root.mkdir(parents=True, mode=0o700)
        self.spec = SwarmSpec(name=name, size=agents, cwd=str(self.root), codex_bin="/bin/false",
                              isolation="worktree", base_commit=self.base, into="main",
                              check=check, coord=False)  # fmt: skip
        self.write_spec()
        self.agents = self.run.agents(self.spec)
        for agent in self.agents:
            git(self.root, "worktree", "add", "-q", "-b", f"codeswarm/{name}/{agent}",
                str(self.run.worktree(agent)), self.base)  # fmt: skip

    def write_spec(self, **changes: Any) -> None:
        if changes:
            self.spec = msgspec.structs.replace(self.spec, **changes)
        self.run.spec_path.write_bytes(msgspec.json.encode(self.spec))

    def tree(self, agent: str) -> Path:
        return self.run.worktree(agent)

    def edit_line(self, agent: str, line: int, text: str, *, commit: bool = True) -> None:
        """Replace line ``line`` (1-based) of a.txt in the agent's worktree."""
        path = self.tree(agent) / "a.txt"
        lines = path.read_text().splitlines(keepends=True)
        lines[line - 1] = text + "\n"
        path.write_text("".join(lines))
        if commit:
            git(self.tree(agent), "commit", "-q", "-am", f"{agent}: line {line}")

    def main_file(self, name: str = "a.txt") -> str:
        return git(self.root, "show", f"main:{name}")

    def tip(self) -> str:
        return git(self.root, "rev-parse", "refs/heads/main")

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [r for r in journal.records(self.run) if kind is None or r["kind"] == kind]

    def ended(self) -> dict[str, str]:
        """Submission id -> merged/rejected, each counted (a second end fails)."""
        out: dict[str, str] = {}
        for r in self.records():
            if r["kind"] in journal.ENDED:
                assert r["sub"] not in out, f"{r['sub']} ended twice"
                out[r["sub"]] = r["kind"].split(".")[1]
        return out

    # -- the queue process ----------------------------------------------------------------------
    def start_runner(self) -> subprocess.Popen[bytes]:
        log = open(self.run.root / "merge-runner.log", "ab")  # noqa: SIM115
        try:
            return subprocess.Popen(
                [sys.executable, "-P", "-m", "codeswarm.control.merge.runner", "--run-dir",
                 str(self.run.root)], stdout=log, stderr=log, start_new_session=True,
                env={**os.environ, **GIT_ENV},
            )  # fmt: skip
        finally:
            log.close()

    def log(self) -> str:
        path = self.run.root / "merge-runner.log"
        return path.read_text() if path.exists() else ""


def wait_for(cond: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or cond}")


def stop(proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    return proc.wait(timeout=60)
