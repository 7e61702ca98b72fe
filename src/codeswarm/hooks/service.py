"""A fleet agent's hook decision service: its hooks ask it over a unix socket instead of each
importing the coordination store and opening it again (docs/hooks.md).

One per agent, a thread in the agent's worker, listening on ``<agent dir>/hooks.sock`` (the
agent's state directory: mode 0700, read-only inside the agent's sandbox). It answers with the
very code a hook runs by itself (:func:`codeswarm.hooks.call.decide`), with the environment
the worker gave the agent's Codex (which is what the hook has: Codex passes its own to hooks),
on the worker's own connection to the store. Calls are answered one at a time, in the order
they connect.

Who may ask: a process of the same user that is a descendant of this agent's Codex process
(by SO_PEERCRED's pid, the parents read from ``/proc``) and in the same PID namespace (a
command the model runs is in its sandbox's own: refused). Anyone else's connection is closed
unanswered, and counted. A peer can therefore not use an agent's service to act as that agent;
the agent's identity is the service's, never the caller's. A refused or failed call leaves the
hook to decide by itself (:mod:`codeswarm.hooks.client`), and so does a store the worker cannot
reach: the hook then tries on a connection of its own, and the fail-open / fail-closed policy
applies as it always did.

Protocol: the hook sends ``client NUL event NUL cwd NUL event-bytes`` and shuts its side; the
service answers ``stdout-bytes NUL stderr-bytes`` and closes. ``stats`` (any process of the
same user) answers ``{"served": n, "refused": n}`` as JSON.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
import threading
from typing import cast

from codeswarm.core.errors import StoreUnavailableError
from codeswarm.hooks.call import CLIENTS, EVENTS, decide

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from codeswarm.coordination import Agent, Coord, Lease
    from codeswarm.coordination.store import Store

log = logging.getLogger("codeswarm.hooks.service")

SOCKET = "hooks.sock"
IO_TIMEOUT_S = 10.0
"""How long a connected caller gets to send its event."""
STRANGER_TIMEOUT_S = 1.0
"""How long a caller that may not ask gets to send ``stats`` (all it may ask)."""
MAX_EVENT_BYTES = 64 << 20
"""A larger event is not read (the hook then decides by itself)."""
MAX_ANCESTORS = 32
"""How far up from the caller this agent's Codex process is looked for."""
STATS = b"stats"
REFUSALS_LOGGED = 10
"""The first refusals are logged (then one in a thousand: a caller may try in a loop)."""


def socket_path(agent_dir: str) -> str:
    """Where an agent's service listens (the hook computes the same path from its
    environment: ``codeswarm.hooks.__main__.service_path``)."""
    return os.path.join(agent_dir, SOCKET)


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rfind(b")") + 2 :].split()[1])


def _pid_namespace(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def descends_from(pid: int, ancestor: int) -> bool:
    """Whether process ``pid`` is ``ancestor`` or one of its descendants (``/proc``)."""
    for _ in range(MAX_ANCESTORS):
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
        parent = _parent(pid)
        if parent is None:
            return False
        pid = parent
    return False


class KeptLeases:
    """A view of the worker's store (a :class:`~codeswarm.coordination.Coord`, which it stands
    for) that keeps the scope's live leases between calls, as long as they are certainly still
    what the store holds: nobody committed anything since they were read (the store's change
    mark: its own commits and SQLite's ``data_version``, which moves with any other connection's
    or process's commit) and none of them (nor its holder) has expired since. A lease taken a
    moment ago, by anyone, is therefore seen: its commit moved the mark.

    Its own heartbeats and audit rows (every PreToolUse writes one or the other) change no lease
    and no other agent: when exactly that one commit happened in between, the kept list stays.
    Used only on a store with a change mark (SQLite); anything else is asked every time."""

    def __init__(self, coord: Coord, mark: Callable[[], object]) -> None:
        self.coord = coord
        self._mark_now = mark
        self._mark: object = None
        self._paths: list[tuple[str, str, str]] = []
        self._ids: list[int] = []
        self._known: dict[int, tuple[str, str, str]] = {}
        """Lease id -> (path, kind, holder ref): never changes under an id."""
        self._until = 0.0
        self._at = 0.0
        self.reads = 0
        """How many times the live leases were read from the store (a test's window)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.coord, name)

    def lease_paths(self) -> list[tuple[str, str, str]]:
        """As :meth:`Coord.lease_paths <codeswarm.coordination.Coord.lease_paths>`. Read again
        (their ids only, and the paths of new ones) when the store changed or one expired; the
        very same list while the live leases are the same ones."""
        mark = self._mark_now()  # before the read: a commit after it moves the mark again
        now = self.coord.clock.now()
        if mark != self._mark or not self._at <= now < self._until:
            self._mark = None
            ids, until = self.coord.live_lease_ids()
            if ids != self._ids:
                known = self._known
                new = [i for i in ids if i not in known]
                if new:
                    known.update(self.coord.lease_paths_of(new))
                ids = [i for i in ids if i in known]  # (one released since: it is not live)
                self._paths = [known[i] for i in ids]
                self._ids = ids
                if len(known) > 2 * len(ids) + 1000:  # forget long-released ones
                    self._known = {i: known[i] for i in ids}
            self._until = until
            self._at = self.coord.clock.now()  # not earlier than the read's own `now`
            self._mark = mark
            self.reads += 1
        return self._paths

    def conflicts(
        self, path: str, *, agent: str | None = None, shared: bool = False, cwd: str | None = None
    ) -> list[Lease]:
        """As :meth:`Coord.conflicts <codeswarm.coordination.Coord.conflicts>`: the overlap is
        found in the kept list (read again if stale), the records read by id."""
        if shared or cwd is not None:
            return self.coord.conflicts(path, agent=agent, shared=shared, cwd=cwd)
        from codeswarm.coordination.models import agent_name
        from codeswarm.coordination.paths import FILE, from_canonical, normalize

        spec = normalize(path, self.coord.root)
        me = None if agent is None else agent_name(agent)
        paths = self.lease_paths()
        ids = [
            lease_id
            for (held, kind, holder), lease_id in zip(paths, self._ids, strict=True)
            if (
                spec.path == held
                if spec.kind == FILE and kind == FILE
                else spec.overlaps(from_canonical(held, kind))
            )
            and agent_name(holder) != me
        ]
        return self.coord.leases_by_id(ids)

    def heartbeat(self, agent: str) -> Agent:
        before = self._mark_now()
        out = self.coord.heartbeat(agent)
        self._own_commit(before)
        return out

    def report(self, agent: str, kind: str, subject: str, data: dict[str, object]) -> None:
        before = self._mark_now()
        self.coord.report(agent, kind, subject, data)
        self._own_commit(before)

    def _own_commit(self, before: object) -> None:
        """A heartbeat or an audit row of ours was committed: if it is the one commit since
        ``before`` and the kept leases were current then, they still are (it extends only our
        own expiry, which the kept ``until`` under-states, and sweeps only what had expired)."""
        if before != self._mark or not isinstance(before, tuple):
            return
        after = self._mark_now()
        if after == (before[0] + 1, *before[1:]):
            self._mark = after


class _Coords:
    """Views of the worker's store, one per ``(root, scope)`` (a hook's lease root and scope).

    The worker's own store, not one opened here: a second SQLite store in one process would
    check the database file's header through a descriptor of its own, and closing that drops
    every POSIX lock the process holds on the file (SQLite's among them), after which another
    process may take itself for the last one and delete the write-ahead log under us."""

    def __init__(self) -> None:
        self._views: dict[tuple[int, str, str | None], Coord] = {}

    def get(self, store: Store, root: str, scope: str | None) -> Coord:
        """The view for ``(root, scope)``: a :class:`KeptLeases` (which stands for a Coord)
        when the store has a change mark."""
        key = (id(store), root, scope)
        coord = self._views.get(key)
        if coord is None or coord.store is not store:
            from codeswarm.coordination import Coord

            view = Coord(store, root=root, scope=scope)
            mark = getattr(store, "change_mark", None)
            kept = view if mark is None else cast("Coord", KeptLeases(view, mark))
            coord = self._views[key] = kept
        return coord

    def clear(self) -> None:
        self._views = {}  # views only: the store is the worker's, closed by the worker

    def reads(self) -> int:
        """How many times the views read the live leases from the store (not kept)."""
        return sum(int(getattr(view, "reads", 0)) for view in self._views.values())


class HookService:
    """``start()`` listens (a thread), ``close()`` stops and removes the socket (safe twice).

    ``env()`` is the agent's hooks' environment, ``codex_pid()`` its Codex process (None while
    there is none: every caller is refused), ``store()`` the worker's coordination store (the
    one its hooks' ``CODESWARM_DB`` names; None while it has none: no call is answered)."""

    def __init__(
        self,
        agent_dir: str,
        env: Callable[[], Mapping[str, str]],
        codex_pid: Callable[[], int | None],
        store: Callable[[], Store | None],
    ) -> None:
        self.path = socket_path(agent_dir)
        self._dir = agent_dir
        self._env = env
        self._codex_pid = codex_pid
        self._store = store
        self._coords = _Coords()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._namespace = _pid_namespace("self")
        self.served = 0
        self.refused = 0

    @property
    def lease_reads(self) -> int:
        """How many calls read the live leases from the store rather than using those kept
        (:class:`KeptLeases`; since the views were last cleared)."""
        return self._coords.reads()

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen on :attr:`path` (a stale socket there is replaced). Raises OSError."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self._at_path(sock.bind)
            os.chmod(self.path, 0o600)
            sock.listen(16)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="hook-service", daemon=True)
        self._thread.start()

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        self._closing = True
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # accept() fails at once (the path may be gone)
        if self._thread is not None:
            self._thread.join(IO_TIMEOUT_S)
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        self._coords.clear()

    def _at_path(self, call: Callable[[str], None]) -> None:
        """``call(path)``, through the directory's descriptor when the path is too long for
        ``sun_path`` (107 bytes)."""
        if len(self.path.encode()) <= 100:
            call(self.path)
            return
        fd = os.open(self._dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            call(f"/proc/self/fd/{fd}/{SOCKET}")
        finally:
            os.close(fd)

    # -- serving ---------------------------------------------------------------------------------
    def _serve(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._closing:
            try:
                conn, _ = sock.accept()
            except OSError:
                if self._closing:
                    return
                continue
            with conn:
                if self._closing:
                    return
                try:
                    self._answer(conn)
                except OSError:  # the caller went away, or was too slow to send
                    continue
                except StoreUnavailableError:  # left to the hook: it decides by itself
                    continue
                except Exception:  # a bug must not end the service: the hook decides itself
                    log.exception("hook service: a call failed")
                    self._coords.clear()

    def _answer(self, conn: socket.socket) -> None:
        pid, uid, _ = struct.unpack(
            "3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        )
        if uid != os.getuid():
            self._refuse(pid, "another user")
            return
        why = self._stranger(pid)
        conn.settimeout(IO_TIMEOUT_S if why is None else STRANGER_TIMEOUT_S)
        data = self._read(conn)
        if data == STATS:
            conn.sendall(json.dumps({"served": self.served, "refused": self.refused}).encode())
            return
        if why is not None:
            self._refuse(pid, why)
            return
        if data is None:
            return
        parts = data.split(b"\0", 3)
        if len(parts) != 4:
            return
        client, event = parts[0].decode(errors="replace"), parts[1].decode(errors="replace")
        if client not in CLIENTS or event not in EVENTS:
            return
        store = self._store()
        if store is None:
            return  # the agent runs uncoordinated: its hooks open the store themselves
        env = self._env()
        out, err = decide(
            client,
            event,
            parts[3],
            env,
            cwd=os.fsdecode(parts[2]) or None,
            parent_pid=_parent(pid),
            opener=lambda root, scope: self._coords.get(store, root, scope),
            raise_unreachable=True,  # the hook tries by itself, on a connection of its own
        )
        self.served += 1
        conn.sendall(out + b"\0" + err.encode(errors="replace"))

    def _read(self, conn: socket.socket) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = conn.recv(1 << 16)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_EVENT_BYTES:
                return None
            chunks.append(chunk)

    def _stranger(self, pid: int) -> str | None:
        """Why process ``pid`` may not ask (None: it may)."""
        codex = self._codex_pid()
        if codex is None:
            return "no Codex process of this agent is running"
        if self._namespace is None or _pid_namespace(pid) != self._namespace:
            return "not in the agent's PID namespace (a sandboxed command)"
        if not descends_from(pid, codex):
            return f"not a descendant of the agent's Codex process {codex}"
        return None

    def _refuse(self, pid: int, why: str) -> None:
        self.refused += 1
        if self.refused <= REFUSALS_LOGGED or self.refused % 1000 == 0:
            log.warning("hook service: refused process %d (%d so far): %s", pid, self.refused, why)
