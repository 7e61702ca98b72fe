"""The orchestrator's model requests never carry more of a worker's raw output than the swarm's
``report_chars`` (`up --report-chars`): real workers and Codex, the scripted model. A worker
reports a 50,000-character result, ends its turn with a 50,000-character final message and
answers `converse` with another; the orchestrator is woken by the completion, calls `check` on
the task and the agent, `tasks` and `converse`; its requests (the request log) hold at most
``report_chars`` characters of any of them, cut with a marker (docs/coordination.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from codeswarm.coordination import Coord, Message
from codeswarm.worker.coordlink import wake_record
from swarmkit import Swarm, wait_until

CAP = 1500
SIZE = 50_000
RUN = re.compile(r"(?:[RFA]\d{6}\.)+")


def _raw(tag: str) -> str:
    """``SIZE`` characters of unique chunks (``R000001.``): any part of it is found by RUN."""
    return "".join(f"{tag}{i:06d}." for i in range(SIZE // 8))


def _tool(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool": name, "arguments": arguments}


def _longest_run(text: str) -> int:
    return max((len(m) for m in RUN.findall(text)), default=0)


@pytest.mark.codex
@pytest.mark.slow
def test_no_orchestrator_request_carries_more_than_report_chars(swarm: Swarm) -> None:
    subprocess.run(["git", "init", "-q", str(swarm.workdir)], check=True)
    w1 = swarm.agent(1)
    done = "task #1 done"
    script = {
        "agents": {
            "0": [
                _tool("delegate", title="big", instructions="write the big report", agent=w1),
                {"text": "Delegated."},
                {"when": done, **_tool("check", task=1)},
                {"when": done, **_tool("tasks")},
                {"when": done, **_tool("converse", agent=w1, message="Tell me all", timeout=60)},
                {"when": done, **_tool("check", agent=w1)},
                {"when": done, **_tool("list")},
                {"when": done, **_tool("finish", summary="the report is written")},
                {"when": done, "text": "Finished."},
            ],
            "1": [
                {"when": "Task #1:", **_tool("task_update", id=1, status="done", result=_raw("R"))},
                {"when": "Task #1:", "text": _raw("F")},
                {"when": "Tell me all", "text": _raw("A")},
            ],
        }
    }
    swarm.up(2, script, "--roles", "orchestrator,implementer", "--report-chars", str(CAP))
    coord = Coord.open(str(swarm.state / "coord.db"), root=str(swarm.workdir))
    try:
        swarm.cli("send", swarm.name, "0", "The goal: write the big report.")
        wait_until(lambda: coord.events(kind="run.finished"), timeout=120, what="run.finished")
        # the worker's words reached the store whole
        assert coord.task(1).result == _raw("R")
        mine = [r for r in swarm.model_requests() if r["agent"] == swarm.agent(0)]
        called = [(r.get("entry") or {}).get("tool") for r in mine]
        assert [c for c in called if c] == ["delegate", "check", "tasks", "converse", "check",
                                            "list", "finish"]  # fmt: skip
        bodies = [json.dumps(r["body"], ensure_ascii=False) for r in mine]
        longest = max(_longest_run(b) for b in bodies)
        assert 0 < longest <= CAP, longest
        # the result (in the completion message and in check) and the reply came, cut
        seen = "\n".join(bodies)
        assert f"[cut: {SIZE} characters]" in seen
        for tag in "RA":
            runs = [m for b in bodies for m in RUN.findall(b) if m.startswith(tag)]
            assert runs and max(map(len, runs)) > CAP // 2, tag  # cut, not dropped
        assert "F000001." not in seen  # the task turn's final message goes nowhere
    finally:
        coord.close()


def test_a_message_to_the_orchestrator_wakes_it_cut_to_the_cap() -> None:
    said = _raw("M")
    message = Message(id=7, sender="s_1#1", to="s_0", text=said, sent_at=1.0, reply_to=None)
    record = wake_record(message, CAP)
    assert len(record["text"]) < CAP + 100 and f"[cut: {SIZE} characters]" in record["text"]
    assert said in wake_record(message)["text"]  # another agent's: whole
    about = Message(
        id=8, sender="s_1#1", to="s_0", text=said, sent_at=1.0, reply_to=None, task_id=3
    )
    assert said in wake_record(about, CAP)["text"]  # the store's own news: compact already


@pytest.mark.parametrize(
    "command", [["up", "-n", "1", "--name", "s"], ["run", "a goal"]], ids=["up", "run"]
)
def test_a_report_size_out_of_range_is_refused(command: list[str], tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "CODESWARM_STATE_DIR": str(state)}
    for bad in ("99", "1000001"):
        done = subprocess.run(
            [sys.executable, "-P", "-m", "codeswarm", *command, "--report-chars", bad],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [
            f"codeswarm: error: --report-chars must be between 100 and 1000000, not {bad}"
        ]
    assert not state.exists()  # nothing started
