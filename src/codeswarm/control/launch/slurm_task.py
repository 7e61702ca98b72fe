"""One Slurm task: ``srun python -m codeswarm.control.launch.slurm_task --run-dir DIR``.

The agent comes from the task's rank (``SLURM_PROCID``), never from the hostname (every node of a
cluster may report the same one). The task runs the agent's worker and, like the local
supervisor, restarts it after a crash with exponential backoff, recording each exit in the
agent's outbox (``worker.exited``) and giving up after ``MAX_FAST_FAILURES`` quick failures. A
worker that exits 0 stopped on request (SIGTERM, a ``shutdown`` record): the task ends too.

SIGTERM (the job's stop signal reaches every process of the step, the worker included): wait up
to ``DOWN_GRACE`` for the worker to stop, then SIGKILL its process group; exit 0.

The job owns the lifetime: when the job ends, Slurm kills whatever is left of the task.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

from codeswarm.control.launch.supervisor import (
    BACKOFF_BASE,
    BACKOFF_MAX,
    DOWN_GRACE,
    MAX_FAST_FAILURES,
    STABLE_AFTER,
    kill_group,
)
from codeswarm.core.errors import CodeswarmError, UsageError
from codeswarm.core.swarm import RunDir, agent_id
from codeswarm.mailbox import Layout, Writer

log = logging.getLogger("codeswarm.slurm_task")


def exit_reason(code: int) -> str:
    if code < 0:
        return f"worker killed by {signal.Signals(-code).name}"
    return f"worker exited with code {code}"


class Task:
    """Keep one agent's worker running until it stops on request or the task is told to stop."""

    def __init__(self, run: RunDir, agent: str) -> None:
        self.run = run
        self.agent = agent
        self.layout = Layout(run.root)
        self.stopping = asyncio.Event()
        self.proc: asyncio.subprocess.Process | None = None

    async def run_forever(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        keeper = asyncio.create_task(self._keep_worker())
        stop = asyncio.create_task(self.stopping.wait())
        await asyncio.wait([keeper, stop], return_when=asyncio.FIRST_COMPLETED)
        if not keeper.done():
            await self._stop_worker()
            keeper.cancel()
        stop.cancel()
        results = await asyncio.gather(keeper, stop, return_exceptions=True)
        failure = results[0]
        if isinstance(failure, BaseException) and not isinstance(failure, asyncio.CancelledError):
            raise failure
        return failure if isinstance(failure, int) else 0

    async def _keep_worker(self) -> int:
        failures = 0
        while True:
            started = time.monotonic()
            proc = self.proc = await self._start_worker()
            code = await proc.wait()
            self.proc = None
            # SIGTERM before the worker could handle it is a stop request all the same
            if code in (0, -signal.SIGTERM) or self.stopping.is_set():
                log.info("%s: worker stopped (code %d)", self.agent, code)
                return 0
            failures = 1 if time.monotonic() - started > STABLE_AFTER else failures + 1
            final = failures > MAX_FAST_FAILURES
            delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (failures - 1))
            reason = exit_reason(code)
            log.warning(
                "%s: %s; %s", self.agent, reason, "giving up" if final else f"restart in {delay}s"
            )
            self._record_exit(code, reason, None if final else delay, final)
            if final:
                return 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            if self.stopping.is_set():
                return 0

    async def _start_worker(self) -> asyncio.subprocess.Process:
        agent_dir = self.run.agent_dir(self.agent)
        agent_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(agent_dir, 0o700)
        with open(self.run.worker_log(self.agent), "ab") as logf:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "codeswarm.worker",
                "--run-dir", str(self.run.root), "--agent", self.agent,
                stdin=asyncio.subprocess.DEVNULL, stdout=logf, stderr=logf,
                start_new_session=True,
            )  # fmt: skip

    def _record_exit(self, code: int, reason: str, delay: float | None, final: bool) -> None:
        try:
            with Writer.open(self.layout.outbox(self.agent), lock=True) as out:
                out.append("worker.exited", agent=self.agent, code=code, reason=reason,
                           restart_in=delay, final=final, node=os.environ.get("SLURMD_NODENAME"))  # fmt: skip
        except (OSError, CodeswarmError):
            log.exception("%s: could not record the exit", self.agent)

    async def _stop_worker(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)  # it has likely had the job's SIGTERM already
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), DOWN_GRACE)
        except TimeoutError:
            log.warning("%s: worker ignored SIGTERM for %.0fs: SIGKILL", self.agent, DOWN_GRACE)
            kill_group(proc.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m codeswarm.control.launch.slurm_task")
    p.add_argument("--run-dir", type=Path, required=True)
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s slurm_task %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        rank = os.environ.get("SLURM_PROCID", "")
        if not rank.isdigit():
            raise UsageError("not in a Slurm task: SLURM_PROCID is not set")
        run = RunDir(args.run_dir.resolve())
        spec = run.load_spec()
        if int(rank) >= spec.size:
            raise UsageError(f"task rank {rank} but the swarm has {spec.size} agents")
        agent = agent_id(spec.name, int(rank))
        return asyncio.run(Task(run, agent).run_forever())
    except CodeswarmError as exc:
        print(f"codeswarm slurm task: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())
