"""Every agent thread of every swarm of a project: which exist, which are live."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from codeswarm.control.sessions.rollouts import Thread, Turn, read_rollouts, stamp_ms
from codeswarm.core.errors import CodeswarmError, UsageError
from codeswarm.core.swarm import RunDir, SwarmSpec

LIVE = "live"  # the agent's worker runs
STOPPED = "stopped"  # its swarm runs, its worker does not (killed, given up)
ENDED = "ended"  # its swarm is down
UNKNOWN = "unknown"  # its swarm's backend cannot be asked from here (Slurm elsewhere)

ROLLOUT_GLOB = "rollout-*.jsonl"


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
    for path in sorted(sessions.rglob(ROLLOUT_GLOB)) if sessions.is_dir() else []:
        found = _THREAD_IN_NAME.search(path.name)
        by_thread.setdefault(found.group(1) if found else path.stem, []).append(path)
    current = _current_thread(run, agent)
    if current and current not in by_thread:
        by_thread[current] = []
    return by_thread


def _outbox_threads(
    run: RunDir, spec: SwarmSpec, agent: str, *, items: bool
) -> dict[str, dict[str, Any]]:
    """A Claude Code agent's threads, from its outbox (it leaves no Codex rollout); none for a
    Codex agent."""
    from codeswarm.core.swarm import agent_runtime

    if agent_runtime(spec, agent) != "claude":
        return {}
    from codeswarm.control.sessions.outbox import read_outbox

    try:
        return read_outbox(run, agent, items=items)
    except CodeswarmError:  # an outbox that cannot be read: its threads show no turns
        return {}


def agent_threads(
    run: RunDir,
    spec: SwarmSpec,
    agent: str,
    live: Liveness,
    *,
    items: bool = False,
    only: str | None = None,
) -> list[Thread]:
    """The threads of one agent, oldest first (:func:`_thread_files`; a Claude Code agent's
    from its outbox); ``only``: that thread alone (the others' rollouts are not read)."""
    from codeswarm.core.swarm import agent_rank
    from codeswarm.worker.wiring import role_of

    rank = agent_rank(agent)
    rank = -1 if rank is None else rank
    role = role_of(spec, rank) if 0 <= rank < spec.size else ""
    by_thread = _thread_files(run, agent)
    outbox = _outbox_threads(run, spec, agent, items=items)
    for thread_id in outbox:
        by_thread.setdefault(thread_id, [])
    current = _current_thread(run, agent)
    state = agent_state(agent, live)
    out = []
    for thread_id, paths in by_thread.items():
        if only is not None and thread_id != only:
            continue
        read = outbox.get(thread_id) or read_rollouts(paths, items=items)
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
                created_ms=stamp_ms(meta.get("timestamp")), last_activity_ms=last,
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
            ids = [*_thread_files(run, agent), *_outbox_threads(run, spec, agent, items=False)]
            hits += [(run, spec, agent, t) for t in dict.fromkeys(ids) if t.startswith(key)]
    if not hits:
        raise UsageError(f"no thread {wanted!r} in this project ('codeswarm sessions list')")
    if len({h[3] for h in hits}) > 1:
        names = ", ".join(sorted(h[3] for h in hits)[:5])
        raise UsageError(f"thread id {wanted!r} is ambiguous: {names}")
    return hits[0]


def load_thread(run: RunDir, spec: SwarmSpec, agent: str, thread_id: str | None) -> Thread:
    """One thread with its turns' items: ``thread_id``, or the agent's current one (its latest
    when it has none); only that thread's rollouts are read with their items."""
    live = liveness(run, spec)
    if thread_id is None:
        thread_id = _current_thread(run, agent)
    if thread_id is None:  # (no state.json: the latest thread, told without the items)
        latest = agent_threads(run, spec, agent, live)[-1:]
        thread_id = latest[0].thread_id if latest else None
    chosen = [] if thread_id is None else agent_threads(run, spec, agent, live, items=True,
                                                        only=thread_id)  # fmt: skip
    if not chosen:
        raise UsageError(f"{agent} has no thread yet (it never started)")
    return chosen[0]
