"""A new agent home gets the databases Codex would first make there, copied from a template made
once per binary (the real Codex 0.169.0): Codex then starts on them instead of running its
migrations (docs/benchmarks.md)."""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from codeswarm.codex.client import AppServer
from codeswarm.codex.toolchain import (
    HOME_TEMPLATES,
    TEMPLATE_LOCK_STALE,
    CodexBinary,
    build_home_template,
    seed_home,
)
from swarmkit import wait_until

pytestmark = [pytest.mark.codex]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "codeswarm" / HOME_TEMPLATES


def made_at(db: Path) -> list[tuple[object, ...]]:
    """When Codex made ``db`` (its one ``backfill_state`` row carries the time)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT * FROM backfill_state").fetchall()


def mark(db: Path) -> None:
    """A table of the test's own in ``db`` (Codex leaves tables it does not know alone)."""
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE seeded_by_test (x)")


def marked(db: Path) -> bool:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        found = conn.execute("SELECT name FROM sqlite_master WHERE name = 'seeded_by_test'")
        return bool(found.fetchall())


def test_the_template_holds_databases_only_and_is_made_once(
    codex_binary: CodexBinary, cache: Path
) -> None:
    template = build_home_template(codex_binary)
    assert template is not None and template.parent == cache
    names = sorted(os.listdir(template))
    assert "state_5.sqlite" in names
    # no per-home identity, no write-ahead log, nothing but databases
    assert all(n.endswith(".sqlite") for n in names), names
    stamp = made_at(template / "state_5.sqlite")
    assert build_home_template(codex_binary) == template  # not made again
    assert made_at(template / "state_5.sqlite") == stamp
    assert not list(cache.glob("*.lock")) and not list(cache.glob(".*"))  # nothing left over


def test_one_builder_at_a_time_and_a_stale_lock_is_cleared(
    codex_binary: CodexBinary, cache: Path
) -> None:
    cache.mkdir(parents=True)
    home = cache.parent.parent / "probe"
    home.mkdir()
    assert not seed_home(codex_binary, home)  # no template: one is made in the background...

    def made() -> list[Path]:
        return [p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")]

    (template,) = wait_until(made, 60, "the template made in the background")
    assert not os.listdir(home)  # this home was left to Codex
    lock = template.parent / f"{template.name}.lock"
    os.rename(template, cache / "aside")
    lock.touch()  # ...while another process makes it, none is made here
    assert build_home_template(codex_binary) is None
    old = time.time() - TEMPLATE_LOCK_STALE - 1
    os.utime(lock, (old, old))  # its maker died: the lock goes, the next call makes it
    assert build_home_template(codex_binary) is None and not lock.exists()
    assert build_home_template(codex_binary) == template


async def test_codex_starts_on_the_seeded_databases(
    codex_binary: CodexBinary, cache: Path, tmp_path: Path
) -> None:
    template = build_home_template(codex_binary)
    assert template is not None
    mark(template / "state_5.sqlite")
    home, ws = tmp_path / "home", tmp_path / "ws"
    home.mkdir()
    ws.mkdir()
    config = {
        "model_provider": "x",
        "model_providers.x": {"name": "x", "base_url": "http://127.0.0.1:9/v1",
                              "wire_api": "responses"},
        "features.plugins": False,
    }  # fmt: skip
    async with await AppServer.spawn(
        codex_binary, codex_home=home, cwd=ws, config=config, seed_home=True
    ) as codex:
        thread = await codex.thread_start(cwd=ws, approval_policy="never")
        assert thread.id
    # Codex used the copies, not databases of its own
    assert marked(home / "state_5.sqlite")
    assert made_at(home / "state_5.sqlite") == made_at(template / "state_5.sqlite")
    assert (home / "installation_id").is_file()  # its own identity, made by Codex
    # a home Codex has started in is its own: never seeded again
    before = (home / "state_5.sqlite").stat().st_mtime_ns
    assert not seed_home(codex_binary, home)
    assert (home / "state_5.sqlite").stat().st_mtime_ns == before
