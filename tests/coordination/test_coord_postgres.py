"""PostgreSQL specifics: schemas keep stores apart; a lost connection costs one clear error."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from codeswarm.coordination import Coord, open_store
from codeswarm.core.errors import StoreUnavailableError


def test_schemas_are_separate_stores(pg_server: str, root: Path) -> None:
    with (
        Coord(open_store(f"{pg_server}?schema=one_a"), root=str(root)) as one,
        Coord(open_store(f"{pg_server}?schema=one_b"), root=str(root)) as two,
    ):
        one.register("a")
        assert two.agents() == []
        assert one.store.url.endswith("?schema=one_a")  # type: ignore[attr-defined]
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("DROP SCHEMA one_a CASCADE")
        conn.execute("DROP SCHEMA one_b CASCADE")


def test_a_lost_connection_fails_one_call_then_reconnects(pg_url: str, root: Path) -> None:
    with Coord(open_store(pg_url), root=str(root)) as coord:
        a = coord.register("a")
        pid = coord.store._conn.info.backend_pid  # type: ignore[attr-defined]
        admin = pg_url.partition("?")[0]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreUnavailableError) as info:
            coord.lease(a, "x")
        assert "\n" not in str(info.value)
        assert coord.lease(a, "x").holder == "a#1"  # a fresh connection
        assert [e.kind for e in coord.events()][-1] == "lease.acquired"
