"""Token budgets of one agent: what it spent, per thread, per task and with the rest of the swarm,
and what its limits say about it (pure: no I/O; :mod:`codeswarm.worker.agent` acts on it).

Tokens counted are input + output (cached input is part of input; it is kept apart only to be
shown). What a thread spent comes from Codex's ``thread/tokenUsage/updated``: its ``total`` is the
thread's running total, kept by Codex across restarts and resumes, and sent again right after
``thread/resume``; so a :class:`Ledger` counts the growth of each thread's total, never ``last``,
and an update sent again adds nothing. A task spends what grew while a turn that carried it ran.
The swarm spends what every agent published (``usage/<agent>`` in the coordination store): the
ledger is told the others' sum (:meth:`Ledger.others`) and adds its own.

Per scope (the agent, each task, the swarm) a limit gives at most one :class:`Crossing` of each
kind: ``warning`` once spent reaches ``warn`` * limit, ``exceeded`` once spent is past the limit
(a turn running then is interrupted). A turn is refused once spent reaches a limit of its scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from codeswarm.core.usage import ThreadTotals
from codeswarm.core.usage import Tokens as Tokens  # the type of a usage update

Scope = Literal["agent", "task", "swarm"]
Kind = Literal["warning", "exceeded"]

KEEP_TURNS = 64
"""How many turn → task attributions a ledger keeps (a resumed thread re-sends only its last)."""


@dataclass(frozen=True)
class Budgets:
    """The limits, in tokens (None: no limit), and the warning threshold (a fraction)."""

    agent: int | None = None
    swarm: int | None = None
    warn: float = 0.8

    @property
    def any(self) -> bool:
        return self.agent is not None or self.swarm is not None


@dataclass(frozen=True)
class Usage:
    """One ``thread/tokenUsage/updated``: whose thread, which turn, the thread's totals."""

    thread_id: str
    turn_id: str | None
    total: Tokens


@dataclass(frozen=True)
class Crossing:
    """A limit reached: ``warning`` (spent ≥ warn * limit) or ``exceeded`` (spent > limit)."""

    kind: Kind
    scope: Scope
    limit: int
    spent: int
    task_id: int | None = None

    def fields(self) -> dict[str, Any]:
        """The fields of its outbox record (``budget.<kind>``)."""
        out: dict[str, Any] = {"scope": self.scope, "limit": self.limit, "spent": self.spent}
        if self.task_id is not None:
            out["task_id"] = self.task_id
        return out

    @property
    def reason(self) -> str:
        """One line for a person: what spent how much of what."""
        return _reason(self.scope, self.task_id, self.spent, self.limit)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_of(msg: Mapping[str, Any]) -> Usage | None:
    """The usage a Codex message reports (``thread/tokenUsage/updated``), else None."""
    if msg.get("method") != "thread/tokenUsage/updated":
        return None
    params = msg.get("params")
    if not isinstance(params, dict):
        return None
    usage = params.get("tokenUsage")
    total = usage.get("total") if isinstance(usage, dict) else None
    if not isinstance(total, dict):
        return None
    turn = params.get("turnId")
    return Usage(
        thread_id=str(params.get("threadId") or ""),
        turn_id=turn if isinstance(turn, str) else None,
        total=Tokens(
            _int(total.get("inputTokens")),
            _int(total.get("cachedInputTokens")),
            _int(total.get("outputTokens")),
        ),
    )


def _reason(scope: Scope, task_id: int | None, spent: int, limit: int) -> str:
    who = (
        f"task #{task_id}" if scope == "task" else "the agent" if scope == "agent" else "the swarm"
    )
    return f"budget exceeded: {who} spent {spent} of {limit} tokens"


class Ledger:
    """What one agent spent, and its limits. Feed it every usage update (:meth:`usage`), every
    turn as it starts (:meth:`begin_turn`), the tasks' limits (:meth:`set_task_limit`) and the
    other agents' sum (:meth:`others`); ask :meth:`refusal` before starting a turn."""

    def __init__(self, budgets: Budgets) -> None:
        self.budgets = budgets
        self.threads = ThreadTotals()
        self.tasks: dict[int, int] = {}
        """Task id → tokens spent by the turns that carried it."""
        self.task_limits: dict[int, int | None] = {}
        self.turn_tasks: dict[str, int] = {}
        """Turn id → the task it carried (the newest :data:`KEEP_TURNS`)."""
        self.others_spent = 0
        """What the swarm's other agents spent, as last told."""
        self._said: set[str] = set()  # crossings already given, by kind, scope, task, limit
        self._turn: str | None = None
        self._turn_task: int | None = None

    # -- what was spent -------------------------------------------------------------------------
    @property
    def spent(self) -> int:
        """Tokens this agent spent (every thread it had)."""
        return self.threads.sum.counted

    @property
    def swarm_spent(self) -> int:
        return self.others_spent + self.spent

    def totals(self) -> dict[str, Any]:
        """What the agent publishes (kv ``usage/<agent>``): input, cached input, output, total
        (input + output), and the total per task."""
        return {
            "input": self.threads.sum.input,
            "cached_input": self.threads.sum.cached_input,
            "output": self.threads.sum.output,
            "total": self.spent,
            "tasks": {str(k): v for k, v in sorted(self.tasks.items())},
        }

    # -- inputs ---------------------------------------------------------------------------------
    def begin_turn(self, turn_id: str, task_id: int | None) -> None:
        """A turn started; what grows while it runs is the task's too (when it carries one)."""
        self._turn, self._turn_task = turn_id, task_id
        if task_id is not None:
            self.turn_tasks[turn_id] = task_id
            self.tasks.setdefault(task_id, 0)
            while len(self.turn_tasks) > KEEP_TURNS:
                del self.turn_tasks[next(iter(self.turn_tasks))]

    def set_task_limit(self, task_id: int, limit: int | None) -> None:
        self.task_limits[task_id] = limit if limit is None or limit > 0 else None

    def knows_task(self, task_id: int) -> bool:
        return task_id in self.task_limits

    def task_over(self, task_id: int) -> bool:
        """Whether task ``task_id`` spent its budget (then it is failed for that, not left for
        review)."""
        limit = self.task_limits.get(task_id)
        return limit is not None and self.tasks.get(task_id, 0) >= limit

    def usage(self, update: Usage) -> list[Crossing]:
        """Count one usage update; the crossings it causes (none for an update sent again)."""
        grown = self.threads.add(update.thread_id, update.total)
        if grown <= 0:
            return []  # sent again after a resume, or out of order: nothing new
        turn = update.turn_id or self._turn
        task = self.turn_tasks.get(turn) if turn is not None else None
        if task is None and turn is not None and turn == self._turn:
            task = self._turn_task
        if task is not None:
            self.tasks[task] = self.tasks.get(task, 0) + grown
        return self._check(task)

    def others(self, spent: int) -> list[Crossing]:
        """The other agents of the swarm spent ``spent`` in all; the crossings of the swarm."""
        self.others_spent = max(0, spent)
        return self._scope("swarm", self.budgets.swarm, self.swarm_spent, None)

    # -- decisions ------------------------------------------------------------------------------
    def refusal(self, task_id: int | None = None) -> str | None:
        """Why a turn (carrying ``task_id``) must not start: a limit of its scope is reached."""
        for scope, limit, spent, task in self._scopes(task_id):
            if limit is not None and spent >= limit:
                return _reason(scope, task, spent, limit)
        return None

    def _scopes(self, task_id: int | None) -> list[tuple[Scope, int | None, int, int | None]]:
        out: list[tuple[Scope, int | None, int, int | None]] = [
            ("agent", self.budgets.agent, self.spent, None),
            ("swarm", self.budgets.swarm, self.swarm_spent, None),
        ]
        if task_id is not None:
            out.append(("task", self.task_limits.get(task_id), self.tasks.get(task_id, 0), task_id))
        return out

    def _check(self, task_id: int | None) -> list[Crossing]:
        out: list[Crossing] = []
        for scope, limit, spent, task in self._scopes(task_id):
            out += self._scope(scope, limit, spent, task)
        return out

    def _scope(
        self, scope: Scope, limit: int | None, spent: int, task: int | None
    ) -> list[Crossing]:
        if limit is None:
            return []
        kind: Kind
        if spent > limit:
            kind = "exceeded"
        elif spent >= self.budgets.warn * limit:
            kind = "warning"
        else:
            return []
        key = f"{kind}:{scope}:{task}:{limit}"
        if key in self._said:
            return []
        self._said.add(key)
        if kind == "exceeded":  # a warning after it would say nothing new
            self._said.add(f"warning:{scope}:{task}:{limit}")
        return [Crossing(kind, scope, limit, spent, task)]

    # -- persistence ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """What a restarted worker needs to go on counting (JSON)."""
        return {
            "threads": {
                k: [t.input, t.cached_input, t.output] for k, t in self.threads.by_thread.items()
            },
            "tasks": {str(k): v for k, v in self.tasks.items()},
            "task_limits": {str(k): v for k, v in self.task_limits.items()},
            "turn_tasks": dict(self.turn_tasks),
            "said": sorted(self._said),
        }

    @classmethod
    def restore(cls, budgets: Budgets, data: Any) -> Ledger:
        """A ledger going on from :meth:`snapshot` (anything unreadable is left out)."""
        ledger = cls(budgets)
        if not isinstance(data, dict):
            return ledger
        for thread, t in _items(data.get("threads")):
            if isinstance(t, list) and len(t) == 3:
                ledger.threads.add(thread, Tokens(_int(t[0]), _int(t[1]), _int(t[2])))
        for task, n in _items(data.get("tasks")):
            if task.isdigit():
                ledger.tasks[int(task)] = _int(n)
        for task, limit in _items(data.get("task_limits")):
            if task.isdigit():
                ledger.task_limits[int(task)] = _int(limit) or None
        for turn, task in _items(data.get("turn_tasks")):
            if isinstance(task, int):
                ledger.turn_tasks[turn] = task
        said = data.get("said")
        if isinstance(said, list):
            ledger._said = {s for s in said if isinstance(s, str)}
        return ledger


def _items(value: Any) -> list[tuple[str, Any]]:
    return [(str(k), v) for k, v in value.items()] if isinstance(value, dict) else []
