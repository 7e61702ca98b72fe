"""The coordination hub on Slurm: one per node of the allocation, elected among that node's
workers, restarted by them when it dies; every agent's tools act as that agent."""

from __future__ import annotations

import functools
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import swarmkit
from codeswarm.worker.mcphub import HubFiles
from swarmkit import SlurmSwarm

pytestmark = [pytest.mark.codex, pytest.mark.slow]

Factory = Callable[[str], SlurmSwarm]
wait_until = functools.partial(swarmkit.wait_until, timeout=60.0)  # Slurm schedules in seconds
STATUS = {"agents": {"*": [{"tool": "swarm_status"}, "seen", {"tool": "swarm_status"}, "seen"]}}


def my_ids(s: SlurmSwarm, rank: int) -> list[str]:
    """The ``me`` of each swarm_status call agent ``rank`` made."""
    out = []
    for r in s.outbox(rank):
        if r["kind"] != "codex" or r["msg"].get("method") != "item/completed":
            continue
        item = r["msg"]["params"]["item"]
        if item.get("type") == "mcpToolCall":
            assert item["status"] == "completed", item
            out.append(item["result"]["structuredContent"]["me"])
    return out


def hub(s: SlurmSwarm, node: str) -> dict[str, Any]:
    return HubFiles(s.run_dir / "mcp", node).read()


def alive(pid: int) -> bool:
    try:
        return ") Z " not in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False


def test_one_hub_per_node_acts_for_each_agent_and_comes_back_after_kill(
    slurm_swarm: Factory, tmp_path: Path
) -> None:
    s = slurm_swarm("h")
    home = tmp_path / "home"  # no ~/.bashrc: see test_slurm_scale.plain_home
    home.mkdir()
    s.env = {**s.env, "HOME": str(home)}
    s.up(4, STATUS, "--nodes", "2")
    out = json.loads(s.cli("send", "h", "all", "status?", "--wait", "--json").stdout)
    assert {r["text"] for r in out.values()} == {"seen"}
    for rank in range(4):
        (me,) = my_ids(s, rank)
        assert me.startswith(f"h_{rank}#")
    nodes = {a["node"] for a in s.status()["agents"]}
    assert nodes == {"node1", "node2"}
    hubs = {node: hub(s, node) for node in nodes}
    assert hubs["node1"]["pid"] != hubs["node2"]["pid"]
    assert all(alive(h["pid"]) for h in hubs.values())

    os.kill(hubs["node1"]["pid"], signal.SIGKILL)
    again = wait_until(
        lambda: (h := hub(s, "node1")).get("pid") != hubs["node1"]["pid"] and h,
        what="a node1 worker to bring its hub back",
    )
    assert again["port"] == hubs["node1"]["port"] and alive(again["pid"])
    assert hub(s, "node2") == hubs["node2"]  # the other node's hub is untouched
    out = json.loads(s.cli("send", "h", "all", "again?", "--wait", "--json").stdout)
    assert {r["text"] for r in out.values()} == {"seen"}
    for rank in range(4):
        assert len(my_ids(s, rank)) == 2
    s.cli("down", "h")
    assert not any(alive(hub(s, node)["pid"]) for node in nodes)
