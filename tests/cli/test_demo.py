"""``codeswarm demo``: the real CLI, real Codex, the scripted model shipped in the package; a
sample repository whose tests fail is fixed by an orchestrator and three workers, with one
collision (a denied patch) resolved by a message; nothing is left running (docs/run.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swarmkit import pids_of

pytestmark = [pytest.mark.codex, pytest.mark.slow]


def test_the_demo_fixes_the_sample_and_leaves_nothing(  # type: ignore[no-untyped-def]
    tmp_path: Path, codex_binary, claude_binary: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(tmp),  # the demo's temporary directory: processes are found by it
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "CODESWARM_CODEX_BIN": str(codex_binary.path),
        "CODESWARM_CLAUDE_BIN": str(claude_binary),
        "CODESWARM_AUTO_INSTALL": "0",
    }
    env.pop("CODESWARM_STATE_DIR", None)
    done = subprocess.run(
        [sys.executable, "-P", "-m", "codeswarm", "demo", "--json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert pids_of(str(tmp_path)) == []  # nothing left running
    assert list(tmp.glob("codeswarm-demo.*")) == []  # the sample: gone
    assert list((tmp_path / "state" / "codeswarm").glob("demo.*")) == []  # the swarm's state
    result = json.loads(done.stdout)
    assert result["ok"] is True and result["run_exit_code"] == 0
    # the worker that runs the tests is a Claude Code agent, the others Codex
    assert result["runtimes"] == {"demo_0": "codex", "demo_1": "codex", "demo_2": "codex",
                                  "demo_3": "claude"}  # fmt: skip
    assert result["tests_before"]["passed"] is False
    assert result["tests_after"] == {"passed": True, "output": "OK"}
    summary = result["summary"]
    assert summary["outcome"] == "finished"
    tasks = {t["id"]: t for t in summary["tasks"]}
    assert sorted(tasks) == [1, 2, 3]
    for task in tasks.values():
        assert (task["status"], task["verdict"]) == ("done", "accepted")
    assert tasks[3]["depends_on"] == [1, 2]
    assert [tasks[k]["assignee"] for k in (1, 2, 3)] == ["demo_1", "demo_2", "demo_3"]
    assert summary["files_changed"] == ["mathlib/arith.py", "mathlib/stats.py"]
    assert set(summary["tokens"]["agents"]) == {f"demo_{r}" for r in range(4)}
    assert summary["tokens"]["total"]["counted"] > 0
    # the collision: demo_2's patch on the file demo_1 holds, denied naming the holder ...
    denied = [a for a in result["audit"] if a["kind"] == "lease.denied"]
    assert len(denied) == 1
    assert denied[0]["agent"].startswith("demo_2#") and denied[0]["subject"] == "mathlib/arith.py"
    assert "by demo_1#" in denied[0]["data"]["reasons"][0]
    # ... resolved by a message to the holder, who made the change
    assert [(m["from"], m["to"]) for m in result["messages"]] == [("demo_2", "demo_1")]
    assert "DENIED by the hook" in done.stderr and "message demo_2 -> demo_1" in done.stderr
