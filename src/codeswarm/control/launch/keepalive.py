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
from collections.abc import Sequence

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
        self.pid: int | None = None
        """The live worker's pid (started or adopted), ``None`` between workers."""
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping = asyncio.Event()
        self._grace = DOWN_GRACE
        self._layout = Layout(run.root)
        self._forks = forks if command is None else None  # a zygote forks only the worker

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
        if self.pid is not None:
            await self._terminate(self.pid)

    async def _terminate(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        waiter = asyncio.ensure_future(self._wait_gone(pid))
        done, _pending = await asyncio.wait([waiter], timeout=self._grace)
        if not done:
            log.warning(
                "%s: worker pid %d ignored SIGTERM for %.0fs: SIGKILL",
                self.agent, pid, self._grace,
            )  # fmt: skip
            kill_group(pid, signal.SIGKILL)
            await waiter

    async def _wait_gone(self, pid: int) -> None:
        if self._proc is not None and self._proc.pid == pid:
            await self._proc.wait()
        else:
            await wait_pid(pid)

    async def _run_worker(self) -> int | None:
        """Start (or adopt) the worker and wait for it; its exit code (``None`` if adopted)."""
        adopted = self._adoptable() if self.adopt else None
        if adopted is not None:
            log.info("%s: adopting running worker pid %d", self.agent, adopted)
            self.pid = adopted
            try:
                await wait_pid(adopted)
            finally:
                self.pid = None
            return None
        forked = await self._fork_worker()
        if forked is not None:
            assert self._forks is not None
            self.pid = forked
            try:
                if self._stopping.is_set():
                    await self._terminate(forked)
                return await self._forks.wait(forked)
            finally:
                self.pid = None
        proc = self._proc = await self._start_worker()
        self.pid = proc.pid
        try:
            if self._stopping.is_set():  # told to stop while it was starting
                await self._terminate(proc.pid)
            return await proc.wait()
        finally:
            self.pid, self._proc = None, None

    def _adoptable(self) -> int | None:
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

    async def _fork_worker(self) -> int | None:
        """The worker forked by the swarm's zygote (:mod:`.forks`), or ``None``: start it."""
        if self._forks is None:
            return None
        self._agent_dir()
        return await self._forks.fork(self.agent)

    async def _start_worker(self) -> asyncio.subprocess.Process:
        self._agent_dir()
        with open(self.run_dir.worker_log(self.agent), "ab") as logf:
            return await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.DEVNULL, stdout=logf, stderr=logf,
                start_new_session=True,
            )  # fmt: skip

    def _record_exit(self, code: int | None, reason: str, delay: float | None, final: bool) -> None:
        try:
            with Writer.open(self._layout.outbox(self.agent), lock=True) as out:
                out.append("worker.exited", agent=self.agent, code=code, reason=reason,
                           restart_in=delay, final=final, node=self.node)  # fmt: skip
        except (OSError, CodeswarmError):
            log.exception("%s: could not record the exit", self.agent)
