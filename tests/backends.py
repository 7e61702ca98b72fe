"""Fixtures of the coordination suite: every behavioural test runs on each backend.

Backends: ``sqlite`` (WAL), ``sqlite-journal`` (the rollback-journal mode for network
filesystems) and ``postgresql`` (a real server this session starts; a fresh schema per test).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pg_service
import pytest

from codeswarm.coord import Coord, ManualClock, open_store
from swarmkit import need

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BACKENDS = ["sqlite", "sqlite-journal", "postgresql"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The admin URL of a PostgreSQL server started for this session."""
    try:
        bindir = pg_service.bin_dir()
        pg_service.reap_orphans(bindir)  # servers of earlier runs that were killed
        server = pg_service.PgServer(bindir)
        url = server.start()
    except (pg_service.Unavailable, OSError) as exc:
        need(f"PostgreSQL unavailable: {exc}")
        raise AssertionError("unreachable") from exc
    try:
        yield url
    finally:
        server.stop()


def _drop_schema(admin: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL URL with a schema of its own, dropped after the test."""
    admin = request.getfixturevalue("pg_server")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield f"{admin}?schema={schema}"
    _drop_schema(admin, schema)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite://{tmp_path}/state/coord.db"
    if backend == "sqlite-journal":
        return f"sqlite://{tmp_path}/state/coord.db?journal=delete"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def open_coord(db_url: str, root: Path, clock: ManualClock) -> Iterator[Callable[..., Coord]]:
    """Open more Coord instances on the same database (each its own connection, like another
    process); all closed at the end."""
    opened: list[Coord] = []

    def make(**kw: Any) -> Coord:
        kw.setdefault("root", str(root))
        kw.setdefault("clock", clock)
        c = Coord(open_store(db_url), **kw)
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


@pytest.fixture
def coord(open_coord: Callable[..., Coord]) -> Coord:
    return open_coord()


def snapshot(c: Coord) -> dict[str, Any]:
    """Everything a scope holds, for "nothing changed" assertions."""
    return {
        "agents": [a.to_dict() for a in c.agents(all=True)],
        "leases": [lease.to_dict() for lease in c.leases()],
        "tasks": [t.to_dict() for t in c.tasks()],
        "kv": [e.to_dict() for e in c.kv_list()],
        "events": [e.to_dict() for e in c.events(limit=10_000)],
    }


def python_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python process that imports codeswarm from this tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESWARM_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(HERE)])
    env.update(extra)
    return env


PYTHON = sys.executable
