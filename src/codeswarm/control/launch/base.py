"""The one interface every launch backend offers, and what they share.

A backend starts a swarm's workers somewhere (``local``: a supervisor process on this machine;
``slurm``: one job, one task per agent), says when every agent is ready, stops them, and
overlays what actually runs onto the fleet state the outboxes tell. Every backend produces the
same run directory layout, so everything above (router, steering, the CLI) does not care which
one launched the fleet. The CLI calls :class:`Backend` methods and never branches on the kind.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from codeswarm.core.atomic import atomic_write
from codeswarm.core.errors import CodeswarmError
from codeswarm.core.swarm import RunDir, SwarmSpec
from codeswarm.mailbox import Layout

if TYPE_CHECKING:
    from codeswarm.control.fleet.router import Router
    from codeswarm.control.fleet.state import FleetState
    from codeswarm.worker.mcphub import HubKeeper

Progress = Callable[[str, int, int], None]
"""``progress(phase, ready, total)``: ``phase`` says where the launch stands (``starting
agents``, ``job 12 PENDING (Priority)``, …), ``ready`` of ``total`` agents are ready."""


@dataclass(frozen=True)
class Ready:
    """Every agent is ready. ``where`` ends the line ``up`` prints (``in /src/project``, ``in
    slurm job 12 RUNNING on node[1-3]``); ``extra`` is merged into ``up --json``."""

    where: str
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """What ``up``, ``down``, ``status`` and ``ls`` need of a launch backend."""

    name: str

    def prepare(self, spec: SwarmSpec, previous: SwarmSpec | None) -> tuple[SwarmSpec, list[str]]:
        """Check the spec against this backend (UsageError for what it cannot run) and return it
        fit for launching (for example a coordination store reachable from every node), with
        warnings for the person. ``previous``: the spec of an earlier launch of this swarm."""
        ...

    def running(self, run: RunDir) -> str | None:
        """If the swarm's workers are up (or queued): a description of what runs; else None."""
        ...

    def launch(self, run: RunDir, router: Router, *, fresh: bool) -> str | None:
        """Start the workers; the router's fleet is marked as the new launch will see it.
        ``fresh``: the run directory was created for this launch (a rejected launch removes it
        again). Returns a line to show the person (``submitted batch job 12 …``), if any."""
        ...

    async def wait_ready(
        self, router: Router, deadline_s: float, progress: Progress | None = None
    ) -> Ready:
        """Follow the launch until every agent is ready. Raises CodeswarmError when an agent
        fails, the launch ends first, or ``deadline_s`` passes (saying where things stand)."""
        ...

    def stop(self, run: RunDir, spec: SwarmSpec, *, grace: float) -> dict[str, object]:
        """Stop every worker: gracefully, then by force after ``grace`` seconds. Returns what
        had to be forced; raises CodeswarmError if something could not be stopped."""
        ...

    def overlay(self, fleet: FleetState, run: RunDir, spec: SwarmSpec) -> dict[str, Any]:
        """Correct the fleet's states with what actually runs (a worker that died without a
        word is failed); returns the backend's sections of the status JSON."""
        ...

    def live_workers(self, run: RunDir, spec: SwarmSpec) -> int | None:
        """How many workers run (``None``: this machine cannot tell, e.g. on other nodes)."""
        ...


def create_run(run: RunDir, spec: SwarmSpec) -> None:
    """Create the run directory (0700) and its mailbox; write the spec atomically."""
    run.root.mkdir(parents=True, exist_ok=True)
    os.chmod(run.root, 0o700)
    Layout(run.root).create()
    run.agents_dir.mkdir(exist_ok=True)
    os.chmod(run.agents_dir, 0o700)
    import msgspec

    atomic_write(run.spec_path, msgspec.json.format(msgspec.json.encode(spec), indent=2) + b"\n")


def ready_count(router: Router) -> int:
    from codeswarm.control.fleet.state import IDLE

    return sum(1 for v in router.fleet.agents.values() if v.state == IDLE)


async def follow_until_ready(
    router: Router, phase: Callable[[], str], progress: Progress | None
) -> None:
    """Follow the outboxes until every agent is ready (idle); CodeswarmError naming the agents
    that failed to start, as soon as one has."""
    from codeswarm.control.fleet.state import FAILED

    total = len(router.agents)
    if ready_count(router) == total:  # adopted workers that were ready all along
        return
    async for _batch in router.follow():
        if progress is not None:
            progress(phase(), ready_count(router), total)
        bad = [f"{v.id}: {v.error}" for v in router.fleet.agents.values() if v.state == FAILED]
        if bad:
            raise CodeswarmError("an agent failed to start: " + "; ".join(bad))
        if ready_count(router) == total:
            return


def not_ready_agents(router: Router) -> list[str]:
    from codeswarm.control.fleet.state import IDLE

    return [v.id for v in router.fleet.agents.values() if v.state != IDLE]


def early_hub(run: RunDir) -> HubKeeper | None:
    """Start the swarm's coordination hub on this machine now (``up`` and the local supervisor
    do, before the workers would: every agent's first thread waits for the hub, whose start-up
    then overlaps theirs). The returned keeper counts as one of the node's workers (the hub
    lives while one does) and restarts nothing (the workers' keepers do, and follow its port).
    ``None`` when it could not be started: the workers start it then."""
    from codeswarm.worker.mcphub import HubKeeper, ensure_hub

    try:
        keeper = HubKeeper(run.mcp_dir, lambda port: None)  # no keeping thread
    except OSError:
        return None
    try:
        ensure_hub(run.mcp_dir)
    except (OSError, RuntimeError):
        keeper.close()
        return None
    return keeper


def keeper_entry(argv: list[str] | None, module: str, log_name: str) -> Path:
    """The command line of a process that keeps workers alive (``python -m MODULE --run-dir
    DIR``): parse it, send log lines to stderr tagged ``log_name``; returns the run directory."""
    p = argparse.ArgumentParser(prog=f"python -m {module}")
    p.add_argument("--run-dir", type=Path, required=True)
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s {log_name} %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    return Path(args.run_dir).resolve()
