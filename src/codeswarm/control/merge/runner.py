"""The queue process: ``python -m codeswarm.control.merge.runner --run-dir R``.

One per swarm: it holds an exclusive lock on ``<run>/merge/runner.pid`` for its whole life (a
second one exits with code 2). For a swarm whose isolation is ``worktree`` the local supervisor
(:mod:`codeswarm.control.launch.merge_keeper`) or a Slurm job's batch step starts it, and again if
it dies; ``codeswarm merge run S`` runs it in the foreground (a queue to drain by hand).

It follows the journal (inotify through :class:`~codeswarm.mailbox.Follower`, polling on network
filesystems) and runs :meth:`~.engine.MergeQueue.step` whenever something was submitted, until
nothing waits; a queue held (a dirty target tree, a check that cannot start) is tried again every
``RETRY_S`` seconds. SIGTERM/SIGINT: a running check is killed and the process ends; nothing is
recorded for the round cut short (the next process does it again).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from codeswarm.control.merge import journal
from codeswarm.control.merge.engine import MergeQueue, kill_orphan_check
from codeswarm.control.proc import PidLock
from codeswarm.core.errors import (
    CodeswarmError,
    StopRequested,
    UsageError,
    WriterBusyError,
    run_guarded,
)
from codeswarm.core.swarm import RunDir, swarm_scope

log = logging.getLogger("codeswarm.merge")

RETRY_S = 2.0
"""Seconds between attempts while the queue is held (a dirty target tree, a check that cannot
start): the person cleaning their tree is not an event we can follow."""
BATCH_WINDOW_S = 0.2
"""After a submission arrives, how long to wait for others coming with it (one batch)."""


def lock_path(run: RunDir) -> Path:
    from codeswarm.control.launch.merge_keeper import LOCK_NAME

    return run.merge_dir / LOCK_NAME


async def run_queue(run: RunDir, stop: asyncio.Event | None = None) -> None:
    """Process the queue of ``run`` until ``stop`` is set (forever without one). Raises
    :class:`WriterBusyError` when another queue process has this swarm."""
    from codeswarm.mailbox import Follower, ensure_private_dir

    spec = run.load_spec()
    if spec.isolation != "worktree":
        raise UsageError(f"swarm {spec.name!r} does not use worktrees: it has no merge queue")
    ensure_private_dir(run.merge_dir)
    lock = PidLock(lock_path(run))
    if not lock.acquire():
        raise WriterBusyError(f"another merge queue process runs for {run.root}")
    coord = None
    writer = journal.open_writer(run)
    try:
        kill_orphan_check(run)
        if spec.coord:
            from codeswarm.coordination import Coord

            try:
                coord = await asyncio.to_thread(Coord.open, spec.coord_db, root=swarm_scope(spec))
            except CodeswarmError as exc:
                log.warning("merge: no coordination store (%s): no audit rows, no messages", exc)
        queue = MergeQueue(run, spec, writer=writer, coord=coord)
        stop = stop or asyncio.Event()
        follower = Follower(journal.journal_path(run), writer.position)
        waker = asyncio.Event()
        waker.set()  # what waits already

        async def follow() -> None:
            async for record, _ in follower:
                if record.get("kind") == journal.QUEUED:
                    waker.set()

        async def stopper() -> None:
            await stop.wait()
            queue.stop()

        tasks = [asyncio.create_task(follow()), asyncio.create_task(stopper())]
        try:
            left = False  # submissions wait that the last round did not end
            while not stop.is_set():
                if not waker.is_set():
                    held = left or queue.held is not None or queue.waiting is not None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            _first(waker.wait(), stop.wait()), RETRY_S if held else None
                        )
                    if stop.is_set():
                        break
                    if waker.is_set():
                        await asyncio.sleep(BATCH_WINDOW_S)  # others submitted with it: one batch
                waker.clear()
                try:
                    done = await asyncio.to_thread(queue.step)
                except StopRequested:
                    break
                if done.merged or done.rejected:
                    waker.set()  # what was left goes in the next round, now
                left = bool(journal.state(run).pending)
        finally:
            follower.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        writer.close()
        if coord is not None:
            coord.close()
        lock.release()


async def _first(*aws: Awaitable[Any]) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


async def _main(run: RunDir) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await run_queue(run, stop)
    except WriterBusyError as exc:
        print(f"codeswarm merge queue: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codeswarm.control.merge.runner")
    parser.add_argument("--run-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        stream=sys.stderr)  # fmt: skip
    return run_guarded(lambda: asyncio.run(_main(RunDir(args.run_dir))),
                       "codeswarm merge queue")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
