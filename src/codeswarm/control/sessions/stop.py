"""Stopping an agent or a swarm, and removing an ended swarm's run directory (never a live one)."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

from codeswarm.control.sessions.threads import (
    ENDED,
    LIVE,
    ROLLOUT_GLOB,
    STOPPED,
    agent_state,
    liveness,
)
from codeswarm.core.errors import CodeswarmError, UsageError
from codeswarm.core.swarm import RunDir, SwarmSpec

KILL_TIMEOUT = 30.0
"""How long ``kill`` of one agent waits for its worker to stop."""
KILL_POLL = 0.05


# -- kill -------------------------------------------------------------------------------------------
def kill_agent(run: RunDir, spec: SwarmSpec, agent: str, *, timeout: float = KILL_TIMEOUT) -> None:
    """Stop one agent of a live swarm for good (a ``shutdown`` record: its turn is interrupted,
    it leaves the coordination store, its keeper does not restart it) and wait until its worker
    is gone. :class:`CodeswarmError` (nothing sent) when its worker does not run; or when it has
    not stopped within ``timeout``."""
    from codeswarm.control.steering import shutdown
    from codeswarm.mailbox import Layout

    live = liveness(run, spec)
    state = agent_state(agent, live)
    if state != LIVE:
        raise CodeswarmError(f"nothing to kill: {agent} is {state}" + _why(state, spec))
    outbox = Layout(run.root).outbox(agent)
    start = outbox.stat().st_size if outbox.exists() else 0
    shutdown(run, [agent])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if live.workers is not None:
            if agent not in (liveness(run, spec).workers or ()):
                return
        elif _stopped_since(outbox, start):
            return
        time.sleep(KILL_POLL)
    raise CodeswarmError(
        f"{agent} was asked to stop but still runs after {timeout:g}s "
        f"(see 'codeswarm sessions logs {spec.name} {agent}')"
    )


def _why(state: str, spec: SwarmSpec) -> str:
    if state == ENDED:
        return f" (swarm {spec.name} is down)"
    if state == STOPPED:
        return " (its worker is not running)"
    return ""


def _stopped_since(outbox: Path, offset: int) -> bool:
    """An ``agent.stopped`` record in ``outbox`` past ``offset``."""
    try:
        with outbox.open("rb") as f:
            f.seek(offset)
            return b'"agent.stopped"' in f.read()
    except OSError:
        return False


def kill_swarm(run: RunDir, spec: SwarmSpec, *, grace: float) -> dict[str, object]:
    """Stop the whole swarm as ``down`` does. :class:`CodeswarmError` when nothing of it runs."""
    from codeswarm.control.launch import backend_for

    live = liveness(run, spec)
    if live.known and not live.running:
        raise CodeswarmError(f"nothing to kill: swarm {spec.name} is not running")
    return backend_for(spec.backend).stop(run, spec, grace=grace)


# -- clean ------------------------------------------------------------------------------------------
def last_activity_ms(run: RunDir) -> int:
    """When anything of the swarm last wrote: its spec, outboxes, logs, rollouts (mtimes)."""
    newest = 0.0
    candidates = [run.spec_path, run.supervisor_log, *run.root.glob("mailbox/outbox/*.jsonl")]
    candidates += run.root.glob("agents/*/worker.log")
    candidates += run.root.glob(f"agents/*/codex-home/sessions/*/*/*/{ROLLOUT_GLOB}")
    for path in candidates:
        with contextlib.suppress(OSError):
            newest = max(newest, path.stat().st_mtime)
    return int(newest * 1000)


def disk_bytes(root: Path) -> int:
    total = 0
    for base, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(base, name)).st_size
    return total


def remove_run(run: RunDir, spec: SwarmSpec) -> None:
    """Delete an ended swarm's run directory (its threads, mailbox, logs) and worktrees. Holds
    the swarm's supervisor lock meanwhile, so no supervisor starts in it; :class:`UsageError`
    (nothing removed) when anything of the swarm runs, or a worktree holds unmerged work
    (``PurgeRefusedError``, docs/isolation.md)."""
    from codeswarm.control.proc import PidLock

    live = liveness(run, spec)
    if live.running:
        raise UsageError(f"swarm {spec.name} is live ({live.why}): not removed")
    lock = PidLock(run.supervisor_pid)
    if not lock.acquire():
        raise UsageError(f"swarm {spec.name} is live (its supervisor started): not removed")
    try:
        again = liveness(run, spec)
        if again.workers:
            raise UsageError(f"swarm {spec.name} is live ({again.why}): not removed")
        from codeswarm.control.worktrees.purge import purge

        purge(
            spec, run, force=False
        )  # its worktrees: only when no work is lost (PurgeRefusedError)
        # out of every reader's way at once (a name no swarm can have), then deleted
        grave = run.root.with_name(f".removing-{run.name}-{os.getpid()}")
        os.rename(run.root, grave)
    finally:
        lock.release()
    shutil.rmtree(grave, ignore_errors=True)
