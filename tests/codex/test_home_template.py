"""A new agent home gets the databases Codex would first make there, copied from a template made
once per binary (the real Codex 0.169.0): Codex then starts on them instead of running its
migrations (docs/benchmarks.md)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from codeswarm.codex.client import AppServer
from codeswarm.codex.toolchain import (
    HOME_TEMPLATES,
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


KILLED_BUILDER = """import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.makedirs(sys.argv[2])
open(os.path.join(sys.argv[2], "state_5.sqlite"), "w").close()
print("building", flush=True)
time.sleep(60)
"""


def test_one_builder_at_a_time_and_one_killed_leaves_nothing_in_the_way(
    codex_binary: CodexBinary, cache: Path
) -> None:
    cache.mkdir(parents=True)
    home = cache.parent.parent / "probe"
    home.mkdir()
    assert not seed_home(codex_binary, home)  # no template: one is made in the background...

    def made() -> list[Path]:
        return [p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")]

    (template,) = wait_until(made, 60, "the template made in the background")
    lock = template.parent / f"{template.name}.lock"
    wait_until(lambda: not lock.exists(), 30, "that build's end")  # (it lets go of its lock)
    assert not os.listdir(home)  # this home was left to Codex
    os.rename(template, cache / "aside")
    # ...while another process makes it (kill -9 mid-build: its scratch directory left behind),
    # none is made here; once it is gone, the next call makes it and clears what it left
    scratch = cache / f".{template.name}.killed"
    builder = subprocess.Popen([sys.executable, "-c", KILLED_BUILDER, str(lock), str(scratch)],
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert builder.stdout is not None and builder.stdout.readline() == "building\n"
        assert build_home_template(codex_binary) is None
        assert lock.exists() and scratch.is_dir()  # (its lock and work left alone)
    finally:
        builder.kill()
        builder.wait()
        builder.stdout.close()
    assert build_home_template(codex_binary) == template
    assert sorted(os.listdir(template)) == sorted(os.listdir(cache / "aside"))
    assert not scratch.exists() and not lock.exists()


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
