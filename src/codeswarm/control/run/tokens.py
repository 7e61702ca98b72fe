"""Tokens per task, exactly, from what the workers wrote: each worker's outbox replayed through
the same :class:`~codeswarm.worker.budget.Ledger` the worker keeps (a thread's running totals,
growth attributed to the task of the turn it grew in).

Read after the swarm is down, the outboxes hold every usage update, the last ones included (the
figures a worker publishes in kv ``usage/<agent>`` may miss the last update before it stopped).
A turn carries a task when the coordination message that started it does (``turn.accepted``'s
``inbox_id`` is ``coord-<message id>``); a follow-up turn after a crash carries the task of the
turn it continues.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from codeswarm.core.swarm import RunDir
from codeswarm.mailbox import Layout, records_once
from codeswarm.worker.budget import Budgets, Ledger, usage_of

COORD_PREFIX = "coord-"


def _records(run: RunDir, agent: str) -> Iterator[dict[str, Any]]:
    """The agent's outbox records, in order, each once."""
    return records_once(Layout(run.root).outbox(agent))


def message_ids(run: RunDir, agent: str) -> list[int]:
    """The coordination messages that started turns of ``agent``."""
    out = []
    for record in _records(run, agent):
        if record.get("kind") == "turn.accepted":
            inbox_id = str(record.get("inbox_id") or "")
            if inbox_id.startswith(COORD_PREFIX) and inbox_id[len(COORD_PREFIX) :].isdigit():
                out.append(int(inbox_id[len(COORD_PREFIX) :]))
    return out


def agent_task_tokens(run: RunDir, agent: str, task_of: dict[int, int]) -> dict[int, int]:
    """Task id → tokens (input + output) ``agent``'s turns for it spent. ``task_of``: message
    id → the task it is about."""
    ledger = Ledger(Budgets())
    for record in _records(run, agent):
        kind = record.get("kind")
        if kind == "turn.accepted" and isinstance(record.get("turn_id"), str):
            inbox_id = str(record.get("inbox_id") or "")
            task = None
            if inbox_id.startswith(COORD_PREFIX) and inbox_id[len(COORD_PREFIX) :].isdigit():
                task = task_of.get(int(inbox_id[len(COORD_PREFIX) :]))
            continues = record.get("continues")
            if task is None and isinstance(continues, str):
                task = ledger.turn_tasks.get(continues)
            ledger.begin_turn(record["turn_id"], task)
        elif kind == "codex" and isinstance(record.get("msg"), dict):
            usage = usage_of(record["msg"])
            if usage is not None:
                ledger.usage(usage)
    return {task: spent for task, spent in ledger.tasks.items() if spent}


def task_tokens(
    run: RunDir, agents: list[str], tasks_of_messages: Callable[[list[int]], dict[int, int]]
) -> dict[int, dict[str, int]]:
    """Task id → {agent: tokens} over ``agents``. ``tasks_of_messages``: message ids → the task
    each is about (those about none left out)."""
    ids = sorted({m for a in agents for m in message_ids(run, a)})
    task_of = tasks_of_messages(ids) if ids else {}
    out: dict[int, dict[str, int]] = {}
    for agent in agents:
        for task, spent in agent_task_tokens(run, agent, task_of).items():
            out.setdefault(task, {})[agent] = spent
    return out
