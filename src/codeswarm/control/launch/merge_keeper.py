"""The local supervisor's part for a worktree swarm: keep its merge queue process
(``python -m codeswarm.control.merge.runner``, a wire contract: started by name, not imported,
since the queue sits above ``launch``) running next to the workers, started again after
it dies (a crash, a kill), stopped (SIGTERM, then SIGKILL) when the supervisor stops. A queue
process that someone else started (``codeswarm merge run``) is left alone while it lives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable
from typing import Any

from codeswarm.control.proc import kill_group, running_pid, wait_pid
from codeswarm.core.entry import python_module
from codeswarm.core.swarm import RunDir

log = logging.getLogger("codeswarm.merge")

MODULE = "codeswarm.control.merge.runner"
LOCK_NAME = "runner.pid"
"""The queue process's pid lock in ``<run>/merge`` (:func:`codeswarm.control.merge.runner.lock_path`)."""
RESTART_DELAY = 1.0
STOP_GRACE = 10.0


async def keep_merging(run: RunDir, stop: asyncio.Event) -> None:
    from codeswarm.mailbox import ensure_private_dir

    ensure_private_dir(run.merge_dir)
    while not stop.is_set():
        other = running_pid(run.merge_dir / LOCK_NAME)
        if other is not None and other > 0:
            log.info("merge: adopting the running queue process, pid %d", other)
            await _until(wait_pid(other), stop)
        else:
            logf = open(run.merge_dir / "runner.log", "ab")  # noqa: SIM115 (closed below)
            try:
                proc = await asyncio.create_subprocess_exec(
                    *python_module(MODULE), "--run-dir", str(run.root),
                    stdin=asyncio.subprocess.DEVNULL, stdout=logf, stderr=logf,
                    start_new_session=True,
                )  # fmt: skip
            finally:
                logf.close()
            await _until(proc.wait(), stop)
            if stop.is_set():
                await _stop(proc)
                return
            if proc.returncode == 2 and running_pid(run.merge_dir / LOCK_NAME) is None:
                # bad input (see its log), not another queue process: starting again cannot help
                log.error("merge: the queue process refused to run (exit 2): see %s",
                          run.merge_dir / "runner.log")  # fmt: skip
                return
            log.warning("merge: the queue process exited with code %s", proc.returncode)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RESTART_DELAY)


async def _until(aw: Awaitable[Any], stop: asyncio.Event) -> None:
    task = asyncio.ensure_future(aw)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, stopper, return_exceptions=True)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    kill_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), STOP_GRACE)
    except TimeoutError:
        kill_group(proc.pid, signal.SIGKILL)
        await proc.wait()
