"""The node's coordination hub without Codex: elected once among the processes that ask for it,
answering only tokens that have a grant, brought back on its port by a keeper when killed, and
ended once nobody counts as a worker (real hub processes; the real swarm is in
tests/mcp/test_hub_swarm.py)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeswarm.worker import mcphub
from codeswarm.worker.mcphub import HubFiles, HubKeeper, ensure_hub, grant, revoke_agent
from swarmkit import hub_post, wait_until


def alive(pid: int) -> bool:
    try:
        return ") Z " not in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False


def ask(port: int, token: str | None, tool: str = "swarm_status") -> tuple[int, Any]:
    return hub_post(port, token, "tools/call", {"name": tool, "arguments": {}}, timeout=60)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Path]:
    """A run directory; whatever hub it got is gone at the end."""
    root = tmp_path / "runs" / "h"
    root.mkdir(parents=True)
    yield root
    record = HubFiles(root / "mcp", "n1").read()
    if record.get("pid") and alive(record["pid"]):
        os.kill(record["pid"], signal.SIGKILL)
        pytest.fail("the hub outlived its workers")


def agent_env(tmp_path: Path, name: str) -> dict[str, str]:
    return {"CODESWARM_AGENT_ID": name, "CODESWARM_DB": str(tmp_path / "coord.db"),
            "CODESWARM_SCOPE": str(tmp_path), "CODESWARM_AGENT_ROLE": "worker"}  # fmt: skip


def test_one_hub_is_elected_answers_granted_tokens_only_and_ends_with_the_last_worker(
    run: Path, tmp_path: Path
) -> None:
    mcp_dir = run / "mcp"
    first = HubKeeper(mcp_dir, lambda _p: None, host="n1")
    port = ensure_hub(mcp_dir, host="n1")
    second = HubKeeper(mcp_dir, lambda _p: None, host="n1")
    assert ensure_hub(mcp_dir, host="n1") == port  # the live hub, not another
    record = HubFiles(mcp_dir, "n1").read()
    assert record["port"] == port and alive(record["pid"])
    assert (mcp_dir / "n1.log").exists() and oct(mcp_dir.stat().st_mode & 0o777) == "0o700"

    token_a, path_a = grant(mcp_dir, "h_0", agent_env(tmp_path, "h_0"), str(tmp_path))
    token_b, _ = grant(mcp_dir, "h_1", agent_env(tmp_path, "h_1"), str(tmp_path))
    assert token_a not in path_a.read_text() and oct(path_a.stat().st_mode & 0o777) == "0o600"
    assert path_a.name == f"{mcphub.digest(token_a)}.json"
    status, body = ask(port, token_a)
    assert status == 200 and body["result"]["structuredContent"]["me"].startswith("h_0#")
    status, body = ask(port, token_b)
    assert status == 200 and body["result"]["structuredContent"]["me"].startswith("h_1#")
    assert ask(port, None)[0] == ask(port, token_a + "x")[0] == 401
    again, _ = grant(mcp_dir, "h_0", agent_env(tmp_path, "h_0"), str(tmp_path))
    assert ask(port, token_a)[0] == 401  # a new generation's grant revokes the old one
    assert ask(port, again)[0] == 200
    revoke_agent(mcp_dir, "h_0")
    assert ask(port, again)[0] == 401 and ask(port, token_b)[0] == 200

    first.close()
    assert alive(record["pid"])  # a worker is left: the hub stays
    second.close()  # the last one waits for it to end
    assert not alive(record["pid"])


def test_a_grant_revokes_only_its_agent_s_own_grants_without_reading_the_others(
    tmp_path: Path,
) -> None:
    """Each worker start grants a token and revokes its agent's older ones: by the agent's
    index, a file or two, not by reading every agent's grant (50 agents on a shared filesystem
    were 1,250 reads at start-up)."""
    import json
    import subprocess
    import sys

    mcp_dir = tmp_path / "mcp"
    tokens = mcphub.tokens_dir(mcp_dir)
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from codeswarm.worker.mcphub import grant, revoke_agent\n"
        "opened = []\n"
        "sys.addaudithook(lambda e, a: e == 'open' and opened.append(str(a[0])))\n"
        "mcp, most = Path(sys.argv[1]), 0\n"
        "for i in range(50):  # a new run's agents start\n"
        "    grant(mcp, f'h_{i}', {'CODESWARM_AGENT_ID': f'h_{i}'}, '/')\n"
        "    most = max(most, len(opened))\n"
        "    opened.clear()\n"
        "grant(mcp, 'h_7', {}, '/')  # h_7's worker restarted\n"
        "again = len(opened)\n"
        "opened.clear()\n"
        "revoke_agent(mcp, 'h_8')  # h_8's worker stopped\n"
        "print(json.dumps([most, again, len(opened)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(mcp_dir)], capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    most, again, stopped = json.loads(done.stdout)
    # a start: its index and its grant written (each a temporary file); a restart also reads
    # its index; a stop reads it
    assert (most, again, stopped) == (3, 3, 1), (most, again, stopped)
    agents = sorted(json.loads(p.read_text())["agent"] for p in tokens.glob("*.json"))
    assert agents == sorted(f"h_{i}" for i in range(50) if i != 8)  # one grant each
    assert not (tokens / f"h_8{mcphub.INDEX_SUFFIX}").exists()
    (h_7,) = [p for p in tokens.glob("*.json") if json.loads(p.read_text())["agent"] == "h_7"]
    assert (tokens / f"h_7{mcphub.INDEX_SUFFIX}").read_text().split() == [h_7.stem]

    # a worker killed between writing its index and its grant: the index names no file
    (tokens / f"h_8{mcphub.INDEX_SUFFIX}").write_text("0" * 64 + "\nnot-a-digest/../x\n")
    revoke_agent(mcp_dir, "h_8")
    assert not (tokens / f"h_8{mcphub.INDEX_SUFFIX}").exists()
    grant(mcp_dir, "h_8", agent_env(tmp_path, "h_8"), "/")
    assert sum(1 for _ in tokens.glob("*.json")) == 50

    # grants an older codeswarm wrote (no index, no mark on the directory): found by reading
    old = tmp_path / "old"
    mcphub.tokens_dir(old).mkdir(parents=True)
    for i in range(3):
        body = {"agent": f"h_{i}", "env": {}, "cwd": "/", "pid": 1}
        (mcphub.tokens_dir(old) / f"{i:064x}.json").write_text(json.dumps(body))
    grant(old, "h_1", agent_env(tmp_path, "h_1"), "/")
    revoke_agent(old, "h_2")
    left = sorted(json.loads(p.read_text())["agent"] for p in mcphub.tokens_dir(old).glob("*.json"))
    assert left == ["h_0", "h_1"] and not (mcphub.tokens_dir(old) / f"{1:064x}.json").exists()


def test_a_killed_hub_is_restarted_on_its_port_by_a_keeper(run: Path, tmp_path: Path) -> None:
    mcp_dir = run / "mcp"
    moved: list[int] = []
    keepers = [HubKeeper(mcp_dir, moved.append, host="n1") for _ in range(3)]
    port = ensure_hub(mcp_dir, host="n1")
    for keeper in keepers:
        keeper.start()
    token, _ = grant(mcp_dir, "h_0", agent_env(tmp_path, "h_0"), str(tmp_path))
    assert ask(port, token)[0] == 200
    files = HubFiles(mcp_dir, "n1")
    for _ in range(2):
        before = files.read()
        os.kill(before["pid"], signal.SIGKILL)
        after = wait_until(
            lambda b=before: (r := files.read()).get("pid") != b["pid"] and r, what="a new hub"
        )
        assert after["port"] == port and alive(after["pid"])
        assert ask(port, token)[0] == 200  # the same token: grants outlive the hub
    assert moved == []
    for keeper in keepers:
        keeper.close()
    assert not alive(files.read()["pid"])
