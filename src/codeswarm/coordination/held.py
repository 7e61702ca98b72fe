"""The live leases of a scope, read straight from a store: the query
:class:`~codeswarm.coordination.leases.LeaseOps` runs (its text is here, once), for a reader that
needs nothing else of the service. ``codeswarm status`` shows what each agent holds with it: as a
whole process it then loads the store alone (no records, bounds, paths or service classes).

A lease is live when its TTL (if any) has not run out and its holder, the very generation that
took it, is active and has not expired: what every reader of the service sees (an expired one
is swept by the next write).
"""

from __future__ import annotations

import os
import time


def live_sql(columns: str, *, holder: bool = False, ids: int = 0, order: bool = True) -> str:
    """``SELECT columns`` of the live leases (``l``, joined with their holder ``a``) of a scope;
    parameters ``(scope, now, now)``, then the holder's name when ``holder``, then ``ids`` lease
    ids (only those leases); oldest first unless not ``order`` (aggregate ``columns``)."""
    sql = (
        f"SELECT {columns} "
        "FROM leases l JOIN agents a ON a.scope = l.scope AND a.name = l.holder "
        "AND a.generation = l.generation "
        "WHERE l.scope = ? AND (l.expires_at IS NULL OR l.expires_at > ?) "
        "AND a.status = 'active' AND a.expires_at > ?"
    )
    if holder:
        sql += " AND l.holder = ?"
    if ids:
        sql += f" AND l.id IN ({', '.join('?' * ids)})"
    return sql + (" ORDER BY l.id" if order else "")


_HELD = live_sql("l.holder, l.path, l.mode, l.note, l.id")


def held(url: str, root: str) -> list[tuple[str, str, str, str, int]]:
    """``(holder name, path, mode, note, token)`` of every live lease of the scope ``root``
    in the store at ``url``, oldest first: what :meth:`LeaseOps.leases` lists of
    ``LeaseOps.open(url, root=root)``, opened, read and closed the same way (the same errors:
    :class:`~codeswarm.core.errors.CoordError`)."""
    from codeswarm.coordination.target import open_store, resolve_root, resolve_url

    store = open_store(resolve_url(url))
    try:
        scope = os.path.realpath(resolve_root(root))  # CoordBase's root (paths.resolve_root)
        with store.read() as tx:
            now = time.time()  # (SystemClock)
            found = tx.query(_HELD, (scope, now, now))
    finally:
        store.close()
    return [(r[0], r[1], r[2], r[3], int(r[4])) for r in found]
