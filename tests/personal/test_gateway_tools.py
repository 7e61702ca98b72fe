"""Gateway mode without a client (issue 16): what ``codeswarm install codex|claude --gateway``
writes and takes out again, the primer and its hook, and a personal session's MCP server as the
orchestrator (the same tools as a fleet's orchestrator; ``check`` waits for a task's end within
the call). The real clients: tests/personal/test_gateway.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from codeswarm.coordination import Coord, open_store
from codeswarm.hooks.install import codex_hook_hash
from codeswarm.mcp import gateway, orchestrator
from swarmkit import PYTHON, python_env

USER_HOOKS = '{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "my-own-hook"}]}]}}\n'
USER_TOML = 'model = "o3"\n'
USER_CLAUDE = '{"permissions": {"allow": ["Bash(ls)"]}}\n'
ROLE = "CODESWARM_ROLE=orchestrator "
PRIMER_HOOK = "-P -m codeswarm.mcp.gateway"


def install(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**python_env(), "HOME": str(home), "CODEX_HOME": str(home / ".codex")}
    env.pop("CLAUDE_CONFIG_DIR", None)
    env.pop("XDG_CONFIG_HOME", None)
    out = subprocess.run([sys.executable, "-P", "-m", "codeswarm", "install", *args],
                         capture_output=True, text=True, env=env, cwd=home, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def commands(doc: dict[str, Any]) -> dict[str, list[str]]:
    return {
        event: [h["command"] for g in groups for h in g["hooks"]]
        for event, groups in doc["hooks"].items()
    }


def test_the_primer_is_short_and_says_when_to_edit_and_when_to_delegate() -> None:
    text = gateway.PRIMER
    # two proxies for tokens: characters / 4, and words (a token is 3/4 of a word or more)
    assert len(text) / 4 <= 300 and len(text.split()) <= 300, (len(text), len(text.split()))
    for said in ("Edit locally", "Delegate", "`delegate`", "`check`", "`wait`", "leases"):
        assert said in text, said
    # the MCP server's words for a gateway: no more than a fleet orchestrator's
    assert len(gateway.INSTRUCTIONS) <= len(orchestrator.INSTRUCTIONS)


def test_the_primer_hook_answers_session_start_with_the_primer() -> None:
    out = subprocess.run([PYTHON, *PRIMER_HOOK.split()], input=b'{"hook_event_name": "x"}',
                         capture_output=True, env=python_env(), timeout=30, check=True)  # fmt: skip
    answer = json.loads(out.stdout)
    assert answer == {"hookSpecificOutput": {"hookEventName": "SessionStart",
                                             "additionalContext": gateway.PRIMER}}  # fmt: skip


def test_codex_gateway_install_switch_and_uninstall(tmp_path: Path) -> None:
    codex = tmp_path / ".codex"
    codex.mkdir()
    (codex / "hooks.json").write_text(USER_HOOKS)
    (codex / "config.toml").write_text(USER_TOML)
    before = snapshot(tmp_path)
    install(tmp_path, "codex")  # a plain install first: the gateway takes $swarm out
    assert (codex / "skills" / "swarm" / "SKILL.md").exists()
    out = install(tmp_path, "codex", "--gateway")
    assert "(user, gateway)" in out.stdout and "delegate" in out.stdout
    assert not (codex / "skills").exists()
    doc = json.loads((codex / "hooks.json").read_text())
    found = commands(doc)
    assert found["Stop"][0] == "my-own-hook"
    ours = [c for cs in found.values() for c in cs if c != "my-own-hook"]
    primer = [c for c in ours if PRIMER_HOOK in c]
    assert len(primer) == 1 and primer[0] in found["SessionStart"]
    assert all(c.startswith(ROLE) for c in ours if c not in primer), ours
    config = tomllib.loads((codex / "config.toml").read_text())
    assert config["model"] == "o3"
    server = config["mcp_servers"]["codeswarm"]
    assert server["env"] == {"CODESWARM_AGENT_ROLE": "orchestrator"}
    assert server["tool_timeout_sec"] >= 3600 and server["required"] is True
    # every hook of ours is trusted, the primer's too (Codex runs an untrusted one never)
    trusted = config["hooks"]["state"]
    for event, groups in doc["hooks"].items():
        snake = {"SessionStart": "session_start", "PreToolUse": "pre_tool_use",
                 "PostToolUse": "post_tool_use", "Stop": "stop",
                 "SessionEnd": "session_end"}[event]  # fmt: skip
        for g, group in enumerate(groups):
            if group["hooks"][0]["command"] == "my-own-hook":
                continue
            key = f"{codex / 'hooks.json'}:{snake}:{g}:0"
            assert trusted[key]["trusted_hash"] == codex_hook_hash(event, group, group["hooks"][0])
    gated = snapshot(tmp_path)
    assert "0 file(s) changed" in install(tmp_path, "codex", "--gateway").stdout
    assert snapshot(tmp_path) == gated
    install(tmp_path, "codex")  # back to plain: no role, no primer, $swarm again
    found = commands(json.loads((codex / "hooks.json").read_text()))
    assert not [c for cs in found.values() for c in cs if ROLE in c or PRIMER_HOOK in c]
    assert "CODESWARM_AGENT_ROLE" not in (codex / "config.toml").read_text()
    assert (codex / "skills" / "swarm" / "SKILL.md").exists()
    install(tmp_path, "codex", "--gateway")
    install(tmp_path, "codex", "--gateway", "--uninstall")
    assert snapshot(tmp_path) == before  # byte for byte, nothing left behind


def test_claude_gateway_install_and_uninstall(tmp_path: Path) -> None:
    claude = tmp_path / ".claude"
    claude.mkdir()
    (claude / "settings.json").write_text(USER_CLAUDE)
    before = snapshot(tmp_path)
    install(tmp_path, "claude", "--gateway")
    settings = json.loads((claude / "settings.json").read_text())
    assert settings["permissions"] == {"allow": ["Bash(ls)", "mcp__codeswarm"]}
    found = commands(settings)
    assert [PRIMER_HOOK in c for c in found["SessionStart"]] == [False, True]
    assert all(c.startswith(ROLE) for cs in found.values() for c in cs if PRIMER_HOOK not in c)
    server = json.loads((tmp_path / ".claude.json").read_text())["mcpServers"]["codeswarm"]
    assert server["env"] == {"CODESWARM_AGENT_ROLE": "orchestrator"}
    assert not (claude / "commands").exists()  # no /swarm: `list` shows the swarm
    gated = snapshot(tmp_path)
    assert "0 file(s) changed" in install(tmp_path, "claude", "--gateway").stdout
    assert snapshot(tmp_path) == gated
    install(tmp_path, "claude", "--uninstall")  # an uninstall takes a gateway's out too
    assert snapshot(tmp_path) == before


@contextlib.asynccontextmanager
async def session(db: str, root: Path, **env: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=PYTHON, args=["-P", "-m", "codeswarm.mcp"], cwd=str(root),
        env=python_env(CODESWARM_DB=db, CODESWARM_SCOPE=str(root), **env),
    )  # fmt: skip
    async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
        s.info = await s.initialize()  # type: ignore[attr-defined]
        yield s


async def ok(s: ClientSession, tool: str, **args: Any) -> Any:
    result = await s.call_tool(tool, args)
    assert not result.isError, result.content
    return result.structuredContent


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
async def test_a_personal_orchestrator_has_a_fleet_orchestrators_tools_and_waits(
    db_url: str, root: Path
) -> None:
    db = db_url
    coord = Coord(open_store(db), root=str(root))
    try:
        async with (
            session(db, root, CODESWARM_AGENT_NAME="codex-gw",
                    CODESWARM_AGENT_ROLE="orchestrator") as gw,
            session(db, root, CODESWARM_AGENT_ID="s_0", CODESWARM_AGENT_ROLE="orchestrator") as boss,
            session(db, root, CODESWARM_AGENT_ID="s_1", CODESWARM_AGENT_ROLE="implementer") as w1,
        ):  # fmt: skip
            # nothing more than a fleet agent gets: the fleet orchestrator's tools, and words
            # of the server no longer than its (what changes: nothing wakes a gateway)
            mine = {t.name for t in (await gw.list_tools()).tools}
            assert mine == {t.name for t in (await boss.list_tools()).tools}
            said = gw.info.instructions  # type: ignore[attr-defined]
            fleet = boss.info.instructions  # type: ignore[attr-defined]
            assert said.endswith(gateway.INSTRUCTIONS) and orchestrator.INSTRUCTIONS not in said
            assert len(said) <= len(fleet)

            await ok(w1, "swarm_status")  # the worker registers
            task = (await ok(gw, "delegate", title="job", instructions="run it", agent="s_1"))[
                "task"
            ]
            assert coord.agent("codex-gw").role == "orchestrator"  # never picked as a worker
            late = await ok(gw, "check", task=task, wait=0.3)
            assert late["status"] == "claimed" and late["timed_out"] is True

            started = time.monotonic()
            waiting = asyncio.create_task(ok(gw, "check", task=task, wait=60))
            await asyncio.sleep(0.5)
            assert not waiting.done()
            await ok(w1, "task_update", id=task, status="done", result="RESULT: 42 tests pass",
                     files_changed=["a.py"])  # fmt: skip
            seen = await asyncio.wait_for(waiting, 30)
            assert time.monotonic() - started < 20  # woken by the store, not the time-out
            assert seen["status"] == "done" and seen["result"] == "RESULT: 42 tests pass"
            assert seen["agent"] == "s_1" and seen["files_changed"] == ["a.py"]
            assert "timed_out" not in seen

            refused = await gw.call_tool("check", {"agent": "s_1", "wait": 1})
            assert refused.isError
            assert refused.content[0].text.startswith("bad input: wait is for a task")  # type: ignore[union-attr]
    finally:
        coord.close()


@pytest.fixture(autouse=True)
def _no_inherited_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("CODESWARM_"):
            monkeypatch.delenv(key)


def test_codex_gateway_in_a_project_trusts_the_primer_from_your_codex_home(tmp_path: Path) -> None:
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "config.toml").write_text(USER_TOML)
    repo = tmp_path / "repo"
    repo.mkdir()
    before = snapshot(tmp_path)
    install(tmp_path, "codex", "--scope", "project", "--repo", str(repo), "--gateway")
    hooks = repo / ".codex" / "hooks.json"
    doc = json.loads(hooks.read_text())
    assert PRIMER_HOOK in commands(doc)["SessionStart"][1]
    project = tomllib.loads((repo / ".codex" / "config.toml").read_text())
    assert project["mcp_servers"]["codeswarm"]["env"] == {"CODESWARM_AGENT_ROLE": "orchestrator"}
    mine = tomllib.loads((tmp_path / ".codex" / "config.toml").read_text())["hooks"]["state"]
    group = doc["hooks"]["SessionStart"][1]
    assert mine[f"{hooks}:session_start:1:0"]["trusted_hash"] == codex_hook_hash(
        "SessionStart", group, group["hooks"][0]
    )
    install(tmp_path, "codex", "--scope", "project", "--repo", str(repo), "--uninstall")
    assert snapshot(tmp_path) == before
