"""The local launch backend's supervisor: one detached process per swarm that keeps its workers
(and the scripted model, when used) alive.

``python -m codeswarm.control.launch.supervisor --run-dir DIR``. It holds an exclusive lock on
``supervisor.pid`` for its whole life (a second one refuses to start; a stale pid file is never
mistaken for a live supervisor). Each worker is kept alive by :class:`~.keepalive.KeepAlive`
(the same policy as a Slurm task: restarts with backoff, a stop on request stays stopped, given
up after too many crashes). When every agent has stopped for good the supervisor ends, as a
Slurm job does when its last task ends.

If the supervisor itself dies, the workers keep running (each in its own session); a new
supervisor adopts the live ones and watches them through pidfds.

SIGTERM: stop. Workers get SIGTERM (they interrupt their turn and close Codex), then
``DOWN_GRACE`` seconds, then SIGKILL for their whole process group; leftover Codex processes are
killed too; the scripted model stops last.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and sys.argv[1:2] == ["--pending"]:  # before the imports: .pending
    from codeswarm.core.procself import die_with_parent

    die_with_parent(int(sys.argv[2]))
if __name__ == "__main__":  # a process of its own: asyncio without OpenSSL (core/lean.py)
    from codeswarm.core.lean import import_without_openssl

    import_without_openssl()

import asyncio
import contextlib
import logging
import os
import signal
from typing import Any

from codeswarm.control.launch.base import early_hub, keeper_entry
from codeswarm.control.launch.forks import Forks, Prestarted
from codeswarm.control.launch.keepalive import DOWN_GRACE, Ending, KeepAlive
from codeswarm.control.launch.pending import HUB_FLAG
from codeswarm.control.launch.prefork import fork_hub, fork_zygote
from codeswarm.control.proc import PidLock, kill_group, pid_in, process_matches, wait_pid
from codeswarm.core.atomic import KEEP_MODE, atomic_write
from codeswarm.core.entry import python_module
from codeswarm.core.errors import run_guarded
from codeswarm.core.swarm import RunDir, SwarmSpec
from codeswarm.worker.mcphub import drop_pending

TYPE_CHECKING = False
if TYPE_CHECKING:
    from codeswarm.worker.mcphub import HubKeeper

log = logging.getLogger("codeswarm.supervisor")

MODEL_RESTART_DELAY = 0.5
"""How long the supervisor waits before restarting a scripted model that exited."""
MODEL_STOP_GRACE = 5.0
"""How long the scripted model gets to stop after SIGTERM."""


class Supervisor:
    def __init__(self, run: RunDir, zygote: Prestarted | None = None) -> None:
        """``zygote``: one started before the swarm was known (a pending supervisor's; a hub
        it forked is the one the first :func:`~codeswarm.worker.mcphub.ensure_hub` here hands
        the swarm's hub to)."""
        self.run = run
        self.zygote = zygote
        self.spec: SwarmSpec = run.load_spec()
        self.stopping = asyncio.Event()
        self.agents = list(run.agents(self.spec))
        self.keepers: dict[str, KeepAlive] = {}
        self.model_pid: int | None = None

    async def run_forever(self) -> int:
        """Run until SIGTERM/SIGINT or until every agent has stopped for good; the exit code is
        0, or 1 if an agent was given up, 2 if another supervisor holds the lock."""
        lock = PidLock(self.run.supervisor_pid)
        if not lock.acquire():
            log.error("another supervisor is running for %s", self.run.root)
            return 2
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        hub = self._start_hub() if self.spec.coord else None
        drop_pending()  # a forked hub not handed one (one ran already, or none is needed) ends
        forks = Forks.open(self.run, self.agents, self.zygote)
        self.keepers = {a: KeepAlive(self.run, a, adopt=True, forks=forks) for a in self.agents}
        if forks is not None and any(k.adoptable() is None for k in self.keepers.values()):
            forks.start()  # a worker to start: its imports overlap the hub's and Codex's
        elif forks is not None:
            forks.drop_prestarted()  # every worker adopted: no zygote until a restart
        model = (
            asyncio.create_task(self._keep_model()) if self.spec.model_provider == "mock" else None
        )
        keepers = [asyncio.create_task(k.run()) for k in self.keepers.values()]
        watch_stop = asyncio.Event()
        watch = self._start_watch(watch_stop)
        merge = self._start_merge(watch_stop)
        every_agent_done = asyncio.ensure_future(asyncio.gather(*keepers))
        asked = asyncio.ensure_future(self.stopping.wait())
        try:
            either: list[asyncio.Future[Any]] = [every_agent_done, asked]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            watch_stop.set()  # nothing to watch while the workers stop
            if not every_agent_done.done():
                live = sum(1 for k in self.keepers.values() if k.pid is not None)
                log.info("stopping %d workers", live)
                await self._stop_workers()
            else:
                log.info("every agent has stopped: the supervisor ends")
            endings = await every_agent_done
        finally:
            # the workers are gone: the zygote ends, beside what follows
            closing = asyncio.ensure_future(forks.aclose()) if forks is not None else None
            if hub is not None:  # the workers are gone: the hub may end with them
                hub.close()
            asked.cancel()
            watch_stop.set()
            if watch is not None:
                await asyncio.gather(watch, return_exceptions=True)
            if merge is not None:
                await asyncio.gather(merge, return_exceptions=True)
            if model is not None:
                model.cancel()
                await asyncio.gather(model, return_exceptions=True)
            await self._stop_model()
            if closing is not None:
                await closing
            lock.release()
        return 1 if Ending.GAVE_UP in endings else 0

    def _start_hub(self) -> HubKeeper | None:
        """This node's coordination hub, started now if `up` has not already
        (:func:`~.base.early_hub`). The supervisor counts as one of the node's workers until it
        ends, so the hub lives as long as the swarm does here (restarting it is left to the
        workers' keepers: they follow its port). ``None`` if it could not be started: the
        workers start it then."""
        keeper = early_hub(self.run)
        if keeper is None:
            log.warning("could not start the coordination hub: the workers will")
        return keeper

    def _start_watch(self, stop: asyncio.Event) -> asyncio.Task[None] | None:
        """The watchers (docs/watch.md), when the spec configures them."""
        if self.spec.watch is None:
            return None
        from codeswarm.control.watch.runner import keep_watching

        return asyncio.create_task(keep_watching(self.run, self.spec, stop), name="watch")

    def _start_merge(self, stop: asyncio.Event) -> asyncio.Task[None] | None:
        """The merge queue process (docs/isolation.md), when the agents work in worktrees."""
        if self.spec.isolation != "worktree":
            return None
        from codeswarm.control.launch.merge_keeper import keep_merging

        return asyncio.create_task(keep_merging(self.run, stop), name="merge")

    async def _stop_workers(self) -> None:
        await asyncio.gather(*(k.stop(DOWN_GRACE) for k in self.keepers.values()))
        kill_leftover_codex(self.run)

    # -- the scripted model ---------------------------------------------------------------------
    async def _keep_model(self) -> None:
        assert self.spec.script is not None and self.spec.mock_port is not None
        pidfile = self.run.root / "model.pid"
        while not self.stopping.is_set():
            adopted = pid_in(pidfile)
            if adopted is not None and process_matches(adopted, "mock-model", str(self.run.root)):
                log.info("adopting the running scripted model, pid %d", adopted)
                self.model_pid = adopted
                await wait_pid(adopted)
            else:
                logf = open(self.run.root / "model.log", "ab")  # noqa: SIM115 (closed below)
                try:
                    proc = await asyncio.create_subprocess_exec(
                        *python_module("codeswarm", "mock-model", "serve"),
                        "--script", self.spec.script, "--port", str(self.spec.mock_port),
                        "--log", str(self.run.root / "model-requests.jsonl"),
                        stdin=asyncio.subprocess.DEVNULL, stdout=logf, stderr=logf,
                        start_new_session=True,
                    )  # fmt: skip
                finally:
                    logf.close()
                self.model_pid = proc.pid
                atomic_write(pidfile, f"{proc.pid}\n".encode(), mode=KEEP_MODE, durable=False)
                code = await proc.wait()
                log.warning("scripted model exited with code %s", code)
            if self.stopping.is_set():
                return
            await asyncio.sleep(MODEL_RESTART_DELAY)

    async def _stop_model(self) -> None:
        pid = self.model_pid
        if pid is None or not process_matches(pid, "mock-model"):
            return
        kill_group(pid, signal.SIGTERM)
        waiter = asyncio.create_task(wait_pid(pid))
        _done, pending = await asyncio.wait([waiter], timeout=MODEL_STOP_GRACE)
        if pending:
            waiter.cancel()
            kill_group(pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            (self.run.root / "model.pid").unlink()


def kill_leftover_codex(run: RunDir) -> list[int]:
    """SIGKILL the process group of every agent's Codex that is still alive; returns the pids."""
    killed = []
    for pidfile in run.agents_dir.glob("*/codex.pid"):  # RunDir.codex_pid
        pid = pid_in(pidfile)
        if pid is not None and process_matches(pid, "app-server"):
            kill_group(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def _taken_over(zygote: Prestarted | None) -> list[str] | None:
    """A pending supervisor (:mod:`.pending`): wait for the run directory and the log, on the
    socket that is our stdin, take them over and return the command line an ordinarily started
    supervisor would have had (also shown as ours); ``None`` (the zygote ended) when the
    process that started us ends without handing anything over."""
    from codeswarm.core.handover import receive
    from codeswarm.core.procself import outlive_parent, retitle, stdio_to

    got = receive(1)
    run_dir = got[0].get("run_dir") if got is not None else None
    if got is None or not isinstance(run_dir, str):
        for fd in got[1] if got is not None else []:
            os.close(fd)
        if zygote is not None:
            zygote.sock.close()
        return None
    outlive_parent()
    stdio_to(got[1][0])
    args = ["--run-dir", run_dir]
    retitle(python_module("codeswarm.control.launch.supervisor", *args))
    return args


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    zygote = None
    if args[:1] == ["--pending"]:
        zygote = fork_zygote()  # before any thread or event loop; they import beside us
        if args[2:3] == [HUB_FLAG]:
            fork_hub()  # (for this process's first ensure_hub)
        taken = _taken_over(zygote)
        if taken is None:
            return 0
        args = taken
    run_dir = keeper_entry(args, "codeswarm.control.launch.supervisor", "supervisor")
    return run_guarded(
        lambda: asyncio.run(Supervisor(RunDir(run_dir), zygote).run_forever()),
        "codeswarm supervisor",
    )


if __name__ == "__main__":
    sys.exit(main())
