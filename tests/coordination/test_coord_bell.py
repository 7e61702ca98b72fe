"""The SQLite store's bell (``<db>.bell``): rung by a commit that sent a message, and by nothing
else, so that the agents' links (which watch it) sleep through heartbeats and leases."""

from __future__ import annotations

import time
from pathlib import Path

from codeswarm.coordination import Coord
from codeswarm.coordination.sqlite import BELL


def rung(bell: Path) -> tuple[int, int] | None:
    try:
        st = bell.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_ino


def test_only_a_sent_message_rings_the_bell(tmp_path: Path) -> None:
    db = tmp_path / "coord.db"
    bell = Path(str(db) + BELL)
    with Coord.open(str(db), root=str(tmp_path)) as coord:
        a = coord.register("a")
        b = coord.register("b")
        coord.heartbeat(a)
        coord.lease(a, "src/app.py")
        assert rung(bell) is None  # no message yet: no bell, nobody woken
        coord.send("b", "hello", sender=a)
        first = rung(bell)
        assert first is not None and bell.stat().st_size == 1
        assert oct(bell.stat().st_mode & 0o777) == "0o600"
        coord.heartbeat(b)
        coord.release(a, "src/app.py")
        assert rung(bell) == first
        time.sleep(0.05)  # past the file system's clock tick
        coord.send("*", "to everyone", sender=b)
        assert rung(bell) != first and bell.stat().st_size == 1  # rewritten in place
