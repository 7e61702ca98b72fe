"""A Claude Code agent in the fleet, end to end through the real CLI: ``up --runtime claude -n 1``
(real supervisor, worker, ``claude`` 2.1.197 and coordination hub; the scripted model's Messages
API), a message answered and streamed, the tokens Claude reported counted exactly, nothing of
codeswarm's in ``claude``'s environment, and ``down`` leaving nothing behind. The mixed swarm,
crashes, approvals and the orchestrator: tests/control/test_claude_fleet.py."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmkit import Swarm, open_swarms, pids_of, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.codex]

LATE = "late.txt"


@pytest.fixture
def swarm(tmp_path: Path, codex_binary, claude_binary: Path) -> Iterator[Swarm]:  # type: ignore[no-untyped-def]
    with open_swarms(Swarm, tmp_path, codex_binary.path) as make:
        s = make("c")
        # the person's Claude Code is a throwaway one: nothing of a real login is seeded
        person = tmp_path / "person"
        (person / ".claude").mkdir(parents=True)
        s.env = {**s.env, "HOME": str(person), "CODESWARM_CLAUDE_BIN": str(claude_binary)}
        s.env.pop("CLAUDE_CONFIG_DIR", None)
        yield s


def claude_usage(result: dict[str, object]) -> tuple[int, int, int]:
    """(input, cached input, output) of one ``result`` line as codeswarm counts them."""
    u = result["usage"]
    assert isinstance(u, dict)
    cached = u.get("cache_read_input_tokens", 0)
    return (
        u["input_tokens"] + u.get("cache_creation_input_tokens", 0) + cached,
        cached,
        u["output_tokens"],
    )


def test_a_claude_agent_answers_and_goes_down_clean(swarm: Swarm) -> None:
    guarded = swarm.workdir / ".claude" / "settings.local.json"  # could switch hooks off
    script = [{"when": "^hi$", "text": "hello from claude"},
              {"when": "^more$",
               "write": {"file_path": str(guarded), "content": '{"disableAllHooks": true}'}},
              {"when": "^more$", "exec": "env"},
              {"when": "^more$", "text": "and again"},
              {"when": "^back$", "text": "still here"},
              {"when": "^slow tool$", "exec": f"sleep 41; echo late > {LATE}"},
              {"when": "interrupted by a crash", "text": "carrying on"}]  # fmt: skip
    args = ("--runtime", "claude", "--approvals", "all")
    up = swarm.up(1, {"agents": {"*": script}}, *args)
    assert [a["state"] for a in up["agents"]] == ["idle"]
    # down and up before any turn: the same session, nothing to report
    swarm.cli("down", "c")
    swarm.up(1, {"agents": {"*": script}}, *args)
    assert len(set(swarm.ready_threads(0))) == 1
    assert not [r for r in swarm.outbox(0) if r["kind"] == "error"]

    home = swarm.run_dir / "agents" / "c_0" / "claude-home"
    assert not (home / "mcp.json").exists()  # the hub's token is not left on disk
    environ = claude_environ(swarm)
    assert not [k for k in environ if k.startswith("CODESWARM_")]
    assert environ["CLAUDE_CONFIG_DIR"] == str(home)
    assert environ["ANTHROPIC_BASE_URL"].endswith("/agents/c_0")  # its own prefix of the model

    answered = json.loads(swarm.cli("send", "c", "all", "hi", "--wait", "--json").stdout)
    assert answered["c_0"]["status"] == "completed"
    assert answered["c_0"]["text"] == "hello from claude"
    streamed = swarm.cli("send", "c", "0", "more", "--stream").stdout
    assert "and again" in streamed

    records = swarm.outbox(0)
    raw = [r["msg"] for r in records if r["kind"] == "claude"]
    synthesized = [r for r in records if r["kind"] == "codex"]
    assert synthesized and all(r.get("runtime") == "claude" for r in synthesized)
    assert not [m for m in raw if m.get("type") == "stream_event"]  # the deltas carry them
    (init, *_) = [m for m in raw if m.get("subtype") == "init"]
    assert {"name": "codeswarm", "status": "connected"} in init["mcp_servers"]
    assert [s for s in init["tools"] if s.startswith("mcp__codeswarm__")]
    deltas = [r for r in synthesized if r["msg"]["method"] == "item/agentMessage/delta"]
    assert "".join(r["msg"]["params"]["delta"] for r in deltas) == "hello from claudeand again"

    # no write under the project's .claude/, whatever the approval policy says
    assert not guarded.exists()
    (denied, shell) = [b for m in raw if m.get("type") == "user" and isinstance(m["message"]["content"], list)
                       for b in m["message"]["content"] if b.get("type") == "tool_result"]  # fmt: skip
    assert denied["is_error"] and "denied by your permission settings" in str(denied["content"])
    # the agent's shell: nothing of codeswarm's, not the model's key
    env = str(shell["content"])
    assert not shell.get("is_error") and "CLAUDECODE=1" in env
    assert "CODESWARM_" not in env and environ["ANTHROPIC_API_KEY"] not in env
    assert str(swarm.run_dir) not in env and "CLAUDE_CONFIG_DIR" not in env

    # a new worker resumes the session, and its tokens go on from where they were
    swarm.cli("down", "c")
    swarm.up(1, {"agents": {"*": script}}, *args)
    assert "--resume" in claude_argv(swarm)
    answered = json.loads(swarm.cli("send", "c", "all", "back", "--wait", "--json").stdout)
    assert answered["c_0"]["text"] == "still here"
    records = swarm.outbox(0)
    assert len(set(swarm.ready_threads(0))) == 1
    results = [r["msg"] for r in records if r["kind"] == "claude" and r["msg"]["type"] == "result"]
    assert len(results) == 3
    spent = [sum(x) for x in zip(*(claude_usage(r) for r in results), strict=True)]
    (agent,) = swarm.status()["agents"]
    assert agent["runtime"] == "claude" and agent["turns"] == 3
    tokens = agent["tokens"]
    assert [tokens["input"], tokens["cached_input"], tokens["output"]] == spent
    assert tokens["total"] == spent[0] + spent[2] and spent[0] > 0

    # kill -9 of claude mid-command: its tool shell (a session of its own) dies with the turn
    swarm.cli("send", "c", "0", "slow tool")
    wait_until(lambda: pids_of("sleep 41"), timeout=30, what="the slow command")
    os.kill(int((swarm.run_dir / "agents" / "c_0" / "codex.pid").read_text()), signal.SIGKILL)
    wait_until(lambda: not pids_of("sleep 41"), timeout=30, what="the leftover shell to die")
    wait_until(lambda: swarm.status()["agents"][0]["last_message"] == "carrying on",
               timeout=60, what="the continuation")  # fmt: skip
    assert not (swarm.workdir / LATE).exists()

    swarm.cli("down", "c")
    assert swarm.outbox(0)[-1]["kind"] == "agent.stopped"
    assert not swarm.processes()  # claude too (reaped again, and checked, at teardown)
    # every hook of claude's (one runs while it starts) was answered by the worker's service
    log = (swarm.run_dir / "agents" / "c_0" / "worker.log").read_text()
    assert "refused" not in log and "Traceback" not in log, log
    assert "a previous claude of session" in log  # its tool shell, killed


def claude_environ(swarm: Swarm) -> dict[str, str]:
    pid = int((swarm.run_dir / "agents" / "c_0" / "codex.pid").read_text())
    items = Path(f"/proc/{pid}/environ").read_text().split("\0")
    return dict(item.split("=", 1) for item in items if "=" in item)


def claude_argv(swarm: Swarm) -> list[str]:
    pid = int((swarm.run_dir / "agents" / "c_0" / "codex.pid").read_text())
    return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
