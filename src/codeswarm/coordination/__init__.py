"""The coordination store every agent shares: agents, leases, tasks, kv, messages, audit log.

SQLite (embedded, ``.codeswarm/coord.db``) or PostgreSQL (``CODESWARM_DB=postgresql://…``),
with one behaviour. See ``docs/coordination.md``. Importing this package is cheap (no msgspec,
typing, json or psycopg): hooks import it on every Codex tool call. The names below load on
first use (PEP 562): ``coordination.bounds`` or ``coordination.leases`` alone (``codeswarm coord
lease``, ``status``) does not pay for tasks, delegation, kv, messages and the audit log.
"""

from __future__ import annotations

from codeswarm.core.lazy import lazy_names

TYPE_CHECKING = False  # not `typing` at run time: hooks and `coord` import this package
if TYPE_CHECKING:
    from codeswarm.coordination._base import Limits
    from codeswarm.coordination.agents import DEFAULT_LEASE_S
    from codeswarm.coordination.clock import Clock, ManualClock, SystemClock
    from codeswarm.coordination.models import (
        BROADCAST,
        TASK_STATUSES,
        Agent,
        AuditEvent,
        KvEntry,
        Lease,
        Message,
        Task,
        TaskNote,
    )
    from codeswarm.coordination.service import Coord
    from codeswarm.coordination.store import ChangeFeed, Store, Tx
    from codeswarm.coordination.target import open_store, resolve_root, resolve_url

_WHERE = {
    "Limits": "coordination._base",
    "DEFAULT_LEASE_S": "coordination.agents",
    "Clock": "coordination.clock",
    "ManualClock": "coordination.clock",
    "SystemClock": "coordination.clock",
    "BROADCAST": "coordination.models",
    "TASK_STATUSES": "coordination.models",
    "Agent": "coordination.models",
    "AuditEvent": "coordination.models",
    "KvEntry": "coordination.models",
    "Lease": "coordination.models",
    "Message": "coordination.models",
    "Task": "coordination.models",
    "TaskNote": "coordination.models",
    "Coord": "coordination.service",
    "ChangeFeed": "coordination.store",
    "Store": "coordination.store",
    "Tx": "coordination.store",
    "open_store": "coordination.target",
    "resolve_root": "coordination.target",
    "resolve_url": "coordination.target",
}

__all__ = [
    "BROADCAST",
    "DEFAULT_LEASE_S",
    "TASK_STATUSES",
    "Agent",
    "AuditEvent",
    "ChangeFeed",
    "Clock",
    "Coord",
    "KvEntry",
    "Lease",
    "Limits",
    "ManualClock",
    "Message",
    "Store",
    "SystemClock",
    "Task",
    "TaskNote",
    "Tx",
    "open_store",
    "resolve_root",
    "resolve_url",
]

__getattr__ = lazy_names(__name__, _WHERE, globals())
