"""Fixtures for the real backends several suites run on (a pytest plugin, loaded by
conftest.py): the coordination store on each backend (tests/coord, tests/mcp, tests/cli), and a
throwaway sshd (tests/mailbox, tests/cli).

Coordination backends: ``sqlite`` (WAL), ``sqlite-journal`` (the rollback-journal mode for network
filesystems) and ``postgresql`` (a real server this session starts; a fresh schema per test).
Every behavioural coordination test runs on each.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import pg_service
import sshd_local
from codeswarm.coordination import Coord, ManualClock, open_store
from swarmkit import need

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
    if backend.startswith("sqlite"):  # a named database's directory must exist
        (tmp_path / "state").mkdir(mode=0o700, exist_ok=True)
    if backend == "sqlite":
        return f"sqlite://{tmp_path}/state/coord.db"
    if backend == "sqlite-journal":
        return f"sqlite://{tmp_path}/state/coord.db?journal=delete"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def root(workspace: Path) -> Path:
    """The root of the coordination scope: the test's workspace."""
    return workspace


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


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd_local.Sshd]:
    """A real sshd on 127.0.0.1 with throwaway keys, for the whole session."""
    try:
        server = sshd_local.Sshd.start(tmp_path_factory.mktemp("sshd"))
    except (sshd_local.Unavailable, OSError) as exc:
        need(f"sshd unavailable: {exc}")
        raise AssertionError("unreachable") from exc
    yield server
    server.stop()
