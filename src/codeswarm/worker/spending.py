"""A worker's budgets in action (the part of :class:`codeswarm.worker.agent.Worker` that acts on
its :class:`~codeswarm.worker.budget.Ledger`): every usage update counted as the relay receives
it; the first one past a limit interrupts the running turn at once, and the store and the
orchestrator are told; before a turn starts, whether a budget refuses it; the agent's usage saved
with its state and published in the store (kv ``usage/<agent>``), where the swarm's is summed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

from codeswarm.codex.turn import TurnHandle
from codeswarm.core.atomic import atomic_write_json
from codeswarm.core.errors import CodexError, CoordError
from codeswarm.core.swarm import RunDir, SwarmSpec, agent_rank
from codeswarm.worker.budget import Budgets, Crossing, Ledger, Usage
from codeswarm.worker.coordlink import CoordLink
from codeswarm.worker.wiring import role_of


class Spending:
    """Mixed into the worker: what it needs of the worker is declared here."""

    agent: str
    run_dir: RunDir
    spec: SwarmSpec
    turn: TurnHandle | None
    coord: CoordLink | None
    state: dict[str, Any]
    state_path: Path
    budgets: Budgets
    ledger: Ledger
    _usage_changed: asyncio.Event
    _budget_stopped: set[str]
    _others_tasks: set[int]

    def emit(self, kind: str, **fields: Any) -> None:
        raise NotImplementedError

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        raise NotImplementedError

    def _on_usage(self, usage: Usage, mono_ns: int) -> None:
        """A usage update, as the relay receives it (``mono_ns``): counted at once, and past a
        limit the running turn is interrupted at once (:mod:`codeswarm.worker.budget`)."""
        self._crossed(self.ledger.usage(usage), mono_ns, usage.turn_id)
        self._usage_changed.set()

    def _crossed(self, crossings: list[Crossing], mono_ns: int, turn_id: str | None) -> None:
        """Say each crossing (``budget.warning`` / ``budget.exceeded``); for one past a limit,
        interrupt the turn it concerns (then tell the store and the orchestrator)."""
        for c in crossings:
            self.emit(f"budget.{c.kind}", **c.fields(), turn_id=turn_id, mono_ns=mono_ns)
        turn = self.turn
        for c in crossings:
            if c.kind != "exceeded" or turn is None or turn.turn_id in self._budget_stopped:
                continue
            if c.scope != "task" or self.ledger.turn_tasks.get(turn.turn_id) == c.task_id:
                self._budget_stopped.add(turn.turn_id)
                self._spawn(self._budget_interrupt(turn, c, mono_ns), "budget-interrupt")
        for c in crossings:
            if self.coord is not None:
                self._spawn(self._budget_told(self.coord, c), "budget-told")

    async def _budget_interrupt(self, turn: TurnHandle, crossing: Crossing, mono_ns: int) -> None:
        sent = time.monotonic_ns()  # the request is written in this same step of the loop
        try:
            await turn.interrupt()
        except CodexError as exc:
            self.emit("error", message=f"turn {turn.turn_id} past its budget could not be "
                      f"interrupted: {exc}")  # fmt: skip
            return
        self.emit("budget.interrupted", turn_id=turn.turn_id, scope=crossing.scope,
                  usage_mono_ns=mono_ns, sent_mono_ns=sent,
                  answered_mono_ns=time.monotonic_ns())  # fmt: skip

    async def _budget_told(self, link: CoordLink, crossing: Crossing) -> None:
        """The store learns of a crossing: the audit log (``budget.exceeded``), a task past its
        budget is failed, and the swarm's orchestrator (when there is one, and not this agent)
        gets a message for the agent's crossings and a task's warning (the store itself tells a
        task's creator that it failed; the swarm's end is the run's)."""
        coord = link.coord
        orchestrator = self._orchestrator()
        said = crossing.reason.split(": ", 1)[1]  # "the agent spent 85 of 100 tokens"
        text = f"Budget {crossing.kind} for {self.agent}: {said}"
        if crossing.kind == "exceeded":
            text += "; its turns are stopped"
        told = crossing.scope == "agent" or (crossing.scope, crossing.kind) == ("task", "warning")

        def tell() -> None:
            if crossing.kind == "exceeded":
                coord.report(self.agent, "budget.exceeded", crossing.scope, crossing.fields())
                if crossing.scope == "task" and crossing.task_id is not None:
                    with contextlib.suppress(CoordError):  # not this agent's (any more)
                        coord.fail(self.agent, crossing.task_id, reason=crossing.reason)
            if orchestrator is not None and told:
                coord.send(orchestrator, text, sender=self.agent)

        try:
            await asyncio.to_thread(tell)
        except CoordError as exc:
            self.emit("error", message=f"budget {crossing.kind}: the store was not told: {exc}")

    def _orchestrator(self) -> str | None:
        """The swarm's orchestrator agent (the first of role ``orchestrator``), unless it is
        this agent or there is none."""
        for agent in self.run_dir.agents(self.spec):
            if role_of(self.spec, agent_rank(agent)) == "orchestrator":
                return None if agent == self.agent else agent
        return None

    async def _own_task(self, task_id: int | None) -> int | None:
        """``task_id`` when a turn carrying it works on the task (it is this agent's, or nobody's
        and not of its making: the news of a task's end that wakes the orchestrator is not work
        on it), else None. Learns the task's budget from the store the first time."""
        link = self.coord
        if link is None or task_id is None:
            return task_id
        if task_id in self._others_tasks:
            return None
        if not self.ledger.knows_task(task_id):

            def look() -> tuple[bool, int | None]:
                try:
                    task = link.coord.task(task_id)
                except CoordError:  # no such task (any more), a store down: no budget of its own
                    return True, None
                holder = task.assignee.partition("#")[0] if task.assignee else None
                creator = task.created_by.partition("#")[0] if task.created_by else None
                mine = holder == self.agent or (holder is None and creator != self.agent)
                limit = getattr(task, "budget_tokens", None)
                return mine, limit if isinstance(limit, int) else None

            mine, limit = await asyncio.to_thread(look)
            if not mine:
                self._others_tasks.add(task_id)
                return None
            self.ledger.set_task_limit(task_id, limit)
        return task_id

    async def _budget_refusal(self, task_id: int | None) -> str | None:
        """Why a turn (carrying ``task_id``) must not start, if a budget says so; under a swarm
        budget, what the others spent is read first."""
        link = self.coord
        if link is not None and self.budgets.swarm is not None:
            try:
                others = await asyncio.to_thread(self._others_spent, link.coord)
            except CoordError:
                others = None  # the store is down: what was last known
            if others is not None:
                self._crossed(self.ledger.others(others), time.monotonic_ns(), None)
        return self.ledger.refusal(task_id)

    async def _keep_usage(self) -> None:
        """Each time the ledger moved (and once at the start): save it with the agent's state,
        publish the agent's usage (kv ``usage/<agent>``) and, under a swarm budget, check the
        swarm's sum. Only the latest counts: updates that came meanwhile are folded in."""
        self._usage_changed.set()  # a restarted worker's figures replace whatever is published
        while True:
            await self._usage_changed.wait()
            self._usage_changed.clear()
            self.state["budget"] = self.ledger.snapshot()
            atomic_write_json(self.state_path, self.state, durable=False)
            link = self.coord
            if link is None:
                continue
            value = json.dumps(self.ledger.totals())

            def publish(coord: Any = link.coord, value: str = value) -> int | None:
                coord.kv_set(f"usage/{self.agent}", value, by=self.agent)
                return self._others_spent(coord) if self.budgets.swarm is not None else None

            try:
                others = await asyncio.to_thread(publish)
            except CoordError as exc:
                self.emit("error", message=f"the agent's usage could not be published: {exc}")
                continue
            if others is not None:
                turn = self.turn.turn_id if self.turn is not None else None
                self._crossed(self.ledger.others(others), time.monotonic_ns(), turn)

    def _others_spent(self, coord: Any) -> int:
        """What the swarm's other agents published they spent (blocking: call in a thread)."""
        swarm = set(self.run_dir.agents(self.spec)) - {self.agent}
        spent = 0
        for entry in coord.kv_list("usage/"):
            if entry.key.removeprefix("usage/") not in swarm:
                continue  # this agent, or another swarm's in the same project
            with contextlib.suppress(ValueError, AttributeError):
                total = json.loads(entry.value).get("total")
                spent += total if isinstance(total, int) and total > 0 else 0
        return spent
