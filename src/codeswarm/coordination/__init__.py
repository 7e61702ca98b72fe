"""The coordination store every agent shares: agents, leases, tasks, kv, messages, audit log.

SQLite (embedded, ``.codeswarm/coord.db``) or PostgreSQL (``CODESWARM_DB=postgresql://…``),
with one behaviour. See ``docs/coordination.md``. Importing this package is cheap (no msgspec,
typing, json or psycopg): hooks import it on every Codex tool call.
"""

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
