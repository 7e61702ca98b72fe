"""Swarms of 16 and 50 agents on this machine (real Codex, scripted model): every agent ready, a
message to all answered by each, `status` lists them all, nothing restarted under the load, and
`down` leaves no process. No timing is asserted here: bench/up_scale.py measures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from swarmkit import Swarm, plain_home, survivors

pytestmark = [pytest.mark.codex, pytest.mark.slow]

ECHO = {"agents": {"*": [{"when": ".", "repeat": True, "text": "here"}]}}
Factory = Callable[[str], Swarm]


def check_swarm_of(s: Swarm, n: int, timeout: float) -> None:
    fleet = json.loads(
        s.cli(*s.up_args(n, ECHO, "--timeout", str(timeout)), timeout=timeout).stdout
    )
    ids = [s.agent(r) for r in range(n)]
    assert [a["id"] for a in fleet["agents"]] == ids
    assert all(a["state"] == "idle" for a in fleet["agents"])

    sent = s.cli("send", s.name, "all", "hello", "--wait", "--json", "--timeout", str(timeout),
                 timeout=timeout)  # fmt: skip
    answers = json.loads(sent.stdout)
    assert set(answers) == set(ids)
    assert all(a["text"] == "here" for a in answers.values())

    st = s.status()
    assert [a["id"] for a in st["agents"]] == ids
    assert all(a["state"] == "idle" and a["turns"] == 1 for a in st["agents"])
    # the load of starting n agents at once on two cores crashed nothing: one worker, one
    # Codex thread per agent
    for rank in range(n):
        kinds = [r["kind"] for r in s.outbox(rank)]
        assert kinds.count("agent.ready") == 1 and "worker.exited" not in kinds, s.agent(rank)

    # light per agent: no worker (nor the supervisor) has OpenSSL or the MCP SDK loaded
    pidfiles = [s.run_dir / "agents" / s.agent(r) / "worker.pid" for r in range(n)]
    for pidfile in [s.run_dir / "supervisor.pid", *pidfiles]:
        maps = Path(f"/proc/{int(pidfile.read_text())}/maps").read_text()
        for heavy in ("libssl", "libcrypto", "pydantic_core"):
            assert heavy not in maps, f"{pidfile.parent.name} loaded {heavy}"

    assert s.processes()  # what runs is found (the check after `down` means something)
    s.cli("down", s.name, timeout=timeout)
    assert not (left := s.processes()), survivors(left)
    st = s.status()
    assert [a["state"] for a in st["agents"]] == ["stopped"] * n
    assert not st["supervisor"]["running"]


def test_sixteen_agents(swarm_factory: Factory, tmp_path: Path) -> None:
    s = swarm_factory("s")
    plain_home(s, tmp_path)
    check_swarm_of(s, 16, timeout=300)


def test_fifty_agents(swarm_factory: Factory, tmp_path: Path) -> None:
    s = swarm_factory("f")
    plain_home(s, tmp_path)
    check_swarm_of(s, 50, timeout=600)
