"""The ``local`` launch backend: the workers are processes on this machine, kept alive by one
detached supervisor per swarm (:mod:`.supervisor`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any

import msgspec

from codeswarm.control.launch.base import (
    Progress,
    Ready,
    early_hub,
    follow_until_ready,
    not_ready_agents,
)
from codeswarm.control.launch.keepalive import DOWN_GRACE
from codeswarm.control.launch.supervisor import kill_leftover_codex
from codeswarm.control.proc import kill_group, pid_in, process_matches, running_pid, tail
from codeswarm.core.entry import python_module
from codeswarm.core.errors import CodeswarmError, UsageError
from codeswarm.core.swarm import RunDir, SlurmOptions, SwarmSpec

if TYPE_CHECKING:
    from pathlib import Path

    from codeswarm.control.fleet.router import Router
    from codeswarm.control.fleet.state import FleetState
    from codeswarm.worker.mcphub import HubKeeper

SUPERVISOR_START_TIMEOUT = 10.0
"""How long ``up`` waits for the supervisor to hold its lock."""
SUPERVISOR_EXIT_MARGIN = 5.0
"""`down` waits the workers' grace period plus this for the supervisor to exit."""
STOP_POLL = 0.05
"""How often ``down`` looks whether the supervisor and the workers are gone."""
MODEL_HOST = "127.0.0.1"
MODEL_POLL = 0.02
"""How often ``up`` looks whether the swarm's scripted model listens yet."""
HUB_EXIT_WAIT = 5.0
"""How long ``down`` waits for the coordination hub to end by itself (it does once no worker
of the swarm is left: its graceful shutdown takes up to 2 s) before it kills it."""


def supervisor_pid(run: RunDir) -> int | None:
    return running_pid(run.supervisor_pid)


def start_supervisor(run: RunDir) -> int:
    """Start the supervisor detached from this process (its own session, output to its log),
    or hand the run to the one started before the command line was parsed
    (:mod:`.pending`), and wait until it holds its lock. Returns its pid."""
    from codeswarm.control.launch.pending import STARTED, take

    log_path = run.supervisor_log
    pending = take()
    with open(log_path, "ab") as logf:
        if pending is not None and pending.give(run.root, logf.fileno()):
            proc = pending.proc
        else:
            proc = subprocess.Popen(
                python_module("codeswarm.control.launch.supervisor", "--run-dir", str(run.root)),
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                start_new_session=True,
                close_fds=True,
            )
    STARTED.append(proc)
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


def _wait_hub_gone(run: RunDir) -> int | None:
    """Once the swarm's workers and supervisor are gone, its coordination hub here ends by
    itself (it lives while one of them does): wait for that, at most :data:`HUB_EXIT_WAIT`
    seconds, then SIGKILL it. Returns its pid if it had to be killed."""
    from codeswarm.worker.mcphub import HubFiles

    try:
        pid = HubFiles(run.mcp_dir).read().get("pid")
    except (OSError, ValueError):  # no readable record (yet: a launch cut short)
        pid = None
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        pid = _hub_process(run)
        if pid is None:
            return None
    deadline = time.monotonic() + HUB_EXIT_WAIT
    while process_matches(pid, "codeswarm.mcp.hub", str(run.root)):
        if time.monotonic() >= deadline:
            kill_group(pid, signal.SIGKILL)
            return pid
        time.sleep(STOP_POLL)
    return None


def _hub_process(run: RunDir) -> int | None:
    """A live hub of ``run`` here, found by its command line (one that has not recorded its
    pid yet: a launch cut short by Ctrl-C between the two)."""
    for name in os.listdir("/proc"):
        if name.isdigit() and process_matches(int(name), "codeswarm.mcp.hub", str(run.root)):
            return int(name)
    return None


async def _wait_listening(port: int, deadline: float, log: Path) -> None:
    """Until the swarm's scripted model takes connections on ``port`` (the supervisor starts it
    beside the first workers, and the agents can be ready first: their first turn would meet
    a refused connection); :class:`CodeswarmError` at ``deadline`` (the loop's clock)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            _, writer = await asyncio.open_connection(MODEL_HOST, port)
        except OSError:
            if loop.time() >= deadline:
                raise CodeswarmError(
                    f"the scripted model did not listen on port {port} in time: {tail(log)}"
                ) from None
            await asyncio.sleep(MODEL_POLL)
        else:
            writer.close()
            return


def live_workers(run: RunDir, spec: SwarmSpec) -> dict[str, int]:
    """agent -> pid of every worker of the swarm that is alive."""
    out = {}
    for agent in run.agents(spec):
        pid = pid_in(run.worker_pid(agent))
        if pid is not None and process_matches(pid, "codeswarm.worker", agent):
            out[agent] = pid
    return out


class LocalBackend:
    """Workers as processes here, under one supervisor per swarm."""

    name = "local"

    def __init__(self) -> None:
        self._hub: HubKeeper | None = None

    def prepare(self, spec: SwarmSpec, previous: SwarmSpec | None) -> tuple[SwarmSpec, list[str]]:
        if spec.slurm is not None:
            if spec.slurm != SlurmOptions(stop_grace_s=spec.slurm.stop_grace_s):
                raise UsageError("--nodes, --partition, --sbatch-arg, … need --backend slurm")
            spec = msgspec.structs.replace(spec, slurm=None)
        return spec, []

    def running(self, run: RunDir) -> str | None:
        pid = supervisor_pid(run)
        return None if pid is None else f"its supervisor runs (pid {pid})"

    def launch(self, run: RunDir, router: Router, *, fresh: bool) -> str | None:
        from codeswarm.control.fleet.state import STARTING

        # a relaunch may adopt workers that are still running; every agent without a live
        # worker must announce itself afresh
        alive = live_workers(run, router.spec)
        for agent, view in router.fleet.agents.items():
            if agent not in alive:
                view.state = STARTING
        from codeswarm.control.launch.pending import starts_hub

        if router.spec.coord and not starts_hub():  # (else the supervisor starts it at once)
            self._hub = early_hub(run)
        start_supervisor(run)
        return None

    async def wait_ready(
        self, router: Router, deadline_s: float, progress: Progress | None = None
    ) -> Ready:
        spec = router.spec
        deadline = asyncio.get_running_loop().time() + deadline_s
        try:
            await asyncio.wait_for(
                follow_until_ready(router, lambda: "starting agents", progress), deadline_s
            )
        except TimeoutError:
            late = not_ready_agents(router)
            hint = tail(router.run.worker_log(late[0])) if late else ""
            raise CodeswarmError(
                f"not every agent was ready after {deadline_s:.0f}s: {', '.join(late)} "
                f"(see 'codeswarm logs {router.spec.name} {late[0] if late else 0}': {hint})"
            ) from None
        finally:
            router.close()
            if self._hub is not None:  # the supervisor and the workers hold it by now
                self._hub.close()
                self._hub = None
        if spec.model_provider == "mock" and spec.mock_port:  # ready: able to take a turn
            await _wait_listening(spec.mock_port, deadline, router.run.root / "model.log")
        return Ready(where=f"in {spec.cwd}")

    def stop(self, run: RunDir, spec: SwarmSpec, *, grace: float = DOWN_GRACE) -> dict[str, object]:
        """SIGTERM the supervisor (which stops its workers: SIGTERM, grace, SIGKILL), wait; then
        make sure no worker, Codex or supervisor is left."""
        killed: dict[str, object] = {}
        pid = supervisor_pid(run)
        if pid is not None and pid > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace + SUPERVISOR_EXIT_MARGIN
            while time.monotonic() < deadline and supervisor_pid(run) is not None:
                time.sleep(STOP_POLL)
            # it lets go of its lock a moment before its process ends: wait for that too
            while time.monotonic() < deadline and process_matches(pid, "launch.supervisor"):
                time.sleep(STOP_POLL)
            if supervisor_pid(run) is not None:
                kill_group(pid, signal.SIGKILL)
                killed["supervisor"] = pid
        leftovers = live_workers(run, spec)
        for wpid in leftovers.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(wpid, signal.SIGTERM)
        deadline = time.monotonic() + (grace if leftovers else 0)
        while leftovers and time.monotonic() < deadline:
            leftovers = {a: p for a, p in leftovers.items() if process_matches(p)}
            time.sleep(STOP_POLL)
        for wpid in leftovers.values():
            kill_group(wpid, signal.SIGKILL)
        if leftovers:
            killed["workers"] = sorted(leftovers)
        codex = kill_leftover_codex(run)
        if codex:
            killed["codex"] = codex
        hub = _wait_hub_gone(run)
        if hub is not None:
            killed["hub"] = hub
        left = live_workers(run, spec)
        if supervisor_pid(run) is not None or left:
            raise CodeswarmError(f"could not stop everything: workers still alive: {sorted(left)}")
        return killed

    def overlay(self, fleet: FleetState, run: RunDir, spec: SwarmSpec) -> dict[str, Any]:
        from codeswarm.control.fleet.state import FAILED, STOPPED

        alive = live_workers(run, spec)
        for agent, view in fleet.agents.items():
            if agent not in alive and view.state not in (STOPPED, FAILED):
                # the events say it runs, the process table says it does not
                view.state = FAILED
                view.error = view.error or "worker not running"
        return {"supervisor": {"running": supervisor_pid(run) is not None}}

    def live_workers(self, run: RunDir, spec: SwarmSpec) -> int | None:
        return len(live_workers(run, spec))
