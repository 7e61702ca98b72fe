"""A swarm's status (the ``codeswarm status --json`` contract, docs/fleet.md): replay the
outboxes into fleet state, overlay what is actually running, add the leases each agent holds.
Pure reads (but for the checkpoints below, a cache): the CLI and the HTTP API both answer with it.

**Checkpoints.** A replay does not start from the beginning of every outbox each time: after one,
each agent's reduced state (its view, the history ``interrupt`` and ``approve`` consult, where
in its outbox that state was reached and the record/event seqs there) is written to
``agents/<agent>/status.ckpt`` (atomically; a cache: nothing else reads it). The next replay
starts from there and reads only the tail. A checkpoint that does not fit the outbox any more
(another file at that name, a rotation it cannot follow, different bytes before its offset, a
version or content it does not know) is ignored, and that agent is replayed from the start: the
figures are always those of a full replay (tests/control/test_status_checkpoint.py).

Two ways to replay, one result: :func:`hot_replay` (``status``, ``interrupt`` as whole
processes: stdlib, no ``mailbox``, ``msgspec`` or ``orjson``) reads plain tails and gives up
(returns None) at anything unusual (a corrupt line, a spilled record, a rotated segment); then
the :class:`~codeswarm.control.fleet.router.Router` does it (:func:`_fleet_status`).
"""

from __future__ import annotations

import os

from codeswarm.core import jsonlite

TYPE_CHECKING = False  # not `typing` at run time: the hot commands import this module
if TYPE_CHECKING:
    from typing import Any

    from codeswarm.control.fleet.router import Router
    from codeswarm.control.fleet.state import FleetState
    from codeswarm.control.steering import History
    from codeswarm.core.swarm import RunDir

CHECKPOINT = "status.ckpt"
CHECKPOINT_VERSION = 1
SAVE_AFTER_BYTES = 1024
"""A checkpoint is rewritten once the replay got this many bytes past it (or had none)."""
_TAIL_BYTES = 32
"""The bytes before a checkpoint's offset it keeps, to know the file is still the one it read."""


# -- checkpoints --------------------------------------------------------------------------------
def _outbox(root: str, agent: str) -> str:
    return os.path.join(root, "mailbox", "outbox", agent + ".jsonl")


def _checkpoint_path(root: str, agent: str) -> str:
    return os.path.join(root, "agents", agent, CHECKPOINT)


def _live_segment(path: str, names: list[str] | None = None) -> int:
    """:func:`codeswarm.mailbox.layout.live_segment` on a string path (``names``: the directory's
    entries, when already listed)."""
    prefix = os.path.basename(path) + "."
    if names is None:
        try:
            names = os.listdir(os.path.dirname(path))
        except FileNotFoundError:
            return 0
    top = -1
    for name in names:
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            if rest.isascii() and rest.isdigit():
                top = max(top, int(rest))
    return top + 1


def _segment_file(path: str, segment: int, live: int) -> str:
    return path if segment == live else f"{path}.{segment:06d}"


def _identity(file: str, offset: int) -> tuple[int, str] | None:
    """(inode, hex of the bytes just before ``offset``) of ``file``, None when it is missing or
    shorter."""
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_size < offset:
            return None
        n = min(_TAIL_BYTES, offset)
        return st.st_ino, os.pread(fd, n, offset - n).hex()
    finally:
        os.close(fd)


def load_checkpoint(root: str, agent: str, names: list[str] | None = None) -> dict[str, Any] | None:
    """``agent``'s checkpoint when it still fits its outbox (else None: replay from the start;
    ``names``: the outbox directory's entries, when already listed)."""
    try:
        with open(_checkpoint_path(root, agent), "rb") as f:
            saved = jsonlite.loads(f.read())
    except (OSError, ValueError):
        return None
    if type(saved) is not dict or saved.get("v") != CHECKPOINT_VERSION:
        return None
    segment, offset = saved.get("segment"), saved.get("offset")
    if type(segment) is not int or type(offset) is not int or segment < 0 or offset < 0:
        return None
    if offset == 0 and segment == 0:
        return saved
    path = _outbox(root, agent)
    live = _live_segment(path, names)
    if segment > live:
        return None
    if offset == 0:
        return saved
    seen = _identity(_segment_file(path, segment, live), offset)
    if seen is None or [seen[0], seen[1]] != [saved.get("ino"), saved.get("tail")]:
        return None
    return saved


def save_checkpoint(
    root: str,
    agent: str,
    position: tuple[int, int],
    record_seq: int,
    event_seq: int,
    view: dict[str, Any],
    taken: set[str] | None,
    requested: set[str] | None,
) -> None:
    """Write ``agent``'s checkpoint (atomically); never fails (a cache: one that cannot be
    written, say in a read-only sandbox, is simply not there next time)."""
    segment, offset = position
    path = _outbox(root, agent)
    ident = (0, "")
    if offset:
        found = _identity(_segment_file(path, segment, _live_segment(path)), offset)
        if found is None:
            return
        ident = found
    saved = {"v": CHECKPOINT_VERSION, "segment": segment, "offset": offset, "ino": ident[0],
             "tail": ident[1], "record_seq": record_seq, "event_seq": event_seq, "view": view,
             "taken": sorted(taken or ()), "requested": sorted(requested or ())}  # fmt: skip
    target = _checkpoint_path(root, agent)
    from _thread import get_ident  # (the API replays in threads)

    tmp = f"{target}.{os.getpid()}-{get_ident()}.tmp"
    try:
        data = jsonlite.dumps(saved).encode()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except (OSError, TypeError, ValueError):
        _unlink(tmp)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        return


def _restore(agent: str, saved: dict[str, Any]) -> Any:
    """The view a checkpoint holds (None when it holds none that can be read)."""
    from codeswarm.control.fleet.state import AgentView
    from codeswarm.core.ids import agent_rank

    try:
        view = AgentView.restore(agent, agent_rank(agent), saved["view"])
        if type(saved["record_seq"]) is not int or type(saved["event_seq"]) is not int:
            return None
        if type(saved["taken"]) is not list or type(saved["requested"]) is not list:
            return None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return view


# -- the hot replay ------------------------------------------------------------------------------
def _private(st: os.stat_result, directory: bool) -> bool:
    """What :func:`codeswarm.mailbox.perms.check_stat` lets through."""
    fmt = st.st_mode & 0o170000
    if fmt != (0o040000 if directory else 0o100000):
        return False
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return False
    return directory or st.st_nlink == 1


class HotReplay:
    """What :func:`hot_replay` found: the fleet state, and per agent the inbox ids that became
    a turn (or were refused) and the approval requests seen (:class:`steering.History`)."""

    def __init__(self, fleet: FleetState) -> None:
        self.fleet = fleet
        self.taken: dict[str, set[str]] = {}
        self.requested: dict[str, set[str]] = {}


def hot_replay(root: str, swarm: str, agents: list[str], *, save: bool = True) -> HotReplay | None:
    """Every agent's state from its checkpoint and the tail of its outbox, with the standard
    library only; None when a tail holds anything but plain records (the router's replay then
    does it, exactly as before)."""
    import gc

    from codeswarm.control.fleet.state import FleetState

    replay = HotReplay(FleetState(swarm, agents))
    try:
        names = os.listdir(os.path.join(root, "mailbox", "outbox"))
    except FileNotFoundError:
        names = []
    except OSError:
        return None
    threshold = gc.get_threshold()
    gc.set_threshold(20_000, 20, 20)  # as gcpolicy.bulk: young dicts, no collections
    try:
        for agent in agents:
            if not _hot_agent(root, swarm, agent, replay, save, names):
                return None
    finally:
        gc.set_threshold(*threshold)
    return replay


def _hot_agent(
    root: str, swarm: str, agent: str, replay: HotReplay, save: bool, names: list[str]
) -> bool:
    path = _outbox(root, agent)
    if _live_segment(path, names):
        return False  # rotated: the router follows rotations
    saved = load_checkpoint(root, agent, names)
    offset = record_seq = event_seq = 0
    taken: set[str] = set()
    requested: set[str] = set()
    if saved is not None and saved["segment"] == 0:
        view = _restore(agent, saved)
        if view is not None:
            replay.fleet.agents[agent] = view
            offset, record_seq, event_seq = saved["offset"], saved["record_seq"], saved["event_seq"]
            taken, requested = set(saved["taken"]), set(saved["requested"])
    start = offset
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = -1
    except OSError:
        return False
    data = b""
    if fd >= 0:
        try:
            st = os.fstat(fd)
            if not _private(st, False) or not _private(os.stat(os.path.dirname(path)), True):
                return False  # the router's reader says what is wrong
            if st.st_size < offset:
                return False
            data = os.pread(fd, st.st_size - offset, offset) if st.st_size > offset else b""
        finally:
            os.close(fd)
    elif offset:
        return False
    apply = replay.fleet.apply
    loads = jsonlite.loads
    off = offset
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: a partial line, or nothing
    if lines:  # (a tail to replay: only then the translation loads)
        from codeswarm.control.events.records import record_events
        from codeswarm.core import events as ev
    for line in lines:
        end = off + len(line) + 1
        if not line:
            off = end
            continue
        try:
            record = loads(line)
        except ValueError:
            return False  # corrupt: reported by the router, in order
        if type(record) is not dict or type(record.get("seq")) is not int or "spill" in record:
            return False
        off = end
        offset = end  # the router's cursor: after the last record
        seq = record["seq"]
        if seq <= record_seq:
            continue
        record_seq = seq
        for event in record_events(agent, record):
            event_seq += 1
            event["seq"] = event_seq
            event["swarm"] = swarm
            apply(event)
            kind = event["type"]
            if kind == ev.MESSAGE_ACCEPTED or (kind == ev.ERROR and event.get("inbox_id")):
                taken.add(str(event.get("inbox_id")))
            elif kind == ev.APPROVAL_REQUESTED:
                requested.add(str(event.get("request_id")))
    replay.taken[agent] = taken
    replay.requested[agent] = requested
    if save and (saved is None or offset - start >= SAVE_AFTER_BYTES):
        view = replay.fleet.view(agent).saved()
        save_checkpoint(root, agent, (0, offset), record_seq, event_seq, view, taken, requested)
    return True


# -- the router's replay -------------------------------------------------------------------------
def _replay(run: RunDir, spec: Any, sink: History | None) -> Router:
    """The router's replay, from each agent's checkpoint where it has one that fits; writes
    the checkpoints after. ``sink`` (a :class:`steering.History`) gets what the replay saw."""
    from codeswarm.control.fleet.router import AgentCursor, Router
    from codeswarm.mailbox import Position

    router = Router(run, start="begin", spec=spec)
    root = str(run.root)
    start: dict[str, tuple[int, int]] = {}
    history = sink
    if history is None:  # (what the checkpoints keep for interrupt and approve)
        from codeswarm.control.steering import History

        history = History()
    for agent in router.agents:
        saved = load_checkpoint(root, agent)
        view = None if saved is None else _restore(agent, saved)
        if saved is None or view is None:
            continue
        position = Position(saved["segment"], saved["offset"])
        router.cursors[agent] = AgentCursor(position, saved["record_seq"], saved["event_seq"])
        router.fleet.agents[agent] = view
        start[agent] = (saved["segment"], saved["offset"])
        history.taken[agent] = set(saved["taken"])
        history.requested[agent] = set(saved["requested"])
    router.replay(history)
    for agent in router.agents:
        cur = router.cursors[agent]
        at = (cur.position.segment, cur.position.offset)
        before = start.get(agent)
        if before is not None and before[0] == at[0] and at[1] - before[1] < SAVE_AFTER_BYTES:
            continue
        view = router.fleet.view(agent).saved()
        save_checkpoint(root, agent, at, cur.record_seq, cur.event_seq, view,
                        history.taken.get(agent), history.requested.get(agent))  # fmt: skip
    return router


# -- the status ----------------------------------------------------------------------------------
def _with_leases(out: dict[str, Any], spec: Any) -> dict[str, Any]:
    """Add each agent's leases (what it holds in the coordination store) to the status."""
    if not spec.coord or not spec.coord_db:
        return out
    from codeswarm.coordination.held import held  # (the store alone: hot commands)

    try:
        leases = held(spec.coord_db, _scope(spec))
    except Exception as exc:  # (core.errors loads only now: hot commands)
        from codeswarm.core.errors import CoordError

        if not isinstance(exc, CoordError):
            raise
        out["coordination"] = {"error": str(exc)}
        return out
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for holder, path, mode, note, token in leases:
        by_agent.setdefault(holder, []).append(
            {"path": path, "mode": mode, "note": note, "token": token}
        )
    for agent in out["agents"]:
        agent["leases"] = by_agent.get(agent["id"], [])
    return out


def _scope(spec: Any) -> str:
    """:func:`codeswarm.core.swarm.swarm_scope`, for a spec or a :class:`HotSpec`."""
    if spec.scope:
        return str(spec.scope)
    from codeswarm.core.paths import project_root_str

    return project_root_str(spec.cwd)


def fleet_status(run: RunDir) -> dict[str, Any]:
    """The status JSON (the contract in the CLI docs)."""
    spec = run.load_spec()
    return _with_leases(_fleet_status(run, spec), spec)


def _fleet_status(run: RunDir, spec: Any, sink: History | None = None) -> dict[str, Any]:
    from codeswarm.control.launch import backend_for

    router = _replay(run, spec, sink)
    sections = backend_for(spec.backend).overlay(router.fleet, run, spec)
    return status_json(router.fleet, spec, sections)


def status_json(fleet: FleetState, spec: Any, sections: dict[str, Any]) -> dict[str, Any]:
    """The status JSON of a replayed and overlaid ``fleet`` (leases not yet added)."""
    out = {**fleet.as_json(), **sections, "backend": spec.backend}
    roles, runtimes = spec.roles, spec.runtimes
    for agent in out["agents"]:
        rank = agent["rank"] or 0
        agent["role"] = roles[rank % len(roles)] if roles else _default_role()
        agent["runtime"] = runtimes[rank] if rank < len(runtimes) else "codex"  # agent_runtime
    out["budgets"] = budgets_of(spec, out["agents"])
    return out


def _default_role() -> str:
    from codeswarm.core.defaults import ROLE

    return ROLE


def budgets_of(spec: Any, agents: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The swarm's token budgets and what they count (input + output), or None when it has
    none: ``{swarm, agent, warn, spent}`` (``swarm``/``agent``: the limits, None when unset;
    ``spent``: every agent together)."""
    if spec.budget_tokens is None and spec.agent_budget_tokens is None:
        return None
    spent = sum(a["tokens"]["input"] + a["tokens"]["output"] for a in agents)
    return {"swarm": spec.budget_tokens, "agent": spec.agent_budget_tokens,
            "warn": spec.budget_warn, "spent": spent}  # fmt: skip


def fleet_views(run: RunDir, spec: Any, sink: History | None = None) -> dict[str, dict[str, Any]]:
    """Each agent's status view by id (``sink`` learns what the replay saw)."""
    return {a["id"]: a for a in _fleet_status(run, spec, sink)["agents"]}


def swarm_row(run: RunDir, spec: Any) -> dict[str, Any]:
    """One swarm as ``codeswarm ls --json`` lists it."""
    from codeswarm.control.launch import backend_for
    from codeswarm.core.errors import CodeswarmError

    backend = backend_for(spec.backend)
    try:
        running = backend.running(run) is not None
    except CodeswarmError:  # e.g. Slurm cannot be asked from here
        running = False
    return {
        "swarm": spec.name,
        "agents": spec.size,
        "running": running,
        "backend": spec.backend,
        "live_workers": backend.live_workers(run, spec),
        "cwd": spec.cwd,
        "model_provider": spec.model_provider,
    }


# -- what runs, without the launch backends ---------------------------------------------------------
def hot_overlay(root: str, fleet: FleetState) -> dict[str, Any]:
    """:meth:`codeswarm.control.launch.local.LocalBackend.overlay` on a run directory's path
    (the standard library only): an agent the events say runs but whose worker does not is
    ``failed``."""
    from codeswarm.control.fleet.state import FAILED, STOPPED

    for agent, view in fleet.agents.items():
        if view.state not in (STOPPED, FAILED) and not _worker_alive(root, agent):
            view.state = FAILED
            view.error = view.error or "worker not running"
    return {"supervisor": {"running": _lock_holder(os.path.join(root, "supervisor.pid"))}}


def _worker_alive(root: str, agent: str) -> bool:
    """:func:`codeswarm.control.launch.local.live_workers` for one agent."""
    try:
        with open(os.path.join(root, "agents", agent, "worker.pid")) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return "codeswarm.worker" in cmdline and agent in cmdline


def _lock_holder(path: str) -> bool:
    """Whether a live process holds the pid lock on ``path`` (:func:`control.proc.running_pid`
    is not None)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class HotSpec:
    """What the hot commands read of ``swarm.json`` (the fields :class:`SwarmSpec` gives them,
    with its defaults), without ``msgspec``. :meth:`load` gives None for a spec it cannot vouch
    for: the command then loads it the ordinary way (and says what is wrong)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.name: str = raw["name"]
        self.size: int = raw["size"]
        self.cwd: str = raw["cwd"]
        self.backend: str = raw.get("backend", "local")
        self.coord: bool = raw.get("coord", True)
        self.coord_db: str | None = raw.get("coord_db")
        self.scope: str | None = raw.get("scope")
        self.roles: list[str] = raw.get("roles", [])
        self.runtimes: list[str] = raw.get("runtimes", [])
        self.budget_tokens: int | None = raw.get("budget_tokens")
        self.agent_budget_tokens: int | None = raw.get("agent_budget_tokens")
        self.budget_warn: float = raw.get("budget_warn", 0.8)

    @classmethod
    def load(cls, root: str) -> HotSpec | None:
        try:
            with open(os.path.join(root, "swarm.json"), "rb") as f:
                raw = jsonlite.loads(f.read())
        except (OSError, ValueError):
            return None
        if type(raw) is not dict or type(raw.get("codex_bin")) is not str:
            return None
        try:
            spec = cls(raw)
        except KeyError:
            return None
        optional_str = (type(spec.coord_db) in (str, type(None))
                        and type(spec.scope) in (str, type(None)))  # fmt: skip
        budgets = all(type(b) in (int, type(None))
                      for b in (spec.budget_tokens, spec.agent_budget_tokens))  # fmt: skip
        ok = (type(spec.name) is str and type(spec.size) is int and spec.size >= 0
              and type(spec.cwd) is str and spec.backend in ("local", "slurm")
              and type(spec.coord) is bool and optional_str and budgets
              and type(spec.budget_warn) in (int, float) and type(spec.roles) is list
              and all(type(r) is str for r in spec.roles) and type(spec.runtimes) is list
              and all(r in ("codex", "claude") for r in spec.runtimes))  # fmt: skip
        if not ok:
            return None
        spec.budget_warn = float(spec.budget_warn)  # as msgspec decodes a float field
        return spec

    def agents(self) -> list[str]:
        return [f"{self.name}_{rank}" for rank in range(self.size)]
