"""What every part of the service shares: the store, the clock, the scope, limits, and the
three steps every write transaction starts with (sweep, act, audit)."""

from __future__ import annotations

from codeswarm.coordination import _json, rows
from codeswarm.coordination.bounds import TTL, Range
from codeswarm.coordination.clock import SYSTEM_CLOCK, Clock
from codeswarm.coordination.models import (
    ACTIVE,
    DEREGISTERED,
    EXPIRED,
    Agent,
    Lease,
    agent_ref,
    split_ref,
)
from codeswarm.coordination.paths import resolve_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Self

    from codeswarm.coordination.store import Params, Row, Store, Tx

    AgentLike = Agent | str

if TYPE_CHECKING:
    from codeswarm.core import errors
else:  # (loaded on the way to an error: ._errors)
    from codeswarm.coordination._errors import errors

SUPERSEDED = "superseded"

_DUE = (
    "SELECT 'l', scope, holder, id FROM leases WHERE expires_at IS NOT NULL AND expires_at <= ? "
    "UNION ALL SELECT 'a', scope, name, generation FROM agents "
    "WHERE status = 'active' AND expires_at <= ?"
)
_ACT = (
    "UPDATE agents SET heartbeat_at = ?, expires_at = ? + lease_s "
    "WHERE scope = ? AND name = ? AND status = 'active' AND expires_at > ?{} RETURNING generation"
)


class Limits:
    """Size limits (bytes of UTF-8, or counts; input over one raises TooLargeError) and the
    range of a lease's TTL (:data:`~codeswarm.coordination.bounds.TTL`; a test with a real clock
    may allow shorter ones). The other bounds are fixed: :mod:`codeswarm.coordination.bounds`."""

    __slots__ = ("files", "key", "kv_value", "message", "report", "text", "title", "ttl")

    def __init__(
        self,
        *,
        kv_value: int = 64 * 1024,
        message: int = 64 * 1024,
        text: int = 64 * 1024,
        title: int = 512,
        key: int = 512,
        files: int = 1000,
        ttl: Range = TTL,
        report: int = 2000,
    ) -> None:
        self.kv_value = kv_value
        self.message = message
        self.text = text
        """Descriptions, notes, results."""
        self.title = title
        self.key = key
        """kv keys, idempotency keys, task types."""
        self.files = files
        """Entries in a task's file lists."""
        self.ttl = ttl
        self.report = report
        """Characters of an agent's words (a delegated task's result, a reply) carried into the
        message that tells the creator: the rest is cut (the creator's context is scarce)."""


class CoordBase:
    """The shared state of :class:`~codeswarm.coordination.Coord`, and opening and closing it.
    Not used on its own; a part of the service (:class:`~codeswarm.coordination.leases.LeaseOps`)
    may be, where nothing else is needed: its methods are the very same."""

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        root: str | None = None,
        scope: str | None = None,
        clock: Clock | None = None,
        limits: Limits | None = None,
    ) -> Self:
        """Open the store (see :mod:`codeswarm.coordination.target` for the defaults)."""
        from codeswarm.coordination import target

        store = target.open_store(target.resolve_url(url))
        try:
            return cls(
                store, root=target.resolve_root(root), scope=scope, clock=clock, limits=limits
            )
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Close the store; safe to call twice."""
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __init__(
        self,
        store: Store,
        *,
        root: str,
        scope: str | None = None,
        clock: Clock | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.store = store
        self.root = resolve_root(root)
        """The directory lease paths are relative to."""
        self.scope = scope or self.root
        """What this instance sees of the database: agents, leases, tasks, kv and messages of
        other scopes are invisible to it."""
        self.clock = clock or SYSTEM_CLOCK
        self.limits = limits or Limits()

    def _hand_out(self, tx: Tx, now: float, name: str, ended: Sequence[int] = ()) -> None:
        """Give agent ``name``, when it is idle (its tasks other than ``ended`` over), the
        oldest unassigned delegated task: :mod:`codeswarm.coordination.delegation`."""

    # -- checks ---------------------------------------------------------------------------

    def _text(self, what: str, value: str, limit: int) -> str:
        try:
            size = len(value.encode())
        except UnicodeEncodeError:  # a lone surrogate: from bytes that were not UTF-8
            raise errors.CoordInputError(f"{what} is not valid UTF-8 text") from None
        if size > limit:
            raise errors.TooLargeError(f"{what} is {size} bytes; the limit is {limit}")
        return value

    def _line(self, what: str, value: str, limit: int) -> str:
        if not value:
            raise errors.CoordInputError(f"{what} must not be empty")
        if "\n" in value or "\r" in value or "\0" in value:
            raise errors.CoordInputError(f"{what} must be one line")
        return self._text(what, value, limit)

    # -- the first steps of every write ------------------------------------------------------

    def _begin_as(
        self, tx: Tx, now: float, agent: AgentLike, reads: Sequence[tuple[str, Params]] = ()
    ) -> tuple[tuple[str, int], list[list[Row]]]:
        """:meth:`_begin` for a write by ``agent``: returns its ``(name, generation)`` too."""
        who, found = self._begin(tx, now, agent, reads)
        assert who is not None
        return who, found

    def _begin(
        self,
        tx: Tx,
        now: float,
        agent: AgentLike | None = None,
        reads: Sequence[tuple[str, Params]] = (),
    ) -> tuple[tuple[str, int] | None, list[list[Row]]]:
        """Start a write transaction: sweep what time took back (:meth:`_sweep`), check that
        ``agent`` may write (fencing; the write counts as a heartbeat) and run ``reads`` - in one
        round trip on PostgreSQL.

        Returns the agent's ``(name, generation)`` (None without ``agent``) and the rows of each
        read. Raises NotFoundError for an unknown agent and FencedError for a superseded,
        expired or deregistered one.
        """
        stmts: list[tuple[str, Params]] = [(_DUE, (now, now))]
        name = gen = None
        if agent is not None:
            name, gen = ref_parts(agent)
            if gen is None:
                stmts.append((_ACT.format(""), (now, now, self.scope, name, now)))
            else:
                stmts.append(
                    (_ACT.format(" AND generation = ?"), (now, now, self.scope, name, now, gen))
                )
        stmts += reads
        results = tx.batch(stmts)
        due = results[0]
        acted = results[1] if agent is not None else None
        found = results[1 + (agent is not None) :]
        if due:
            self._sweep(tx, now, due)
            if reads:
                found = tx.batch(list(reads))
        if name is None:
            return None, found
        if not acted:
            raise self._refusal(tx, name, gen, now)
        return (name, int(acted[0][0])), found

    def _refusal(self, tx: Tx, name: str, gen: int | None, now: float) -> Exception:
        row = tx.one(
            f"SELECT {rows.AGENT_COLS} FROM agents WHERE scope = ? AND name = ?",
            (self.scope, name),
        )
        if row is None:
            return errors.NotFoundError(f"no agent named {name!r} is registered in this scope")
        current = rows.agent(row)
        who = name if gen is None else agent_ref(name, gen)
        if gen is not None and gen < current.generation:
            return errors.FencedError(
                f"agent {who} was superseded by {current.id}; its writes are refused"
            )
        if gen is not None and gen > current.generation:
            return errors.NotFoundError(f"no agent {who} (the latest generation is {current.id})")
        ended = now - (current.ended_at or now)
        if current.status == EXPIRED:
            return errors.FencedError(
                f"agent {who} expired {ended:.0f}s ago (no heartbeat for {current.lease_s:g}s); "
                "register again"
            )
        return errors.FencedError(f"agent {who} is {current.status}; register again")

    def _agent_row(self, tx: Tx, agent: AgentLike, now: float) -> Agent:
        """The current record of ``agent`` for a read, refusing stale or ended identities."""
        name, gen = ref_parts(agent)
        row = tx.one(
            f"SELECT {rows.AGENT_COLS} FROM agents WHERE scope = ? AND name = ?",
            (self.scope, name),
        )
        if row is None or (gen is not None and int(row[1]) != gen):
            raise self._refusal(tx, name, gen, now)
        found = rows.agent(row)
        if found.status != ACTIVE:  # lapsed but not yet reclaimed still reads; its writes fail
            raise self._refusal(tx, name, gen, now)
        return found

    def _sweep(self, tx: Tx, now: float, due: list[Row]) -> None:
        """Reclaim what time has taken back (``due``: rows of ``_DUE``): leases past their TTL,
        agents past their lease."""
        for what, scope, _holder, num in due:
            if what == "l":
                gone = tx.one(
                    f"DELETE FROM leases WHERE id = ? RETURNING {rows.LEASE_COLS}", (num,)
                )
                if gone is not None:
                    lease = rows.lease(gone)
                    self._event(
                        tx, now, "lease.expired", lease.path, _lease_data(lease),
                        agent=(gone[4], int(gone[5])), scope=scope,
                    )  # fmt: skip
        for what, scope, name, num in due:
            if what == "a":
                self._reclaim(tx, now, scope, name, int(num), EXPIRED)

    def _reclaim(self, tx: Tx, now: float, scope: str, name: str, gen: int, why: str) -> None:
        """End generation ``gen`` of agent ``name``: release its leases, reopen its tasks, keep
        its messages (they belong to the name, so a successor receives them)."""
        who = (name, gen)
        for row in tx.query(
            f"DELETE FROM leases WHERE scope = ? AND holder = ? RETURNING {rows.LEASE_COLS}",
            (scope, name),
        ):
            lease = rows.lease(row)
            data = _lease_data(lease)
            data["reason"] = why
            self._event(tx, now, "lease.released", lease.path, data, agent=who, scope=scope)
        for (task_id,) in tx.query(
            "UPDATE tasks SET status = 'open', assignee = NULL, assignee_gen = NULL, "
            "claimed_at = NULL, updated_at = ?, version = version + 1 "
            "WHERE scope = ? AND assignee = ? AND status IN ('claimed', 'in_progress') "
            "RETURNING id",
            (now, scope, name),
        ):
            self._event(
                tx, now, "task.reopened", str(task_id), {"id": int(task_id), "reason": why},
                agent=who, scope=scope,
            )  # fmt: skip
        if why != SUPERSEDED:
            tx.execute(
                "UPDATE agents SET status = ?, ended_at = ? "
                "WHERE scope = ? AND name = ? AND generation = ?",
                (DEREGISTERED if why == DEREGISTERED else EXPIRED, now, scope, name, gen),
            )
        self._event(tx, now, f"agent.{why}", name, {"generation": gen}, agent=who, scope=scope)

    def _event(
        self,
        tx: Tx,
        now: float,
        kind: str,
        subject: str,
        data: dict[str, Any],
        *,
        agent: tuple[str, int] | None = None,
        scope: str | None = None,
    ) -> None:
        """Append to the audit log (in the same transaction as the change it records)."""
        tx.defer(
            "INSERT INTO events (ts, scope, agent, generation, kind, subject, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                now,
                scope or self.scope,
                None if agent is None else agent[0],
                None if agent is None else agent[1],
                kind,
                subject,
                _json.dumps(data),
            ),
        )


def ref_parts(agent: AgentLike) -> tuple[str, int | None]:
    """``(name, generation)`` of an :class:`Agent` or an agent ref (see :func:`split_ref`)."""
    return split_ref(agent.id if isinstance(agent, Agent) else agent)


def _lease_data(lease: Lease) -> dict[str, Any]:
    return {
        "id": lease.id,
        "path": lease.path,
        "kind": lease.kind,
        "mode": lease.mode,
        "token": lease.token,
        "holder": lease.holder,
    }
