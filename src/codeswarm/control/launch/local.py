"""The ``local`` launch backend: a run directory, a detached supervisor, and stopping it all."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from codeswarm.control.launch.supervisor import (
    DOWN_GRACE,
    kill_group,
    kill_leftover_codex,
    process_matches,
    running_pid,
)
from codeswarm.core.atomic import atomic_write
from codeswarm.core.errors import CodeswarmError
from codeswarm.core.swarm import RunDir, SwarmSpec
from codeswarm.mailbox import Layout

SUPERVISOR_START_TIMEOUT = 10.0
SUPERVISOR_EXIT_MARGIN = 5.0
"""`down` waits the workers' grace period plus this for the supervisor to exit."""


def supervisor_pid(run: RunDir) -> int | None:
    return running_pid(run.supervisor_pid)


def create_run(run: RunDir, spec: SwarmSpec) -> None:
    """Create the run directory (0700) and its mailbox; write the spec atomically."""
    run.root.mkdir(parents=True, exist_ok=True)
    os.chmod(run.root, 0o700)
    Layout(run.root).create()
    run.agents_dir.mkdir(exist_ok=True)
    os.chmod(run.agents_dir, 0o700)
    import msgspec

    atomic_write(run.spec_path, msgspec.json.format(msgspec.json.encode(spec), indent=2) + b"\n")


def start_supervisor(run: RunDir) -> int:
    """Start the supervisor detached from this process (its own session, output to its log) and
    wait until it holds its lock. Returns its pid."""
    log_path = run.supervisor_log
    with open(log_path, "ab") as logf:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "codeswarm.control.launch.supervisor",
                "--run-dir",
                str(run.root),
            ],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=logf,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + SUPERVISOR_START_TIMEOUT
    while time.monotonic() < deadline:
        pid = supervisor_pid(run)
        if pid is not None:
            return pid
        if proc.poll() is not None:
            raise CodeswarmError(
                f"the supervisor exited at once (code {proc.returncode}): {tail(log_path)}"
            )
        time.sleep(0.01)
    raise CodeswarmError(f"the supervisor did not start within {SUPERVISOR_START_TIMEOUT:.0f}s")


def tail(path: Path, lines: int = 1) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) if text else "(empty log)"


def live_workers(run: RunDir, spec: SwarmSpec) -> dict[str, int]:
    out = {}
    for agent in run.agents(spec):
        try:
            pid = int(run.worker_pid(agent).read_text().strip())
        except (OSError, ValueError):
            continue
        if process_matches(pid, "codeswarm.worker", agent):
            out[agent] = pid
    return out


def stop(run: RunDir, spec: SwarmSpec, *, grace: float = DOWN_GRACE) -> dict[str, object]:
    """Stop the swarm: SIGTERM the supervisor (which stops its workers: SIGTERM, grace, SIGKILL),
    wait; then make sure no worker, Codex or supervisor is left. Returns what had to be killed."""
    killed: dict[str, object] = {}
    pid = supervisor_pid(run)
    if pid is not None and pid > 0:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace + SUPERVISOR_EXIT_MARGIN
        while time.monotonic() < deadline and supervisor_pid(run) is not None:
            time.sleep(0.05)
        if supervisor_pid(run) is not None:
            kill_group(pid, signal.SIGKILL)
            killed["supervisor"] = pid
    leftovers = live_workers(run, spec)
    for _agent, wpid in leftovers.items():
        with contextlib.suppress(ProcessLookupError):
            os.kill(wpid, signal.SIGTERM)
    deadline = time.monotonic() + (grace if leftovers else 0)
    while leftovers and time.monotonic() < deadline:
        leftovers = {a: p for a, p in leftovers.items() if process_matches(p)}
        time.sleep(0.05)
    for _agent, wpid in leftovers.items():
        kill_group(wpid, signal.SIGKILL)
    if leftovers:
        killed["workers"] = sorted(leftovers)
    codex = kill_leftover_codex(run)
    if codex:
        killed["codex"] = codex
    return killed
