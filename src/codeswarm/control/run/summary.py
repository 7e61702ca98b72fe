"""A run's summary: its tasks with their verdicts, the tokens it spent (per agent from the fleet
state, which counts each thread's cumulative totals once; per task from what the workers
publish), the files it changed and their diff stat (git, in the run's directory)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codeswarm.control.fleet.state import FleetState
    from codeswarm.control.run.controller import Board, RunEnd
    from codeswarm.coordination import Task

SUMMARY_FILE = "run-summary.json"
"""In the run directory: the summary of the swarm's last ``codeswarm run`` (the API serves it)."""
RESULT_CHARS = 500
"""How much of a task's result the summary keeps."""
GIT_TIMEOUT_S = 30.0

OUTCOMES = {
    "done": "done",
    "failed": "failed",
    "needs_review": "needs review",
    "cancelled": "cancelled",
    "open": "not started",
    "claimed": "unfinished",
    "in_progress": "unfinished",
}
"""What a task's status says when the orchestrator gave it no verdict."""


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None  # deleted, or not a file


def dirty_files(cwd: Path) -> dict[str, str | None] | None:
    """Every path git sees as changed or untracked in ``cwd``, with a digest of its content (None:
    gone); None when ``cwd`` is not in a git work tree. Taken before a run and after it, the
    difference is what the run changed, whatever was dirty before."""
    out = _git(cwd, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".")
    if out is None:
        return None
    top = _git(cwd, "rev-parse", "--show-toplevel")
    root = Path(top.strip()) if top else cwd
    entries = out.split("\0")
    paths: dict[str, str | None] = {}
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        if "R" in status or "C" in status:
            i += 1  # the rename's source follows
        paths[path] = _digest(root / path)
    return paths


def changed_since(cwd: Path, before: dict[str, str | None] | None) -> list[str]:
    """The paths (relative to the repository's top) whose content changed since ``before``."""
    after = dirty_files(cwd)
    if after is None:
        return []
    before = before or {}
    return sorted(p for p, digest in after.items() if p not in before or before[p] != digest)


def diff_stat(cwd: Path, paths: list[str]) -> str | None:
    """``git diff --stat`` of ``paths`` against HEAD, untracked files counted as added; None
    outside a git repository or when nothing changed."""
    if not paths:
        return None
    top = _git(cwd, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    root = Path(top.strip())
    lines: list[str] = []
    tracked = _git(root, "ls-files", "-z", "--", *paths) or ""
    known = {p for p in tracked.split("\0") if p}
    if known and _git(root, "rev-parse", "--verify", "-q", "HEAD") is not None:
        stat = _git(root, "diff", "--stat=100", "HEAD", "--", *sorted(known))
        lines += [line for line in (stat or "").splitlines() if "|" in line]
    for path in paths:
        if path in known:
            continue
        try:
            count = len((root / path).read_bytes().splitlines())
        except OSError:
            continue
        lines.append(f" {path} | {count} + (new)")
    return "\n".join(lines) or None


def _task_json(task: Task, tokens: int | None) -> dict[str, Any]:
    result = task.result or ""
    return {
        "id": task.id,
        "title": task.title,
        "status": task.status,
        "verdict": getattr(task, "verdict", None),
        "outcome": verdict_line(task.status, getattr(task, "verdict", None)),
        "assignee": task.assignee.partition("#")[0] if task.assignee else None,
        "depends_on": list(task.depends_on),
        "result": result[:RESULT_CHARS] if result else None,
        "files_changed": list(task.files_changed),
        "budget_tokens": getattr(task, "budget_tokens", None),
        "tokens": tokens,
    }


def verdict_line(status: str, verdict: str | None) -> str:
    """A task's end in a few words: the orchestrator's verdict, else what its status says."""
    if verdict:
        return f"{verdict} ({OUTCOMES.get(status, status)})"
    return f"no verdict ({OUTCOMES.get(status, status)})"


def build_summary(
    *,
    end: RunEnd,
    goal: str,
    swarm: str,
    fleet: FleetState,
    roles: dict[str, str],
    board: Board,
    task_tokens: dict[int, dict[str, int]],
    files_changed: list[str],
    diff: str | None,
    budget_tokens: int | None,
    agent_budget_tokens: int | None,
    duration_s: float,
    kept: bool,
) -> dict[str, Any]:
    """The summary of a run, as JSON (``--summary-json``) and for the printed table.
    ``task_tokens``: task id → {agent: tokens its turns for the task spent} (the workers')."""
    per_task = {task: sum(by.values()) for task, by in task_tokens.items()}
    agents = {}
    for view in sorted(fleet.agents.values(), key=lambda v: (v.rank is None, v.rank or 0)):
        agents[view.id] = {
            "role": roles.get(view.id),
            "state": view.state,
            "turns": view.turns,
            "input": view.input_tokens,
            "cached_input": view.cached_input_tokens,
            "output": view.output_tokens,
            "total": view.total_tokens,
            "counted": view.input_tokens + view.output_tokens,
        }
    totals = fleet.totals()
    task_files = {f for t in board.tasks for f in t.files_changed}
    return {
        "swarm": swarm,
        "goal": goal,
        "outcome": end.outcome,
        "exit_code": end.exit_code,
        "message": end.message,
        "orchestrator_summary": end.summary,
        "duration_s": round(duration_s, 3),
        "kept": kept,
        "budget": {"swarm": budget_tokens, "agent": agent_budget_tokens},
        "tasks": [_task_json(t, per_task.get(t.id)) for t in board.tasks],
        "tokens": {
            "total": {**totals, "counted": totals["input"] + totals["output"]},
            "agents": agents,
            "tasks": {str(k): v for k, v in sorted(per_task.items())},
            "tasks_by_agent": {str(k): dict(v) for k, v in sorted(task_tokens.items())},
        },
        "files_changed": sorted(set(files_changed) | task_files),
        "diff_stat": diff,
    }
