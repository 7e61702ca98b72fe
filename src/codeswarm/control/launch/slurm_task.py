"""One Slurm task: ``srun python -m codeswarm.control.launch.slurm_task --run-dir DIR``.

The agent comes from the task's rank (``SLURM_PROCID``), never from the hostname (every node of a
cluster may report the same one). The task keeps the agent's worker alive with
:class:`~.keepalive.KeepAlive`, the policy the local supervisor uses too: restarts with backoff,
each exit recorded in the agent's outbox, given up after too many quick crashes; a worker that
stopped on request (SIGTERM, a ``shutdown`` record) ends the task.

SIGTERM (the job's stop signal reaches every process of the step, the worker included): wait up
to ``DOWN_GRACE`` for the worker to stop, then SIGKILL its process group; exit 0.

``--model-host HOST`` (the batch step, once, before ``srun``): record where the step serves the
scripted model in the spec (:func:`record_model_host`) and exit.

The job owns the lifetime: when the job ends, Slurm kills whatever is left of the task.
Exit codes: 0 stopped, 1 the agent was given up (or a failure), 2 bad input.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # a process of its own: asyncio without OpenSSL (core/lean.py)
    from codeswarm.core.lean import import_without_openssl

    import_without_openssl()

import asyncio
import logging
import os
import signal
from pathlib import Path

from codeswarm.control.launch.base import early_hub, keeper_entry
from codeswarm.control.launch.keepalive import DOWN_GRACE, Ending, KeepAlive
from codeswarm.core.errors import UsageError, run_guarded
from codeswarm.core.swarm import RunDir, agent_id

log = logging.getLogger("codeswarm.slurm_task")


async def keep_task(run: RunDir, agent: str, *, hub: bool = False) -> int:
    """Keep the agent's worker alive until it stops on request, is given up, or the task gets
    SIGTERM/SIGINT; the task's exit code. ``hub``: make sure this node's coordination hub runs
    first (the first task of a node starts it while the workers import) and count as one of
    the node's workers until the task ends (:func:`~.base.early_hub`)."""
    held = early_hub(run) if hub else None
    try:
        return await _keep(run, agent)
    finally:
        if held is not None:
            held.close()


async def _keep(run: RunDir, agent: str) -> int:
    keeper = KeepAlive(run, agent, node=os.environ.get("SLURMD_NODENAME"))
    loop = asyncio.get_running_loop()
    stop_tasks: set[asyncio.Task[None]] = set()

    def on_signal() -> None:
        task = asyncio.create_task(keeper.stop(DOWN_GRACE))
        stop_tasks.add(task)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    ending = await keeper.run()
    await asyncio.gather(*stop_tasks)
    return 1 if ending is Ending.GAVE_UP else 0


def record_model_host(run: RunDir, host: str) -> None:
    """Write ``host`` into the spec as the scripted model's (``mock_host``): the batch step runs
    the model on its node, known only once the job runs, and the workers, on any node, build
    the model's URL from the spec. Atomic: a reader sees the old spec or the new one."""
    import msgspec

    from codeswarm.core.atomic import atomic_write

    host = host.strip()
    if not host or any(c.isspace() or c in "/@?#" for c in host):
        raise UsageError(f"--model-host: not a host name or address: {host!r}")
    spec = msgspec.structs.replace(run.load_spec(), mock_host=host)
    atomic_write(run.spec_path, msgspec.json.format(msgspec.json.encode(spec), indent=2) + b"\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--model-host" in args:  # the batch step, once, before the tasks start
        i = args.index("--model-host")
        host = args[i + 1] if i + 1 < len(args) else ""
        rest = args[:i] + args[i + 2 :]
        run_dir = keeper_entry(rest, "codeswarm.control.launch.slurm_task", "slurm_task")

        def record() -> int:
            record_model_host(RunDir(run_dir), host)
            return 0

        return run_guarded(record, "codeswarm slurm task")
    run_dir = keeper_entry(argv, "codeswarm.control.launch.slurm_task", "slurm_task")
    return run_guarded(lambda: _run(run_dir), "codeswarm slurm task")


def _run(run_dir: Path) -> int:
    rank = os.environ.get("SLURM_PROCID", "")
    if not rank.isdigit():
        raise UsageError("not in a Slurm task: SLURM_PROCID is not set")
    run = RunDir(run_dir)
    spec = run.load_spec()
    if int(rank) >= spec.size:
        raise UsageError(f"task rank {rank} but the swarm has {spec.size} agents")
    return asyncio.run(keep_task(run, agent_id(spec.name, int(rank)), hub=spec.coord))


if __name__ == "__main__":
    sys.exit(main())
