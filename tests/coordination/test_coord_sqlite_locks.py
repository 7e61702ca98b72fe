"""Two stores on one SQLite file in one process (the worker's link and its hook service, the
hub's per-agent stores): opening the second must not drop the first one's POSIX locks, or another
process closing its connection takes itself for the last one and deletes the WAL the first is
still writing into (writes then vanish for everyone else)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from codeswarm.coordination.sqlite import SqliteStore
from codeswarm.core.errors import StorePathError

PEEK = """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
c.close()
"""


def test_a_second_store_in_the_same_process_keeps_the_first_ones_writes_visible(tmp_path):
    db = str(tmp_path / "coord.db")
    first = SqliteStore(db)
    with first.write() as tx:
        tx.execute("CREATE TABLE probe (n INTEGER)")
    second = SqliteStore(db)  # used to open and close a descriptor of coord.db: locks gone
    second.close()
    # another process opens and closes: with our locks gone it would checkpoint and delete the WAL
    subprocess.run([sys.executable, "-c", PEEK, db], check=True, capture_output=True)
    assert os.path.exists(db + "-wal"), "the WAL was deleted under a live connection"
    with first.write() as tx:
        tx.execute("INSERT INTO probe VALUES (1)")
    seen = sqlite3.connect(db)
    try:
        assert seen.execute("SELECT count(*) FROM probe").fetchone()[0] == 1
    finally:
        seen.close()
    first.close()


def test_the_header_is_still_checked_once_every_store_of_the_file_closed(tmp_path):
    db = tmp_path / "coord.db"
    SqliteStore(str(db)).close()
    SqliteStore(str(db)).close()
    other = tmp_path / "notes.db"
    other.write_bytes(b"not a database at all, padded to look like one........")
    with pytest.raises(StorePathError, match="not a SQLite database"):
        SqliteStore(str(other))
