"""The SQLite store's bell (``<db>.bells/bell``, and ``<db>.bell`` for an earlier codeswarm's
links): rung by a commit that sent a message, and by nothing else, so that the agents' links
(which watch it) sleep through heartbeats and leases."""

from __future__ import annotations

import time
from pathlib import Path

from codeswarm.coordination import Coord
from codeswarm.coordination.sqlite import BELL, BELL_NAME, BELLS


def rung(bell: Path) -> tuple[int, int] | None:
    try:
        st = bell.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_ino


def test_only_a_sent_message_rings_the_bell(tmp_path: Path) -> None:
    for where in ("bells", "beside"):
        (tmp_path / where).mkdir()
        db = tmp_path / where / "coord.db"
        bells = Path(str(db) + BELLS) / BELL_NAME
        bell = bells if where == "bells" else Path(str(db) + BELL)
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
            assert oct(bells.parent.stat().st_mode & 0o777) == "0o700"
            coord.heartbeat(b)
            coord.release(a, "src/app.py")
            assert rung(bell) == first
            time.sleep(0.05)  # past the file system's clock tick
            coord.send("*", "to everyone", sender=b)
            assert rung(bell) != first and bell.stat().st_size == 1  # rewritten in place
