"""Keeping one agent's worker alive: the loop both launch backends run (the local supervisor, one
per agent; a Slurm task, for its own agent).

The policy, in one place:

- a worker that exits 0, or is killed by SIGTERM before it could handle it, **stopped on
  request** (``down``, the job's stop signal, a ``shutdown`` record, a person's ``kill``): it
  stays stopped and the loop ends with :attr:`Ending.STOPPED`;
- any other exit is a **crash**: it is recorded in the agent's outbox (``worker.exited``, with
  the delay before the restart; the worker is dead, so the keeper is the outbox's only writer),
  and the worker is restarted with exponential backoff (:data:`BACKOFF_BASE` doubling up to
  :data:`BACKOFF_MAX`);
- after more than :data:`MAX_FAST_FAILURES` crashes in a row, none of which ran
  :data:`STABLE_AFTER` seconds, the agent is **given up** (``final: true``) and the loop ends
  with :attr:`Ending.GAVE_UP`;
- once the keeper is told to stop (:meth:`KeepAlive.stop`), it restarts nothing: the worker gets
  SIGTERM, :data:`DOWN_GRACE` seconds, then SIGKILL for its whole process group.

A worker adopted from an earlier supervisor is not our child, so its exit code is unknown; its
outbox tells: its last record is ``agent.stopped`` with ``requested: true`` when it stopped on
request.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence

from codeswarm.control.launch.forks import Forks
from codeswarm.control.proc import kill_group, pid_in, process_matches, wait_pid
from codeswarm.core.entry import python_module
from codeswarm.core.errors import CodeswarmError
from codeswarm.core.swarm import RunDir
from codeswarm.mailbox import Layout, Writer
from codeswarm.mailbox.writer import last_record

log = logging.getLogger("codeswarm.keepalive")

DOWN_GRACE = 10.0
"""How long a worker gets to stop after SIGTERM before its process group is killed."""
BACKOFF_BASE = 0.5
"""The delay before the first restart; it doubles with every crash in a row."""
BACKOFF_MAX = 30.0
"""The longest delay between restarts."""
STABLE_AFTER = 60.0
"""A worker that ran this long resets the count of crashes in a row."""
MAX_FAST_FAILURES = 8
"""Crashes in a row after which the agent is given up."""


class Ending(enum.Enum):
    """Why :meth:`KeepAlive.run` returned."""

    STOPPED = "stopped"  # the worker stopped on request, or the keeper was told to stop
    GAVE_UP = "gave up"  # too many crashes in a row


def exit_reason(code: int | None) -> str:
    """How a worker ended, in words (``code`` as asyncio reports it: negative for a signal)."""
    if code is None:
        return "worker exited (adopted: exit code unknown)"
    if code < 0:
        return f"worker killed by {signal.Signals(-code).name}"
    return f"worker exited with code {code}"


def stopped_on_request(code: int | None, last_kind: str | None, requested: bool) -> bool:
    """The policy: exit 0, or SIGTERM before the worker's handler ran, is a stop on request; for
    an adopted worker (``code is None``) its last outbox record says."""
    if code is None:
        return last_kind == "agent.stopped" and requested
    return code in (0, -signal.SIGTERM)


def backoff(failures: int) -> float:
    """The delay before restart number ``failures`` (1-based) in a row."""
    return float(min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (failures - 1)))


class Worker:
    """A live worker, however it came (adopted, forked, started): its ``pid``, and :meth:`wait`
    for its end. ``ended`` gives its exit code (``None``: unknown)."""

    def __init__(self, pid: int, ended: Callable[[], Awaitable[int | None]]) -> None:
        self.pid = pid
        self._ended = ended
        self._waiter: asyncio.Future[int | None] | None = None

    async def wait(self) -> int | None:
        """Its exit code once it has ended, as :attr:`subprocess.Popen.returncode` gives it
        (``None``: unknown, as for an adopted worker); any number may wait at once."""
        if self._waiter is None:
            self._waiter = asyncio.ensure_future(self._ended())
        return await asyncio.shield(self._waiter)


async def _unknown_code(pid: int) -> None:
    await wait_pid(pid)


class KeepAlive:
    """Keep one agent's worker running: ``ending = await keeper.run()``; from elsewhere,
    ``await keeper.stop()`` ends it (the worker stopped, nothing restarted).

    ``adopt``: first look for a live worker of this agent left by an earlier supervisor and
    watch it instead of starting one. ``node``: recorded with each exit (Slurm's node name).
    ``command``: the worker's argv (default: ``python -m codeswarm.worker`` for this agent).
    """

    def __init__(
        self,
        run: RunDir,
        agent: str,
        *,
        adopt: bool = False,
        node: str | None = None,
        command: Sequence[str] | None = None,
        forks: Forks | None = None,
    ) -> None:
        self.run_dir = run
        self.command = (
            list(command)
            if command is not None
            else python_module("codeswarm.worker", "--run-dir", str(run.root), "--agent", agent)
        )
        self.agent = agent
        self.adopt = adopt
        self.node = node
        self._worker: Worker | None = None
        self._stopping = asyncio.Event()
        self._grace = DOWN_GRACE
        self._layout = Layout(run.root)
        self._forks = forks if command is None else None  # a zygote forks only the worker

    @property
    def pid(self) -> int | None:
        """The live worker's pid (adopted, forked or started), ``None`` between workers."""
        return self._worker.pid if self._worker is not None else None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> Ending:
        failures = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            code = await self._run_worker()
            if self._stopping.is_set():
                return Ending.STOPPED
            last = last_record(self._layout.outbox(self.agent)) if code is None else None
            if stopped_on_request(
                code,
                last.get("kind") if last else None,
                bool(last and last.get("requested")),
            ):
                log.info("%s: worker stopped on request (%s)", self.agent, exit_reason(code))
                return Ending.STOPPED
            failures = 1 if time.monotonic() - started > STABLE_AFTER else failures + 1
            final = failures > MAX_FAST_FAILURES
            delay = backoff(failures)
            reason = exit_reason(code)
            log.warning(
                "%s: %s; %s", self.agent, reason, "giving up" if final else f"restart in {delay}s"
            )
            self._record_exit(code, reason, None if final else delay, final)
            if final:
                return Ending.GAVE_UP
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        return Ending.STOPPED

    async def stop(self, grace: float = DOWN_GRACE) -> None:
        """Restart nothing more; SIGTERM the live worker, wait up to ``grace`` seconds, then
        SIGKILL its process group. Returns when the worker is gone. Safe to call twice."""
        self._grace = grace
        self._stopping.set()
        if self._worker is not None:
            await self._terminate(self._worker)

    async def _terminate(self, worker: Worker) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGTERM)
        waiter = asyncio.ensure_future(worker.wait())
        done, _pending = await asyncio.wait([waiter], timeout=self._grace)
        if not done:
            log.warning(
                "%s: worker pid %d ignored SIGTERM for %.0fs: SIGKILL",
                self.agent, worker.pid, self._grace,
            )  # fmt: skip
            kill_group(worker.pid, signal.SIGKILL)
            await waiter

    async def _run_worker(self) -> int | None:
        """Adopt, fork or start the worker and wait for it: its exit code (``None`` if
        adopted)."""
        worker = self._adopted() or await self._forked() or await self._started()
        self._worker = worker
        try:
            if self._stopping.is_set():  # told to stop while it was starting
                await self._terminate(worker)
            return await worker.wait()
        finally:
            self._worker = None

    def _adopted(self) -> Worker | None:
        pid = self.adoptable() if self.adopt else None
        if pid is None:
            return None
        log.info("%s: adopting running worker pid %d", self.agent, pid)
        return Worker(pid, lambda: _unknown_code(pid))

    def adoptable(self) -> int | None:
        """The pid of a live worker of this agent left by an earlier keeper, if there is one."""
        pid = pid_in(self.run_dir.worker_pid(self.agent))
        return (
            pid
            if pid is not None and process_matches(pid, "codeswarm.worker", self.agent)
            else None
        )

    def _agent_dir(self) -> None:
        agent_dir = self.run_dir.agent_dir(self.agent)
        agent_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(agent_dir, 0o700)

    async def _forked(self) -> Worker | None:
        """The worker forked by the swarm's zygote (:mod:`.forks`), or ``None``: start it."""
        forks = self._forks
        if forks is None:
            return None
        self._agent_dir()
        pid = await forks.fork(self.agent)
        return Worker(pid, lambda: forks.wait(pid)) if pid is not None else None

    async def _started(self) -> Worker:
        self._agent_dir()
        with open(self.run_dir.worker_log(self.agent), "ab") as logf:
            proc = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.DEVNULL, stdout=logf, stderr=logf,
                start_new_session=True,
            )  # fmt: skip
        return Worker(proc.pid, proc.wait)

    def _record_exit(self, code: int | None, reason: str, delay: float | None, final: bool) -> None:
        try:
            with Writer.open(self._layout.outbox(self.agent), lock=True) as out:
                out.append("worker.exited", agent=self.agent, code=code, reason=reason,
                           restart_in=delay, final=final, node=self.node)  # fmt: skip
        except (OSError, CodeswarmError):
            log.exception("%s: could not record the exit", self.agent)
