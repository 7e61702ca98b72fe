"""Sessions: every agent thread of every swarm of a project, as Codex recorded it on disk.

A swarm's run directory (:class:`~codeswarm.core.swarm.RunDir`) holds each agent's own
``CODEX_HOME``; Codex writes each thread there as a *rollout*,
``agents/<agent>/codex-home/sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl``: one JSON
object per line (``session_meta`` first; ``event_msg`` records for turns and completed items;
``token_usage_record`` per model response). A resumed thread goes on appending to its file. This
module reads those files (never writes them), says which threads are live, stops an agent or a
swarm, and removes ended swarms' run directories (never a live one).

Tokens are the sum of the thread's ``token_usage_record`` usages, one per model response
(deduplicated by response id): exact across resumes, where Codex repeats its last usage
notification but records no new response.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from codeswarm.core.durations import parse_duration as parse_duration
from codeswarm.core.errors import CodeswarmError, UsageError
from codeswarm.core.swarm import RunDir, SwarmSpec

LIVE = "live"  # the agent's worker runs
STOPPED = "stopped"  # its swarm runs, its worker does not (killed, given up)
ENDED = "ended"  # its swarm is down
UNKNOWN = "unknown"  # its swarm's backend cannot be asked from here (Slurm elsewhere)

KILL_TIMEOUT = 30.0
"""How long ``kill`` of one agent waits for its worker to stop."""
KILL_POLL = 0.05
_ROLLOUT_GLOB = "rollout-*.jsonl"


# -- tokens ---------------------------------------------------------------------------------------
@dataclass
class Tokens:
    """Token counts as Codex reports them: ``total`` = input + output; ``cached_input`` is part of
    ``input``."""

    input: int = 0
    cached_input: int = 0
    output: int = 0
    total: int = 0

    def add(self, usage: dict[str, Any]) -> None:
        self.input += int(usage.get("input_tokens") or 0)
        self.cached_input += int(usage.get("cached_input_tokens") or 0)
        self.output += int(usage.get("output_tokens") or 0)
        self.total += int(usage.get("total_tokens") or 0)

    def as_json(self) -> dict[str, int]:
        return {"input": self.input, "cached_input": self.cached_input,
                "output": self.output, "total": self.total}  # fmt: skip


# -- one thread, read from its rollouts -------------------------------------------------------------
@dataclass
class Turn:
    turn_id: str
    status: str = "unfinished"
    """completed | interrupted | failed | running (the live thread's last turn, no end yet) |
    unfinished (no end recorded: cut short by a crash)."""
    started_ms: int | None = None
    ended_ms: int | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    tokens: Tokens = field(default_factory=Tokens)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "turn_id": self.turn_id, "status": self.status, "started_ms": self.started_ms,
            "ended_ms": self.ended_ms, "items": self.items, "tokens": self.tokens.as_json(),
            "error": self.error,
        }  # fmt: skip


@dataclass
class Thread:
    """One agent thread: where it lives and what its rollouts say."""

    swarm: str
    agent: str
    rank: int
    role: str
    thread_id: str
    state: str
    rollouts: list[Path]
    cwd: str | None = None
    model_provider: str | None = None
    created_ms: int | None = None
    last_activity_ms: int | None = None
    tokens: Tokens = field(default_factory=Tokens)
    turns: list[Turn] = field(default_factory=list)
    current: bool = True
    """The agent's thread now (``state.json``); an older thread of the agent is kept on disk."""

    def summary(self) -> dict[str, Any]:
        return {
            "swarm": self.swarm, "agent": self.agent, "rank": self.rank, "role": self.role,
            "thread_id": self.thread_id, "state": self.state, "current": self.current,
            "turns": len(self.turns), "tokens": self.tokens.as_json(),
            "last_activity_ms": self.last_activity_ms, "created_ms": self.created_ms,
            "cwd": self.cwd, "rollouts": [str(p) for p in self.rollouts],
        }  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        return {**self.summary(), "turns": [t.as_json() for t in self.turns],
                "turn_count": len(self.turns)}  # fmt: skip


def _ms(stamp: object) -> int | None:
    """Milliseconds since the epoch of an ISO timestamp (``2026-11-30T14:07:14.339Z``)."""
    if not isinstance(stamp, str):
        return None
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _texts(content: object) -> str:
    parts = content if isinstance(content, list) else []
    return "".join(str(p.get("text") or "") for p in parts if isinstance(p, dict))


def _command_text(command: object) -> str:
    if isinstance(command, list):
        words = [str(w) for w in command]
        if len(words) == 3 and words[1] in ("-lc", "-c"):
            return words[2]  # Codex runs everything as `bash -lc CMD`
        import shlex

        return shlex.join(words)
    return str(command or "")


def _item(raw: dict[str, Any], cwd: str | None) -> dict[str, Any] | None:
    """A completed rollout item, made small and stable (``docs/sessions.md``)."""
    kind = raw.get("type")
    if kind == "UserMessage":
        return {"type": "user_message", "text": _texts(raw.get("content"))}
    if kind == "AgentMessage":
        return {"type": "agent_message", "text": _texts(raw.get("content"))}
    if kind == "Reasoning":
        summary = raw.get("summary_text")
        text = "\n".join(str(s) for s in summary) if isinstance(summary, list) else ""
        return {"type": "reasoning", "text": text}
    if kind == "CommandExecution":
        return {
            "type": "command", "command": _command_text(raw.get("command")),
            "exit_code": raw.get("exit_code"), "status": raw.get("status"),
            "output": str(raw.get("aggregated_output") or ""),
        }  # fmt: skip
    if kind == "FileChange":
        changes = raw.get("changes") if isinstance(raw.get("changes"), dict) else {}
        assert isinstance(changes, dict)
        out = []
        for path, change in changes.items():
            shown = os.path.relpath(path, cwd) if cwd and path.startswith(cwd + "/") else path
            what = change.get("type") if isinstance(change, dict) else None
            out.append({"path": shown, "kind": str(what or "update")})
        return {"type": "file_change", "status": raw.get("status"), "changes": out}
    if kind == "McpToolCall":
        return {
            "type": "tool_call", "server": raw.get("server"), "tool": raw.get("tool"),
            "status": raw.get("status"), "error": raw.get("error"),
        }  # fmt: skip
    if isinstance(kind, str):
        return {"type": "other", "item_type": kind}
    return None


_WANTED = (b'"session_meta"', b'"token_usage_record"', b'"task_started"', b'"task_complete"',
           b'"turn_aborted"', b'"error"')  # fmt: skip
_ITEM = b'"item_completed"'


def read_rollouts(paths: list[Path], *, items: bool = True) -> dict[str, Any]:
    """What the rollout files of one thread say: ``meta`` (the first ``session_meta`` payload),
    ``turns`` (in order), ``tokens``, ``last_ms`` (the newest record's time). Lines that are not
    JSON (a write cut short) are skipped. With ``items=False`` the turns carry no items (cheaper:
    for listing)."""
    meta: dict[str, Any] = {}
    turns: dict[str, Turn] = {}
    tokens = Tokens()
    seen: set[str] = set()
    last_ms: int | None = None
    for path in paths:
        try:
            lines = path.read_bytes().splitlines()
        except OSError:
            continue
        for line in reversed(lines):  # the newest record's time
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                stamp = _ms(orjson.loads(line).get("timestamp"))
                last_ms = max(last_ms or 0, stamp or 0) or None
                break
        for number, line in enumerate(lines):
            if not (any(key in line for key in _WANTED) or (items and _ITEM in line)):
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            payload = record.get("payload") if isinstance(record, dict) else None
            if not isinstance(payload, dict):
                continue
            kind = record.get("type")
            if kind == "session_meta" and not meta:
                meta = payload
            elif kind == "token_usage_record":
                key = str(payload.get("response_id") or f"{path}:{number}")
                usage = payload.get("usage")
                if key in seen or not isinstance(usage, dict):
                    continue
                seen.add(key)
                tokens.add(usage)
                turn_id = str(payload.get("turn_id") or "")
                turns.setdefault(turn_id, Turn(turn_id)).tokens.add(usage)
            elif kind == "event_msg":
                stamp = _ms(record.get("timestamp"))
                _on_event(payload, turns, stamp, meta.get("cwd"), items=items)
    ordered = [t for t in turns.values() if t.started_ms is not None or t.items]
    return {"meta": meta, "turns": ordered, "tokens": tokens, "last_ms": last_ms}


def _on_event(
    payload: dict[str, Any], turns: dict[str, Turn], stamp: int | None, cwd: object, *, items: bool
) -> None:
    kind = payload.get("type")
    turn_id = str(payload.get("turn_id") or "")
    if kind == "task_started":
        turn = turns.setdefault(turn_id, Turn(turn_id))
        started = payload.get("started_at")
        turn.started_ms = int(started) * 1000 if isinstance(started, int) else stamp
    elif kind == "task_complete":
        turn = turns.setdefault(turn_id, Turn(turn_id))
        turn.status, turn.ended_ms = ("failed" if turn.error else "completed"), stamp
    elif kind == "turn_aborted":
        turn = turns.setdefault(turn_id, Turn(turn_id))
        turn.status, turn.ended_ms = "interrupted", stamp
        turn.error = turn.error or str(payload.get("reason") or "aborted")
    elif kind == "error" and turn_id in turns:
        turns[turn_id].error = str(payload.get("message") or "error")
    elif kind == "item_completed" and items:
        raw = payload.get("item")
        if isinstance(raw, dict):
            item = _item(raw, cwd if isinstance(cwd, str) else None)
            if item is not None:
                turns.setdefault(turn_id, Turn(turn_id)).items.append(item)


# -- the threads of a project -----------------------------------------------------------------------
def swarm_runs(root: Path) -> list[tuple[RunDir, SwarmSpec]]:
    """Every swarm (a run directory with a readable spec) under ``root`` (``<state>/runs``)."""
    out = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        run = RunDir(path)
        if path.name.startswith("."):
            continue
        try:
            out.append((run, run.load_spec()))
        except UsageError:
            continue
    return out


@dataclass(frozen=True)
class Liveness:
    running: bool
    """Anything of the swarm runs (its supervisor or job, or any worker)."""
    workers: frozenset[str] | None
    """The agents whose worker runs; None when it cannot be told per agent (a Slurm job)."""
    why: str | None = None
    """What runs, in words (for a refusal); or why it cannot be told."""
    known: bool = True


def liveness(run: RunDir, spec: SwarmSpec) -> Liveness:
    """What of the swarm is alive, as its backend tells."""
    from codeswarm.control.launch import backend_for

    if spec.backend == "local":
        from codeswarm.control.launch.local import live_workers, supervisor_pid

        workers = frozenset(live_workers(run, spec))
        pid = supervisor_pid(run)
        why = f"its supervisor runs (pid {pid})" if pid is not None else None
        if why is None and workers:
            why = f"workers run: {', '.join(sorted(workers))}"
        return Liveness(running=why is not None, workers=workers, why=why)
    try:
        why = backend_for(spec.backend).running(run)
    except CodeswarmError as exc:
        return Liveness(running=True, workers=None, why=f"cannot tell ({exc})", known=False)
    return Liveness(running=why is not None, workers=None, why=why)


def agent_state(agent: str, live: Liveness) -> str:
    if not live.known:
        return UNKNOWN
    if not live.running:
        return ENDED
    if live.workers is None:
        return LIVE
    return LIVE if agent in live.workers else STOPPED


def _agents(run: RunDir, spec: SwarmSpec) -> list[str]:
    """The spec's agents, then any other agent directory (a swarm once bigger)."""
    agents = run.agents(spec)
    if run.agents_dir.is_dir():
        extra = sorted(p.name for p in run.agents_dir.iterdir() if p.name not in agents)
        agents += [a for a in extra if (run.codex_home(a) / "sessions").is_dir()]
    return agents


def _current_thread(run: RunDir, agent: str) -> str | None:
    try:
        value = orjson.loads(run.agent_state(agent).read_bytes()).get("thread_id")
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


_THREAD_IN_NAME = re.compile(
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.jsonl\Z"
)


def _thread_files(run: RunDir, agent: str) -> dict[str, list[Path]]:
    """thread id -> its rollout files (oldest first) in ``agent``'s Codex home; plus the agent's
    current thread (``state.json``) with none when it has no rollout yet (Codex writes it at the
    first turn)."""
    by_thread: dict[str, list[Path]] = {}
    sessions = run.codex_home(agent) / "sessions"
    for path in sorted(sessions.rglob(_ROLLOUT_GLOB)) if sessions.is_dir() else []:
        found = _THREAD_IN_NAME.search(path.name)
        by_thread.setdefault(found.group(1) if found else path.stem, []).append(path)
    current = _current_thread(run, agent)
    if current and current not in by_thread:
        by_thread[current] = []
    return by_thread


def agent_threads(
    run: RunDir, spec: SwarmSpec, agent: str, live: Liveness, *, items: bool = False
) -> list[Thread]:
    """The threads of one agent, oldest first (:func:`_thread_files`)."""
    from codeswarm.core.swarm import agent_rank
    from codeswarm.worker.wiring import role_of

    rank = agent_rank(agent)
    rank = -1 if rank is None else rank
    role = role_of(spec, rank) if 0 <= rank < spec.size else ""
    by_thread = _thread_files(run, agent)
    current = _current_thread(run, agent)
    state = agent_state(agent, live)
    out = []
    for thread_id, paths in by_thread.items():
        read = read_rollouts(paths, items=items)
        meta = read["meta"]
        is_current = thread_id == current or (current is None and len(by_thread) == 1)
        turns: list[Turn] = read["turns"]
        if is_current and state == LIVE and turns and turns[-1].status == "unfinished":
            turns[-1].status = "running"
        last = read["last_ms"]
        if last is None:
            with contextlib.suppress(OSError):
                last = int(run.agent_state(agent).stat().st_mtime * 1000)
        out.append(
            Thread(
                swarm=spec.name, agent=agent, rank=rank, role=role, thread_id=thread_id,
                state=state if is_current else ENDED, rollouts=paths,
                cwd=meta.get("cwd") or spec.cwd, model_provider=meta.get("model_provider"),
                created_ms=_ms(meta.get("timestamp")), last_activity_ms=last,
                tokens=read["tokens"], turns=turns, current=is_current,
            )
        )  # fmt: skip
    return sorted(out, key=lambda t: t.created_ms or 0)


def swarm_threads(run: RunDir, spec: SwarmSpec, *, items: bool = False) -> list[Thread]:
    live = liveness(run, spec)
    return [t for a in _agents(run, spec) for t in agent_threads(run, spec, a, live, items=items)]


def project_threads(root: Path) -> list[Thread]:
    """Every thread of every swarm under ``root`` (``<state>/runs``), ended swarms included."""
    return [t for run, spec in swarm_runs(root) for t in swarm_threads(run, spec)]


def find_thread(root: Path, wanted: str) -> tuple[RunDir, SwarmSpec, str, str]:
    """``(run, spec, agent, thread_id)`` of the thread whose id is ``wanted`` or starts with it
    (at least 4 characters), among the swarms under ``root``. :class:`UsageError` when none or
    several match."""
    key = wanted.strip().lower()
    if len(key) < 4:
        raise UsageError(f"thread id {wanted!r} is too short (at least 4 characters)")
    hits: list[tuple[RunDir, SwarmSpec, str, str]] = []
    for run, spec in swarm_runs(root):
        for agent in _agents(run, spec):
            ids = _thread_files(run, agent)
            hits += [(run, spec, agent, t) for t in ids if t.startswith(key)]
    if not hits:
        raise UsageError(f"no thread {wanted!r} in this project ('codeswarm sessions list')")
    if len({h[3] for h in hits}) > 1:
        names = ", ".join(sorted(h[3] for h in hits)[:5])
        raise UsageError(f"thread id {wanted!r} is ambiguous: {names}")
    return hits[0]


def load_thread(run: RunDir, spec: SwarmSpec, agent: str, thread_id: str | None) -> Thread:
    """One thread with its turns' items: ``thread_id``, or the agent's current one."""
    threads = agent_threads(run, spec, agent, liveness(run, spec), items=True)
    if thread_id is not None:
        chosen = [t for t in threads if t.thread_id == thread_id]
    else:
        chosen = [t for t in threads if t.current] or threads[-1:]
    if not chosen:
        raise UsageError(f"{agent} has no thread yet (it never started)")
    return chosen[0]


# -- kill -------------------------------------------------------------------------------------------
def kill_agent(run: RunDir, spec: SwarmSpec, agent: str, *, timeout: float = KILL_TIMEOUT) -> None:
    """Stop one agent of a live swarm for good (a ``shutdown`` record: its turn is interrupted,
    it leaves the coordination store, its keeper does not restart it) and wait until its worker
    is gone. :class:`CodeswarmError` (nothing sent) when its worker does not run; or when it has
    not stopped within ``timeout``."""
    from codeswarm.control.steering import shutdown
    from codeswarm.mailbox import Layout

    live = liveness(run, spec)
    state = agent_state(agent, live)
    if state != LIVE:
        raise CodeswarmError(f"nothing to kill: {agent} is {state}" + _why(state, spec))
    outbox = Layout(run.root).outbox(agent)
    start = outbox.stat().st_size if outbox.exists() else 0
    shutdown(run, [agent])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if live.workers is not None:
            if agent not in (liveness(run, spec).workers or ()):
                return
        elif _stopped_since(outbox, start):
            return
        time.sleep(KILL_POLL)
    raise CodeswarmError(
        f"{agent} was asked to stop but still runs after {timeout:g}s "
        f"(see 'codeswarm sessions logs {spec.name} {agent}')"
    )


def _why(state: str, spec: SwarmSpec) -> str:
    if state == ENDED:
        return f" (swarm {spec.name} is down)"
    if state == STOPPED:
        return " (its worker is not running)"
    return ""


def _stopped_since(outbox: Path, offset: int) -> bool:
    """An ``agent.stopped`` record in ``outbox`` past ``offset``."""
    try:
        with outbox.open("rb") as f:
            f.seek(offset)
            return b'"agent.stopped"' in f.read()
    except OSError:
        return False


def kill_swarm(run: RunDir, spec: SwarmSpec, *, grace: float) -> dict[str, object]:
    """Stop the whole swarm as ``down`` does. :class:`CodeswarmError` when nothing of it runs."""
    from codeswarm.control.launch import backend_for

    live = liveness(run, spec)
    if live.known and not live.running:
        raise CodeswarmError(f"nothing to kill: swarm {spec.name} is not running")
    return backend_for(spec.backend).stop(run, spec, grace=grace)


# -- clean ------------------------------------------------------------------------------------------
def last_activity_ms(run: RunDir) -> int:
    """When anything of the swarm last wrote: its spec, outboxes, logs, rollouts (mtimes)."""
    newest = 0.0
    candidates = [run.spec_path, run.supervisor_log, *run.root.glob("mailbox/outbox/*.jsonl")]
    candidates += run.root.glob("agents/*/worker.log")
    candidates += run.root.glob(f"agents/*/codex-home/sessions/*/*/*/{_ROLLOUT_GLOB}")
    for path in candidates:
        with contextlib.suppress(OSError):
            newest = max(newest, path.stat().st_mtime)
    return int(newest * 1000)


def disk_bytes(root: Path) -> int:
    total = 0
    for base, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(base, name)).st_size
    return total


def remove_run(run: RunDir, spec: SwarmSpec) -> None:
    """Delete an ended swarm's run directory (its threads, mailbox, logs). Holds the swarm's
    supervisor lock meanwhile, so no supervisor starts in it; :class:`UsageError` (nothing
    removed) when anything of the swarm runs."""
    from codeswarm.control.proc import PidLock

    live = liveness(run, spec)
    if live.running:
        raise UsageError(f"swarm {spec.name} is live ({live.why}): not removed")
    lock = PidLock(run.supervisor_pid)
    if not lock.acquire():
        raise UsageError(f"swarm {spec.name} is live (its supervisor started): not removed")
    try:
        again = liveness(run, spec)
        if again.workers:
            raise UsageError(f"swarm {spec.name} is live ({again.why}): not removed")
        # out of every reader's way at once (a name no swarm can have), then deleted
        grave = run.root.with_name(f".removing-{run.name}-{os.getpid()}")
        os.rename(run.root, grave)
    finally:
        lock.release()
    shutil.rmtree(grave, ignore_errors=True)
