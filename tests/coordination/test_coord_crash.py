"""Crash: an agent process holding a lease and a claimed task is killed with SIGKILL; once its
lease period has passed, another agent gets both, and its unread messages wait for its successor
(SQLite and PostgreSQL; real processes, real time, no sleeps: the survivor's ``lease(wait=…)``
wakes when the dead agent's lease period ends)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from codeswarm.coordination import Coord, open_store
from codeswarm.core.errors import LeaseConflictError
from swarmkit import PYTHON, python_env

VICTIM = """
import sys
from codeswarm.coordination import Coord, open_store
from codeswarm.core.errors import LeaseConflictError
coord = Coord(open_store(sys.argv[1]), root=sys.argv[2])
me = coord.register("victim", lease_s=float(sys.argv[3]))
coord.lease(me, "src/core.py", note="rewriting")
task = coord.claim(me, int(sys.argv[4]))
print(me.id, task.id, flush=True)
sys.stdin.read()  # hold everything until killed
"""

LEASE_S = 1.5


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_a_killed_agent_loses_its_lease_and_task_but_not_its_messages(
    db_url: str, root: Path
) -> None:
    with Coord(open_store(db_url), root=str(root)) as coord:
        task = coord.add_task("refactor core", files=["src/core.py"])
        with subprocess.Popen(
            [PYTHON, "-c", VICTIM, db_url, str(root), str(LEASE_S), str(task.id)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=python_env(), text=True,
        ) as victim:  # fmt: skip
            try:
                assert victim.stdout is not None
                victim_id, _ = victim.stdout.readline().split()
                survivor = coord.register("survivor", lease_s=60)
                note = coord.send("victim", "your branch needs a rebase", sender=survivor)
                with pytest.raises(LeaseConflictError, match=r"held .* by victim#1"):
                    coord.lease(survivor, "src/core.py")
                os.kill(victim.pid, signal.SIGKILL)
                assert victim.wait(10) == -signal.SIGKILL
            finally:
                if victim.poll() is None:
                    victim.kill()
        started = time.monotonic()
        lease = coord.lease(survivor, "src/core.py", wait=30)  # wakes when victim#1 lapses
        assert time.monotonic() - started < 20
        assert lease.holder == "survivor#1"
        claimed = coord.claim(survivor, task.id)
        assert claimed.assignee == "survivor#1"
        kinds = [(e.kind, e.agent) for e in coord.events(agent="victim")]
        assert ("agent.expired", victim_id) in kinds
        assert ("task.reopened", victim_id) in kinds
        successor = coord.register("victim")
        assert successor.id == "victim#2"
        assert [m.id for m in coord.inbox(successor)] == [note.id]
