"""The run controller: follows a run's swarm (the router's events) and the coordination store
(its audit log and tasks) and decides when the run ends, and why.

A run ends, first come first served, when:

- the orchestrator calls ``finish``: audit ``run.finished`` by one of the run's agents (exit 0);
- a budget stops it: a ``budget.exceeded`` of scope ``swarm`` (event or audit row), or of scope
  ``agent`` for the orchestrator, which can then never be woken again (exit 4);
- ``max_time`` passes (exit 1);
- SIGINT or SIGTERM arrives (exit 130);
- nothing is left to do: every agent idle and no event from any agent for :data:`SETTLE_S`
  after an orchestrator turn. An orchestrator whose turn failed ends the run at once (exit 1);
  one that ended its turn without calling ``finish`` is told so once (:func:`.prompt.nudge_prompt`)
  and the run ends (exit 1) if it stops again without finishing.

Wake-ups are pushed (a task's completion is a message that starts an orchestrator turn within
milliseconds), so seconds of silence with every agent idle mean nothing will happen any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codeswarm.control.fleet.state import IDLE, STOPPED
from codeswarm.control.run.prompt import nudge_prompt
from codeswarm.core import events as ev

if TYPE_CHECKING:
    from codeswarm.control.fleet.router import Router
    from codeswarm.coordination import AuditEvent, Coord, Task
    from codeswarm.core.events import Event

EXIT_FINISHED = 0
EXIT_FAILED = 1
EXIT_BUDGET = 4
EXIT_INTERRUPTED = 130

SETTLE_S = 3.0
"""Seconds of silence, every agent idle, after which a run has nothing left to do."""
STORE_WAIT_S = 0.5
"""The longest one wait on the store's audit log blocks (and so the controller's stop takes)."""
IDLE_CHECK_S = 0.25
FINISH_GRACE_S = 10.0
"""After ``finish``, how long the orchestrator's turn may go on before the run ends anyway."""
MESSAGE_CHUNK = 500
BUDGET_EXCEEDED = "budget.exceeded"
RUN_FINISHED = "run.finished"


@dataclass(frozen=True)
class RunEnd:
    """How a run ended."""

    outcome: str
    """finished | failed | budget | max_time | interrupted"""
    exit_code: int
    message: str
    """One line for the person."""
    summary: str | None = None
    """The orchestrator's own summary (``finish(summary)``), when it finished."""


@dataclass
class Board:
    """What the run looks like now (for the live display)."""

    tasks: list[Task] = field(default_factory=list)


def agent_of(ref: str | None) -> str | None:
    """``name#generation`` → ``name``."""
    return None if ref is None else ref.partition("#")[0]


class RunController:
    """Follows one run until it ends. ``since_seq``: the audit seq before the swarm started
    (older rows, of earlier runs in the same project, are not this run's)."""

    def __init__(
        self,
        router: Router,
        coord: Coord,
        *,
        orchestrator: str,
        since_seq: int,
        started_at: float,
        max_time: float | None = None,
        on_change: Callable[[], None] | None = None,
        settle_s: float = SETTLE_S,
    ) -> None:
        self.router = router
        self.coord = coord
        self.orchestrator = orchestrator
        self.agents = set(router.agents)
        self.started_at = started_at
        self.max_time = max_time
        self.board = Board()
        self._seq = since_seq
        self.on_change = on_change
        self._settle_s = settle_s
        self._last_event = time.monotonic()
        self._orch_failed: str | None = None
        self._nudged_at_turn: int | None = None
        self._done: asyncio.Future[RunEnd] | None = None
        self._finished: RunEnd | None = None
        self.goal_id: str | None = None
        """The inbox id of the goal's message (its rejection ends the run)."""
        self._finished_at = 0.0
        self._stopping = False

    # -- the run ---------------------------------------------------------------------------------
    async def run(self) -> RunEnd:
        """Follow the run until it ends; returns why. Signal handlers for SIGINT/SIGTERM are
        installed for the duration."""
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        signals = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._interrupted, sig)
                signals.append(sig)
        await self._refresh_board()
        workers = [
            asyncio.create_task(self._follow(), name="run-follow"),
            asyncio.create_task(self._watch_store(), name="run-store"),
            asyncio.create_task(self._watch_idle(), name="run-idle"),
        ]
        for task in workers:
            task.add_done_callback(self._crashed)
        try:
            try:
                return await asyncio.wait_for(asyncio.shield(self._done), self.max_time)
            except TimeoutError:
                return RunEnd(
                    "max_time",
                    EXIT_FAILED,
                    f"stopped: --max-time ({_duration(self.max_time or 0)}) passed before the "
                    "orchestrator finished",
                )
        finally:
            self._stopping = True
            for sig in signals:
                loop.remove_signal_handler(sig)
            for task in workers:
                task.remove_done_callback(self._crashed)
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self.router.close()

    def _end(self, end: RunEnd) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(end)

    def _interrupted(self, sig: signal.Signals) -> None:
        name = "Ctrl-C" if sig == signal.SIGINT else sig.name
        self._end(RunEnd("interrupted", EXIT_INTERRUPTED, f"interrupted ({name})"))

    def _crashed(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._done is None or self._done.done():
            return
        exc = task.exception()
        if exc is not None:
            self._done.set_exception(exc)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # -- the swarm's events ---------------------------------------------------------------------
    async def _follow(self) -> None:
        async for batch in self.router.follow():
            self._last_event = time.monotonic()
            for event in batch:
                self._on_event(event)
            self._changed()

    def _on_event(self, event: Event) -> None:
        kind = event.get("type")
        agent = event.get("agent")
        if kind == BUDGET_EXCEEDED:
            self._budget(event.get("scope"), agent, event)
        elif agent == self.orchestrator and kind == ev.AGENT_FAILED and event.get("final"):
            self._end(
                RunEnd(
                    "failed",
                    EXIT_FAILED,
                    f"the orchestrator's worker stopped for good ({event.get('reason')})",
                )
            )
        elif agent == self.orchestrator and kind == ev.ERROR and self._is_goal(event):
            self._end(
                RunEnd(
                    "failed", EXIT_FAILED, f"the orchestrator refused the goal: {event['message']}"
                )
            )
        elif agent == self.orchestrator and kind == ev.TURN_COMPLETED:
            failed = event.get("status") == "failed"
            self._orch_failed = str(event.get("error") or "failed") if failed else None
            self._end_finished()

    def _is_goal(self, event: Event) -> bool:
        return self.goal_id is not None and event.get("inbox_id") == self.goal_id

    def _budget(self, scope: object, agent: object, data: dict[str, Any]) -> None:
        spent, limit = data.get("spent"), data.get("limit")
        figures = f": {spent} of {limit} tokens spent (input + output)" if limit else ""
        if scope == "swarm":
            self._end(RunEnd("budget", EXIT_BUDGET, f"stopped: the run's budget is spent{figures}"))
        elif scope == "agent" and agent == self.orchestrator:
            self._end(
                RunEnd(
                    "budget",
                    EXIT_BUDGET,
                    f"stopped: the orchestrator's budget is spent{figures}",
                )
            )

    # -- the store ------------------------------------------------------------------------------
    async def _watch_store(self) -> None:
        while not self._stopping:
            rows = await self.coord.wait_async(since=self._seq, timeout=STORE_WAIT_S)
            if not rows:
                continue
            for row in rows:
                self._seq = max(self._seq, row.seq)
                self._on_audit(row)
            await self._refresh_board()
            self._changed()

    def _on_audit(self, row: AuditEvent) -> None:
        if agent_of(row.agent) not in self.agents:
            return  # another swarm of the same project
        data = row.data if isinstance(row.data, dict) else {}
        if row.kind == RUN_FINISHED:
            summary = data.get("summary")
            self._finished_at = time.monotonic()
            self._finished = RunEnd(
                "finished",
                EXIT_FINISHED,
                "the orchestrator finished the run",
                summary=summary if isinstance(summary, str) else None,
            )
            self._end_finished()
        elif row.kind == BUDGET_EXCEEDED:
            self._budget(data.get("scope"), agent_of(row.agent), data)

    def _end_finished(self) -> None:
        """The run finished: it ends once the orchestrator's turn is over (its last words are
        not cut short), or after :data:`FINISH_GRACE_S`."""
        if self._finished is None:
            return
        waited = time.monotonic() - self._finished_at
        if self.router.fleet.view(self.orchestrator).state == IDLE or waited >= FINISH_GRACE_S:
            self._end(self._finished)

    async def _refresh_board(self) -> None:
        self.board = await asyncio.to_thread(read_board, self.coord, self.agents, self.started_at)

    # -- nothing left to do ---------------------------------------------------------------------
    async def _watch_idle(self) -> None:
        while True:
            await asyncio.sleep(IDLE_CHECK_S)
            if self._finished is not None:
                self._end_finished()
                continue
            if not self._settled():
                continue
            turns = self.router.fleet.view(self.orchestrator).turns
            if self._orch_failed is not None:
                self._end(
                    RunEnd(
                        "failed",
                        EXIT_FAILED,
                        f"the orchestrator's turn failed ({self._orch_failed}) and nothing is "
                        "left to run",
                    )
                )
                return
            if self._nudged_at_turn is None:
                from codeswarm.control.steering import send

                self._nudged_at_turn = turns
                self._last_event = time.monotonic()
                send(self.router.run, [self.orchestrator], nudge_prompt())
                continue
            if turns > self._nudged_at_turn:
                self._end(
                    RunEnd(
                        "failed",
                        EXIT_FAILED,
                        "the orchestrator stopped without calling finish and nothing is left "
                        "to run",
                    )
                )
                return

    def _settled(self) -> bool:
        """Every agent idle (or stopped), the orchestrator has had a turn, and nothing has
        been heard from any agent for the settle time."""
        fleet = self.router.fleet
        orch = fleet.view(self.orchestrator)
        if orch.state != IDLE or orch.turns == 0:
            return False
        if any(fleet.view(a).state not in (IDLE, STOPPED) for a in self.agents):
            return False
        return time.monotonic() - self._last_event >= self._settle_s


def read_board(coord: Coord, agents: set[str], since: float) -> Board:
    """The run's tasks: those its agents created since it started. Blocking: call it in a
    thread from asyncio code."""
    tasks = [
        t for t in coord.tasks() if agent_of(t.created_by) in agents and t.created_at >= since - 1.0
    ]
    return Board(tasks=tasks)


def message_tasks(coord: Coord, ids: list[int]) -> dict[int, int]:
    """Message id → the task it is about, for the messages of ``ids`` that are about one.
    Blocking."""
    out: dict[int, int] = {}
    for i in range(0, len(ids), MESSAGE_CHUNK):
        chunk = ids[i : i + MESSAGE_CHUNK]
        marks = ", ".join("?" * len(chunk))
        with coord.store.read() as tx:
            rows = tx.query(
                f"SELECT id, task_id FROM messages WHERE scope = ? AND id IN ({marks})",
                [coord.scope, *chunk],
            )
        out.update({int(m): int(t) for m, t in rows if t is not None})
    return out


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s % 3600 == 0 and s:
        return f"{s // 3600}h"
    if s % 60 == 0 and s:
        return f"{s // 60}m"
    return f"{seconds:g}s"
