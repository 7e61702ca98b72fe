"""The audit log (every state change, in commit order) and waiting for activity."""

from __future__ import annotations

from codeswarm.coordination._base import CoordBase, ref_parts
from codeswarm.coordination.bounds import EVENTS_LIMIT, SEQ, WAIT
from codeswarm.coordination.feed import Watch, watch
from codeswarm.coordination.models import AuditEvent, agent_ref
from codeswarm.core.errors import CoordInputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from codeswarm.coordination._base import AgentLike


class AuditOps(CoordBase):
    def events(
        self,
        *,
        since: int = 0,
        agent: AgentLike | None = None,
        kind: str | None = None,
        subject: str | None = None,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """Audit events of this scope with ``seq > since``, oldest first.

        ``agent`` filters by name (any generation) or by ``name#generation``; ``kind`` by an
        exact kind (``lease.acquired``) or a family ending in a dot (``lease.``).
        """
        limit = EVENTS_LIMIT.check_int("limit", limit)
        since = SEQ.check_int("since", since)
        if kind is not None:
            self._line("kind", kind, self.limits.key)
        sql = (
            "SELECT seq, ts, agent, generation, kind, subject, data FROM events "
            "WHERE scope = ? AND seq > ?"
        )
        params: list[object] = [self.scope, since]
        if agent is not None:
            name, gen = ref_parts(agent)
            sql += " AND agent = ?"
            params.append(name)
            if gen is not None:
                sql += " AND generation = ?"
                params.append(gen)
        if kind is not None:
            if kind.endswith("."):
                sql += " AND substr(kind, 1, ?) = ?"
                params += [len(kind), kind]
            else:
                sql += " AND kind = ?"
                params.append(kind)
        if subject is not None:
            sql += " AND subject = ?"
            params.append(subject)
        with self.store.read() as tx:
            found = tx.query(sql + " ORDER BY seq LIMIT ?", [*params, limit])
        if not found:
            return []
        from codeswarm.coordination._json import loads

        return [
            AuditEvent(
                seq=int(seq),
                ts=float(ts),
                agent=None if name is None else agent_ref(name, int(gen)),
                kind=kind_,
                subject=subj,
                data=loads(data),
            )
            for seq, ts, name, gen, kind_, subj, data in found
        ]

    def report(self, agent: AgentLike, kind: str, subject: str, data: dict[str, object]) -> None:
        """Append an observation to the audit log (no state changes with it): for example a hook
        that noticed a write to a file a peer holds (``lease.violated``). ``kind`` must be a
        dotted name; the agent must be current (fenced otherwise)."""
        if not kind or "." not in kind or len(kind) > 64:
            raise CoordInputError(f"bad event kind {kind!r}: a dotted name like 'lease.violated'")
        with self.store.write() as tx:
            now = self.clock.now()
            who, _ = self._begin_as(tx, now, agent)
            self._event(tx, now, kind, subject[:500], dict(data), agent=who)

    def last_seq(self) -> int:
        """The newest event's seq in this scope (0 when there is none): ``since`` for a waiter
        interested only in what comes next."""
        with self.store.read() as tx:
            row = tx.one("SELECT MAX(seq) FROM events WHERE scope = ?", (self.scope,))
        return 0 if row is None or row[0] is None else int(row[0])

    def wait(
        self,
        *,
        since: int,
        timeout: float,
        agent: AgentLike | None = None,
        kind: str | None = None,
        subject: str | None = None,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """Block until there are events after ``since`` matching the filters (see
        :meth:`events`), and return them; an empty list after ``timeout`` seconds.

        Efficient: PostgreSQL wakes it by LISTEN/NOTIFY, SQLite by ``data_version`` checked
        every few milliseconds; it never polls the tables in a loop.
        """
        timeout = WAIT.check("wait", timeout)

        def look(_: Watch) -> list[AuditEvent] | None:
            found = self.events(since=since, agent=agent, kind=kind, subject=subject, limit=limit)
            return found or None

        return watch(self.store, timeout, look) or []

    async def wait_async(
        self,
        *,
        since: int,
        timeout: float,  # noqa: ASYNC109 (the deadline of the blocking wait() it runs)
        agent: AgentLike | None = None,
        kind: str | None = None,
        subject: str | None = None,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """:meth:`wait` for asyncio code (in a worker thread; the store's connection is shared
        safely)."""
        import asyncio

        return await asyncio.to_thread(
            self.wait,
            since=since,
            timeout=timeout,
            agent=agent,
            kind=kind,
            subject=subject,
            limit=limit,
        )
