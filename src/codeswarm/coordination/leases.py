"""Leases on paths: exclusive or shared, file / directory / glob, TTL, re-entrant, fenced."""

from __future__ import annotations

from codeswarm.coordination import rows
from codeswarm.coordination._base import CoordBase, _lease_data, ref_parts
from codeswarm.coordination.bounds import WAIT, check_path
from codeswarm.coordination.held import live_sql
from codeswarm.coordination.models import EXCLUSIVE, SHARED, Lease, agent_ref
from codeswarm.coordination.paths import FILE, PathSpec, from_canonical, normalize

TYPE_CHECKING = False
if TYPE_CHECKING:
    from codeswarm.coordination._base import AgentLike
    from codeswarm.coordination.feed import Watch
    from codeswarm.coordination.store import Params, Row, Tx

if TYPE_CHECKING:
    from codeswarm.core import errors
else:  # (loaded on the way to an error: ._errors)
    from codeswarm.coordination._errors import errors

_SCOPE_LEASES = (
    f"SELECT {', '.join('l.' + c for c in rows.LEASE_COLS.split(', '))}, a.expires_at "
    "FROM leases l LEFT JOIN agents a ON a.scope = l.scope AND a.name = l.holder "
    "WHERE l.scope = ?"
)
"""Every lease of a scope, with its holder's expiry (column 12)."""
_TOKEN = "SELECT value FROM counters WHERE name = 'lease_token'"
_COLUMNS = f"{', '.join('l.' + c for c in rows.LEASE_COLS.split(', '))}, a.expires_at"
_LIVE = live_sql(_COLUMNS)
"""The live leases of a scope (:mod:`.held`), with their holder's expiry (column 12)."""
_LIVE_OF = live_sql(_COLUMNS, holder=True)
_LIVE_IDS = live_sql("group_concat(l.id), min(l.expires_at), min(a.expires_at)", order=False)
"""The live leases' ids and earliest expiries, one row (SQLite: ``group_concat``)."""


class LeaseOps(CoordBase):
    def lease(
        self,
        agent: AgentLike,
        path: str,
        *,
        shared: bool = False,
        ttl: float | None = None,
        note: str = "",
        cwd: str | None = None,
        wait: float = 0.0,
    ) -> Lease:
        """Take (or renew) a lease on ``path`` for ``agent`` and return it.

        ``path`` is a file, a directory (trailing ``/`` or an existing directory: everything
        under it) or a glob, relative to ``cwd`` (default: the scope root). A shared lease
        conflicts only with exclusive leases of other agents; an exclusive one with any. Taking
        a path you already hold is re-entrant: it renews (same token), or changes the mode
        (a new grant, a new token). ``ttl`` seconds (renewable) bound the lease; without one it
        lasts until released or until its holder expires.

        Raises LeaseConflictError (holder, note, age, expiry) when another agent holds an
        overlapping lease, after waiting up to ``wait`` seconds for it to go away;
        PathEscapeError for a path outside the root; FencedError for a stale agent.
        """
        spec = normalize(path, self.root, cwd)
        check_path(spec.path)
        ttl = None if ttl is None else self.limits.ttl.check("ttl", ttl)
        wait = WAIT.check("wait", wait)
        self._text("note", note, self.limits.title)
        mode = SHARED if shared else EXCLUSIVE
        if wait <= 0:
            return self._grant(agent, spec, mode, ttl, note)

        def attempt(w: Watch) -> Lease | None:
            try:
                return self._grant(agent, spec, mode, ttl, note)
            except errors.LeaseConflictError as exc:
                if w.left <= 0:
                    raise
                for lapse in (exc.expires_in, exc.holder_expires_in):
                    if lapse is not None:  # it may lapse before anyone writes
                        w.wake_within(max(lapse, 0.0) + 0.01)
                return None

        from codeswarm.coordination.feed import watch  # (only a lease that waits)

        lease = watch(self.store, wait, attempt)
        assert lease is not None  # the last attempt raises
        return lease

    def _grant(
        self, agent: AgentLike, spec: PathSpec, mode: str, ttl: float | None, note: str
    ) -> Lease:
        # Refuse without taking the write lock when a snapshot already shows a conflict: the
        # lease was held at that moment, which is as true an answer as one given under the lock,
        # and contended paths then cost readers, not writers.
        name, _ = ref_parts(agent)
        with self.store.read() as tx:
            now = self.clock.now()
            for row in self._live(tx, now, None):
                shared = mode == SHARED and row[3] == SHARED
                if row[4] != name and not shared and _overlaps(spec, row):
                    raise self._conflict(spec, row, now)
        with self.store.write() as tx:
            now = self.clock.now()
            (name, gen), (held, counter) = self._begin_as(
                tx, now, agent, [(_SCOPE_LEASES, (self.scope,)), (_TOKEN, ())]
            )
            same: Row | None = None
            for row in held:
                if row[4] == name:
                    if row[1] == spec.path and row[2] == spec.kind:
                        same = row
                    continue
                if mode == SHARED and row[3] == SHARED:
                    continue
                if _overlaps(spec, row):
                    raise self._conflict(spec, row, now)
            expires = None if ttl is None else now + ttl
            if same is not None and same[3] == mode:
                tx.defer(
                    "UPDATE leases SET renewed_at = ?, expires_at = ?, ttl = ?, note = ? "
                    "WHERE id = ?",
                    (now, expires, ttl, note, same[0]),
                )
                lease = rows.lease(same)
                lease.renewed_at, lease.expires_at, lease.ttl, lease.note = now, expires, ttl, note
                self._event(
                    tx, now, "lease.renewed", spec.path, _lease_data(lease), agent=(name, gen)
                )
                return lease
            if same is not None:  # a mode change is a new grant
                tx.defer("DELETE FROM leases WHERE id = ?", (same[0],))
                data = _lease_data(rows.lease(same))
                data["reason"] = "mode change"
                self._event(tx, now, "lease.released", spec.path, data, agent=(name, gen))
            # the lease's id is its fencing token: one more than any granted before (writes
            # are serialized, so reading the counter and writing it back is safe)
            token = int(counter[0][0]) + 1
            tx.defer("UPDATE counters SET value = ? WHERE name = 'lease_token'", (token,))
            tx.defer(
                "INSERT INTO leases (id, scope, path, kind, mode, holder, generation, note, ttl, "
                "acquired_at, renewed_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (token, self.scope, spec.path, spec.kind, mode, name, gen, note, ttl, now, now,
                 expires),
            )  # fmt: skip
            lease = Lease(
                id=token,
                path=spec.path,
                kind=spec.kind,
                mode=mode,
                holder=agent_ref(name, gen),
                note=note,
                token=token,
                ttl=ttl,
                acquired_at=now,
                renewed_at=now,
                expires_at=expires,
            )
            data = _lease_data(lease)
            data["ttl"] = ttl
            self._event(tx, now, "lease.acquired", spec.path, data, agent=(name, gen))
        return lease

    def _conflict(self, spec: PathSpec, row: Row, now: float) -> errors.LeaseConflictError:
        held = rows.lease(row)
        return errors.LeaseConflictError(
            spec.path,
            held=held.path,
            holder=held.holder,
            mode=held.mode,
            note=held.note,
            age=now - held.acquired_at,
            expires_in=None if held.expires_at is None else held.expires_at - now,
            holder_expires_in=None if row[12] is None else float(row[12]) - now,
        )

    def renew(
        self, agent: AgentLike, path: str | None = None, *, cwd: str | None = None
    ) -> list[Lease]:
        """Extend the TTL of ``agent``'s lease on ``path`` (default: all its leases with a TTL)
        by their TTL from now. Raises NotFoundError when it holds no lease on ``path``."""
        spec = None if path is None else normalize(path, self.root, cwd)
        if spec is not None:
            check_path(spec.path)  # no lease has a longer (or non-UTF-8) path
        with self.store.write() as tx:
            now = self.clock.now()
            (name, gen), (held,) = self._begin_as(tx, now, agent, [self._held(agent, spec)])
            if spec is not None and not held:
                raise errors.NotFoundError(f"{name} holds no lease on {spec.path}")
            out = []
            for row in held:
                lease = rows.lease(row)
                if lease.ttl is not None:
                    lease.expires_at = now + lease.ttl
                    lease.renewed_at = now
                    tx.defer(
                        "UPDATE leases SET renewed_at = ?, expires_at = ? WHERE id = ?",
                        (now, lease.expires_at, lease.id),
                    )
                    self._event(
                        tx, now, "lease.renewed", lease.path, _lease_data(lease), agent=(name, gen)
                    )
                out.append(lease)
        return out

    def release(self, agent: AgentLike, path: str, *, cwd: str | None = None) -> Lease:
        """Release ``agent``'s lease on exactly ``path``; returns it. Raises NotFoundError when
        it holds none there."""
        spec = normalize(path, self.root, cwd)
        check_path(spec.path)  # no lease has a longer (or non-UTF-8) path
        with self.store.write() as tx:
            now = self.clock.now()
            (name, gen), (held,) = self._begin_as(tx, now, agent, [self._held(agent, spec)])
            if not held:
                raise errors.NotFoundError(f"{name} holds no lease on {spec.path}")
            row = held[0]
            tx.defer("DELETE FROM leases WHERE id = ?", (row[0],))
            lease = rows.lease(row)
            self._event(
                tx, now, "lease.released", lease.path, _lease_data(lease), agent=(name, gen)
            )
        return lease

    def release_all(self, agent: AgentLike) -> list[Lease]:
        """Release every lease ``agent`` holds; returns them."""
        with self.store.write() as tx:
            now = self.clock.now()
            (name, gen), _ = self._begin_as(tx, now, agent)
            out = [
                rows.lease(r)
                for r in tx.query(
                    f"DELETE FROM leases WHERE scope = ? AND holder = ? RETURNING {rows.LEASE_COLS}",
                    (self.scope, name),
                )
            ]
            for lease in out:
                self._event(
                    tx, now, "lease.released", lease.path, _lease_data(lease), agent=(name, gen)
                )
        return out

    def _held(self, agent: AgentLike, spec: PathSpec | None) -> tuple[str, Params]:
        """The query for ``agent``'s leases (on exactly ``spec``, when given)."""
        name, _ = ref_parts(agent)
        if spec is None:
            return (
                f"SELECT {rows.LEASE_COLS} FROM leases WHERE scope = ? AND holder = ?",
                (self.scope, name),
            )
        return (
            f"SELECT {rows.LEASE_COLS} FROM leases "
            "WHERE scope = ? AND holder = ? AND path = ? AND kind = ?",
            (self.scope, name, spec.path, spec.kind),
        )

    def leases(
        self, *, holder: AgentLike | None = None, path: str | None = None, cwd: str | None = None
    ) -> list[Lease]:
        """The live leases of this scope, oldest first; only ``holder``'s, or only those
        overlapping ``path``, when given."""
        spec = None if path is None else normalize(path, self.root, cwd)
        name = None
        if holder is not None:
            name, _ = ref_parts(holder)
        with self.store.read() as tx:
            now = self.clock.now()
            found = self._live(tx, now, name)
        return [rows.lease(r) for r in found if spec is None or _overlaps(spec, r)]

    def lease_paths(self) -> list[tuple[str, str, str]]:
        """``(path, kind, holder ref)`` of every live lease of this scope, oldest first: what
        :meth:`leases` lists, without building the records (hooks read it on every tool call)."""
        with self.store.read() as tx:
            now = self.clock.now()
            found = self._live(tx, now, None)
        return [(r[1], r[2], agent_ref(r[4], int(r[5]))) for r in found]

    def live_lease_ids(self) -> tuple[list[int], float]:
        """The ids of this scope's live leases, oldest first, and until when that list stays
        true if nothing is committed meanwhile: the earliest expiry among these leases and their
        holders (``inf``: none expires). With :meth:`lease_paths_of`, what :meth:`lease_paths`
        lists, for a caller that keeps it and checks the store's change mark before it uses it
        again (the hooks' decision service): one row, whatever the number of leases."""
        with self.store.read() as tx:
            now = self.clock.now()
            found = tx.query(_LIVE_IDS, (self.scope, now, now))
        ids_text, lease_min, agent_min = found[0] if found else (None, None, None)
        if not ids_text:
            return [], float("inf")
        ids = sorted(int(i) for i in str(ids_text).split(","))
        until = min(float("inf") if lease_min is None else float(lease_min), float(agent_min))
        return ids, until

    def lease_paths_of(self, ids: list[int]) -> dict[int, tuple[str, str, str]]:
        """``id -> (path, kind, holder ref)`` of the leases among ``ids`` that still exist
        (live or not). These never change under an id (a renewal changes times and the note;
        a new mode or holder is a new lease, and ids are never reused)."""
        out: dict[int, tuple[str, str, str]] = {}
        with self.store.read() as tx:
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                for r in tx.query(
                    "SELECT id, path, kind, holder, generation FROM leases "
                    f"WHERE scope = ? AND id IN ({', '.join('?' * len(part))})",
                    [self.scope, *part],
                ):
                    out[int(r[0])] = (r[1], r[2], agent_ref(r[3], int(r[4])))
        return out

    def leases_by_id(self, ids: list[int]) -> list[Lease]:
        """The live leases among ``ids``, oldest first (the records a caller that kept
        :meth:`live_lease_ids` names)."""
        if not ids:
            return []
        with self.store.read() as tx:
            now = self.clock.now()
            found = [
                r
                for chunk in range(0, len(ids), 500)
                for r in self._live_ids(tx, now, ids[chunk : chunk + 500])
            ]
        return [rows.lease(r) for r in sorted(found, key=lambda r: int(r[0]))]

    def _live_ids(self, tx: Tx, now: float, ids: list[int]) -> list[Row]:
        return tx.query(live_sql(_COLUMNS, ids=len(ids)), [self.scope, now, now, *ids])

    def conflicts(
        self,
        path: str,
        *,
        agent: AgentLike | None = None,
        shared: bool = False,
        cwd: str | None = None,
    ) -> list[Lease]:
        """The leases of agents other than ``agent`` that a lease on ``path`` would conflict
        with right now (empty: it would be granted). Read-only: for hooks asking "may I write
        this file?"."""
        spec = normalize(path, self.root, cwd)
        me = None
        if agent is not None:
            me, _ = ref_parts(agent)
        with self.store.read() as tx:
            now = self.clock.now()
            found = self._live(tx, now, None)
        return [
            rows.lease(r)
            for r in found
            if r[4] != me and not (shared and r[3] == SHARED) and _overlaps(spec, r)
        ]

    def _live(self, tx: Tx, now: float, holder: str | None) -> list[Row]:
        if holder is None:
            return tx.query(_LIVE, (self.scope, now, now))
        return tx.query(_LIVE_OF, (self.scope, now, now, holder))


def _overlaps(spec: PathSpec, row: Row) -> bool:
    if spec.kind == FILE and row[2] == FILE:
        return bool(spec.path == row[1])
    return spec.overlaps(from_canonical(row[1], row[2]))
