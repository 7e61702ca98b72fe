"""Schema versions: applied atomically on open; a newer schema is refused (every backend)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from codeswarm.coordination import Coord, migrations, open_store
from codeswarm.core.errors import SchemaError, StoreUnavailableError


def test_a_new_database_is_created_at_the_latest_version(db_url: str) -> None:
    with open_store(db_url) as store:
        assert store.schema_version() == migrations.LATEST
    with open_store(db_url) as store:  # and opening it again changes nothing
        assert store.schema_version() == migrations.LATEST


def _set_version(db_url: str, version: int) -> None:
    with open_store(db_url) as store, store.write() as tx:
        if store.dialect == "sqlite":
            tx.execute(f"PRAGMA user_version = {version}")
        else:
            tx.execute(
                "UPDATE coord_meta SET value = ? WHERE key = 'schema_version'", (str(version),)
            )


def test_a_newer_schema_is_refused(db_url: str) -> None:
    open_store(db_url).close()
    _set_version(db_url, migrations.LATEST + 1)
    with pytest.raises(SchemaError, match=rf"schema version {migrations.LATEST + 1}, newer than"):
        open_store(db_url)


def test_a_failed_migration_leaves_nothing_behind(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = migrations._STEPS[0] + ";\nTHIS IS NOT SQL"
    monkeypatch.setattr(migrations, "_STEPS", (broken,))
    with pytest.raises(StoreUnavailableError):
        open_store(db_url)
    monkeypatch.undo()
    with open_store(db_url) as store:  # nothing half-made got in the way
        assert store.schema_version() == migrations.LATEST


def test_concurrent_first_opens_migrate_once(db_url: str, root: Path) -> None:
    errors: list[BaseException] = []

    def open_once() -> None:
        try:
            with Coord(open_store(db_url), root=str(root)) as coord:
                coord.kv_list()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_once) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def test_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(
        StoreUnavailableError, match=r"cannot connect to postgresql://u:\*\*\*@127\.0\.0\.1:1/"
    ):
        open_store("postgresql://u:secret@127.0.0.1:1/db?connect_timeout=2")
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreUnavailableError, match="cannot create"):
        open_store(str(tmp_path / "file" / "coord.db"))


def test_an_older_sqlite_store_is_migrated_on_open(tmp_path: Path) -> None:
    """The version read on open (with the foreign-database check, one statement) decides: a
    store at an older version is migrated, one at the latest is left as it is."""
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        for stmt in migrations.statements(1, "sqlite"):
            conn.execute(stmt)
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    with open_store(str(path)) as store:
        assert store.schema_version() == migrations.LATEST
        with store.read() as tx:
            columns = {row[1] for row in tx.query("PRAGMA table_info(tasks)")}
        assert {"budget_tokens", "delegated", "verdict"} <= columns
    before = path.read_bytes()
    with open_store(str(path)) as store:
        assert store.schema_version() == migrations.LATEST
    assert path.read_bytes() == before
