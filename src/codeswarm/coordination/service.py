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
