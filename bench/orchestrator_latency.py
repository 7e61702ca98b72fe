"""How fast delegation moves work (issue 12 targets): from ``delegate`` to the worker's
``turn/start`` (p50 <= 20 ms), and from a task's completion to the orchestrator's ``turn/start``
(p50 <= 50 ms).

A real local swarm (supervisor, workers, Codex, the scripted model): an orchestrator (rank 0)
and two implementers. The scripted orchestrator delegates task 1 when given the goal, then each
next task when the message "task #i done" wakes it; the tasks alternate between the two
workers (so each is idle when its task comes), and each worker reports its task done with
``task_update`` after a short pause (so the orchestrator's turn has ended when the news comes).

Timestamps the processes already write, compared on one clock (CLOCK_MONOTONIC):

- the store's audit event ``message.sent`` of each message ``delegate`` and the completion send
  (same transaction as the task's assignment / ``done``; ``ts`` is the wall clock at the start of
  that transaction, converted to CLOCK_MONOTONIC with the offset between the two clocks read in
  this process). The transaction commits, and ``delegate`` / ``task_update`` return, after it:
  the figures include the commit, so they are upper bounds of "returning -> turn/start";
- the worker's ``turn.starting`` outbox record (``mono_ns``, written just before it sends
  ``turn/start``) of the turn that carries that message (``inbox_id`` ``coord-<message id>``).

    .venv/bin/python bench/orchestrator_latency.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cli, emit, jsonl, scripted_swarm, summary, wait_for

TARGET_DELEGATE_P50_MS = 20.0
TARGET_DONE_P50_MS = 50.0
WORKER_PAUSE_S = 0.3


def wall_minus_mono_ns() -> int:
    """CLOCK_REALTIME - CLOCK_MONOTONIC, read in the tightest of a few tries."""
    best = None
    for _ in range(50):
        a = time.monotonic_ns()
        w = time.time_ns()
        b = time.monotonic_ns()
        if best is None or b - a < best[0]:
            best = (b - a, w - (a + b) // 2)
    assert best is not None
    return best[1]


def tool(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool": name, "arguments": arguments}


def script(rounds: int) -> dict[str, Any]:
    def worker_of(task: int) -> str:
        return "b_1" if task % 2 else "b_2"

    orch: list[dict[str, Any]] = []
    workers: dict[str, list[dict[str, Any]]] = {"1": [], "2": []}
    for task in range(1, rounds + 1):
        wake = "The goal" if task == 1 else f"task #{task - 1} done:"
        orch += [
            {"when": wake, **tool("delegate", title=f"part {task}",
                                  instructions=f"write part {task}", agent=worker_of(task))},
            {"when": wake, "text": f"Delegated task {task}."},
        ]  # fmt: skip
        mine = f"Task #{task}:"
        workers[worker_of(task)[-1]] += [
            {"when": mine, "delay": WORKER_PAUSE_S,
             **tool("task_update", id=task, status="done", result=f"did {task}")},
            {"when": mine, "text": f"Task {task} is done."},
        ]  # fmt: skip
    last = f"task #{rounds} done:"
    orch += [
        {"when": last, **tool("finish", summary=f"{rounds} parts written")},
        {"when": last, "text": "Finished."},
    ]
    return {"agents": {"0": orch, **workers}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="Keep the swarm's files (printed).")
    args = ap.parse_args()
    from codeswarm.coordination import Coord

    result: dict[str, Any] = {"benchmark": "orchestrator_latency", "rounds": args.rounds}
    roles = ("--roles", "orchestrator,implementer,implementer")
    with scripted_swarm(
        "bench-orch-", script(args.rounds), 3, *roles, result=result, keep=args.keep, git=True
    ) as sw:
        env, run_dir, spec = sw.env, sw.run_dir, sw.spec
        outboxes = {a: run_dir / "mailbox" / "outbox" / f"{a}.jsonl" for a in ("b_0", "b_1", "b_2")}
        with Coord.open(spec["coord_db"], root=str(sw.repo)) as coord:
            cli(env, "send", "b", "0", "The goal: write the parts.")
            wait_for(lambda: coord.events(kind="run.finished"), timeout=60 + 3 * args.rounds)
            offset = wall_minus_mono_ns()
            starting: dict[str, dict[str, Any]] = {}
            for path in outboxes.values():
                for r in jsonl(path):
                    if r["kind"] == "turn.starting":
                        starting[str(r["inbox_id"])] = r
            to_worker, to_orch, missing = [], [], 0
            for e in coord.events(kind="message.sent", limit=10000):
                if e.data.get("task_id") is None:
                    continue
                sent_mono = round(e.ts * 1e9) - offset
                turn = starting.get(f"coord-{e.data['id']}")
                if turn is None:
                    missing += 1
                    continue
                lag = (turn["mono_ns"] - sent_mono) / 1e9
                (to_orch if e.data["to"] == "b_0" else to_worker).append(lag)
        a, b = summary(to_worker), summary(to_orch)
        result["delegate_to_worker_turn_start"] = a
        result["task_done_to_orchestrator_turn_start"] = b
        result["messages_without_a_turn"] = missing
        result["target_delegate_p50_ms"] = TARGET_DELEGATE_P50_MS
        result["target_done_p50_ms"] = TARGET_DONE_P50_MS
        result["meets_targets"] = (
            a["n"] == args.rounds
            and b["n"] == args.rounds
            and a["p50_ms"] <= TARGET_DELEGATE_P50_MS
            and b["p50_ms"] <= TARGET_DONE_P50_MS
        )
    emit(result)


if __name__ == "__main__":
    main()
