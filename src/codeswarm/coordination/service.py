"""The coordination service: one API over a :class:`~codeswarm.coordination.store.Store`.

Synchronous on purpose: hooks and the CLI are short-lived processes that make one or two calls,
and both sqlite3 and psycopg are synchronous underneath. Asyncio code uses
:meth:`Coord.wait_async` for the one call that blocks.
"""

from __future__ import annotations

from codeswarm.coordination.agents import AgentOps
from codeswarm.coordination.audit import AuditOps
from codeswarm.coordination.delegation import DelegationOps
from codeswarm.coordination.kv import KvOps
from codeswarm.coordination.leases import LeaseOps
from codeswarm.coordination.messages import MessageOps
from codeswarm.coordination.target import open_store, resolve_root, resolve_url

TYPE_CHECKING = False
if TYPE_CHECKING:
    from codeswarm.coordination._base import Limits
    from codeswarm.coordination.clock import Clock


class Coord(AgentOps, LeaseOps, DelegationOps, KvOps, MessageOps, AuditOps):
    """Agents, leases, tasks (and their delegation), kv, messages and the audit log of one
    scope.

    ::

        with Coord.open() as coord:                  # $CODESWARM_DB or .codeswarm/coord.db
            me = coord.register("worker_1", lease_s=60)
            coord.lease(me, "src/app.py", note="refactor")
            task = coord.claim_next(me)

    Every method that changes state runs in one serialized transaction and appends to the
    audit log in it; errors leave the database unchanged. Agents are passed as an
    :class:`Agent`, an id ``name#generation`` (fenced: refused once superseded), or a bare name
    (whatever generation is current).
    """

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        root: str | None = None,
        scope: str | None = None,
        clock: Clock | None = None,
        limits: Limits | None = None,
    ) -> Coord:
        """Open the store (see :mod:`codeswarm.coordination.target` for the defaults)."""
        store = open_store(resolve_url(url))
        try:
            return cls(store, root=resolve_root(root), scope=scope, clock=clock, limits=limits)
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Close the store; safe to call twice."""
        self.store.close()

    def __enter__(self) -> Coord:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
