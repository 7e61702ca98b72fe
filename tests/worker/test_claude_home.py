"""A Claude agent's home (``CLAUDE_CONFIG_DIR``), settings, MCP mount and environment
(:mod:`codeswarm.worker.claude_home`): seeded read-only from the person's login, private, the
agent's identity on the hooks' command lines only, nothing of codeswarm's (and no model key) in
the agent's shell."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from codeswarm.hooks import ENTRY, is_ours
from codeswarm.worker.claude_home import (
    MCP_CONFIG,
    SETTINGS,
    claude_env,
    forget_mcp_config,
    hook_command,
    prepare_claude_home,
    settings,
    shell_prefix,
    write_mcp_config,
    write_settings,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_seeded_from_the_persons_login_which_is_never_written(tmp_path: Path) -> None:
    person = tmp_path / "home"
    seed = person / ".claude"
    seed.mkdir(parents=True)
    (seed / ".credentials.json").write_text('{"claudeAiOauth": {"accessToken": "a"}}')
    (seed / "settings.json").write_text('{"hooks": {}}')  # theirs: not the agent's
    (person / ".claude.json").write_text(json.dumps(
        {"oauthAccount": {"emailAddress": "p@x"}, "hasCompletedOnboarding": True,
         "projects": {"/secret": {}}}))  # fmt: skip
    before = snapshot(person)
    home = tmp_path / "agent" / "claude-home"
    assert prepare_claude_home(home, seed) == [".credentials.json", ".claude.json"]
    assert mode(home) == 0o700
    assert mode(home / ".credentials.json") == 0o600
    assert json.loads((home / ".credentials.json").read_text()) == {
        "claudeAiOauth": {"accessToken": "a"}}  # fmt: skip
    mine = json.loads((home / ".claude.json").read_text())
    assert mine == {"oauthAccount": {"emailAddress": "p@x"}, "hasCompletedOnboarding": True}
    assert not (home / "settings.json").exists()
    # claude writes its own state into the agent's .claude.json; a restart keeps it
    (home / ".claude.json").write_text(json.dumps({**mine, "numStartups": 3}))
    assert prepare_claude_home(home, seed) == []
    assert json.loads((home / ".claude.json").read_text())["numStartups"] == 3
    # they log in again: the agent's copy follows
    creds = seed / ".credentials.json"
    creds.write_text('{"claudeAiOauth": {"accessToken": "b"}}')
    os.utime(creds, (creds.stat().st_atime + 10, creds.stat().st_mtime + 10))
    assert prepare_claude_home(home, seed) == [".credentials.json"]
    assert "b" in (home / ".credentials.json").read_text()
    after = snapshot(person)
    assert {k: v for k, v in after.items() if k != str(creds)} == {
        k: v for k, v in before.items() if k != str(creds)}  # fmt: skip


def test_a_config_dir_seed_keeps_its_own_claude_json(tmp_path: Path) -> None:
    seed = tmp_path / "cfg"  # CLAUDE_CONFIG_DIR=cfg: .claude.json inside it
    seed.mkdir()
    (seed / ".claude.json").write_text('{"oauthAccount": {"emailAddress": "q@x"}}')
    home = tmp_path / "claude-home"
    assert prepare_claude_home(home, seed) == [".claude.json"]
    assert prepare_claude_home(tmp_path / "bare", None) == []
    assert mode(tmp_path / "bare") == 0o700


def test_settings_carry_the_identity_in_each_hook_command(tmp_path: Path) -> None:
    identity = {"CODESWARM_AGENT_ID": "s_1", "CODESWARM_RUN_DIR": "/st ate/runs/s",
                "CODESWARM_DB": "postgresql://u:p@h/db?x=1&y=2"}  # fmt: skip
    doc = settings(identity, "/work/proj")
    events = set(doc["hooks"])
    # a Codex agent's events: no UserPromptSubmit (a heartbeat the worker gives already)
    assert events == {"PreToolUse", "PostToolUse", "SessionStart", "Stop", "SessionEnd"}
    pre = doc["hooks"]["PreToolUse"][0]
    assert set(pre["matcher"].split("|")) >= {"Edit", "Write", "Bash"}
    command = pre["hooks"][0]["command"]
    assert is_ours(command) and command.endswith(f"{ENTRY} claude pre-tool-use")
    assert doc["permissions"]["deny"] == ["Edit(//work/proj/.claude/**)",
                                          "Write(//work/proj/.claude/**)"]  # fmt: skip
    # the shell the hooks run through gives the hook process the identity, exactly
    probe = hook_command(f"{sys.executable} -c 'import os, json; print(json.dumps("
                         "{k: v for k, v in os.environ.items() if k.startswith(\"CODESWARM_\")}))'",
                         identity)  # fmt: skip
    out = subprocess.run(["/bin/sh", "-c", probe], capture_output=True, text=True, check=True,
                         env={"PATH": os.environ["PATH"]})  # fmt: skip
    assert json.loads(out.stdout) == identity
    # an uncoordinated swarm: no hooks, the guard stays
    assert "hooks" not in settings({}, "/work/proj")
    path = write_settings(tmp_path, identity, "/work/proj")
    assert path.name == SETTINGS != "settings.json" and mode(path) == 0o600
    assert json.loads(path.read_text()) == doc


def test_the_mcp_mount_is_private_and_goes(tmp_path: Path) -> None:
    path = write_mcp_config(tmp_path, "http://127.0.0.1:4711/mcp", "tok")
    assert path.name == MCP_CONFIG and mode(path) == 0o600
    assert json.loads(path.read_text()) == {"mcpServers": {"codeswarm": {
        "type": "http", "url": "http://127.0.0.1:4711/mcp",
        "headers": {"Authorization": "Bearer tok"}}}}  # fmt: skip
    forget_mcp_config(tmp_path)
    forget_mcp_config(tmp_path)  # twice: fine
    assert not path.exists()


WORKER_ENV = {
    "PATH": "/usr/bin:/bin", "HOME": "/home/p", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
    "TERM": "xterm", "TMPDIR": "/tmp", "ANTHROPIC_API_KEY": "sk-real", "ANTHROPIC_MODEL": "m",
    "CODESWARM_DB": "postgresql://u:p@h/db", "CODESWARM_MCP_TOKEN": "t",
    "CODESWARM_RUN_DIR": "/state", "OPENAI_API_KEY": "sk-o", "AWS_SECRET_ACCESS_KEY": "s",
    "VIRTUAL_ENV": "/venv", "PYTHONPATH": "/src",
}  # fmt: skip


def test_the_environment_is_curated(tmp_path: Path) -> None:
    env = claude_env(WORKER_ENV, {}, tmp_path, role="implementer")
    assert not [k for k in env if k.startswith("CODESWARM_")]
    assert {"PATH", "HOME", "LANG", "LC_ALL", "TERM", "TMPDIR"} <= set(env)
    assert env["ANTHROPIC_API_KEY"] == "sk-real" and env["ANTHROPIC_MODEL"] == "m"  # a real model
    for gone in ("OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "VIRTUAL_ENV", "PYTHONPATH"):
        assert gone not in env
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == env["DISABLE_TELEMETRY"] == "1"
    assert env["CLAUDE_CODE_SHELL_PREFIX"] == str(tmp_path / "shell-prefix.sh")
    assert "MCP_TOOL_TIMEOUT" not in env
    # the scripted model: its URL and key, none of the person's
    mock = {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9/agents/s_1", "ANTHROPIC_API_KEY": "dummy"}
    env = claude_env(WORKER_ENV, mock, tmp_path, role="orchestrator")
    assert {k: v for k, v in env.items() if k.startswith("ANTHROPIC_")} == mock
    assert env["MCP_TOOL_TIMEOUT"] == "3660000"  # converse waits up to an hour


def test_the_agents_shell_has_no_key(tmp_path: Path) -> None:
    wrapper = shell_prefix(tmp_path)
    assert mode(wrapper) == 0o700 and shell_prefix(tmp_path) == wrapper
    env = {**claude_env(WORKER_ENV, {}, tmp_path, role="implementer"),
           "ANTHROPIC_AUTH_TOKEN": "tok", "CLAUDE_CODE_OAUTH_TOKEN": "o",
           "CLAUDE_CONFIG_DIR": str(tmp_path)}  # fmt: skip
    # as Claude Code calls it: the whole command line as one argument
    out = subprocess.run([str(wrapper), 'echo "${ANTHROPIC_API_KEY-none} $ANTHROPIC_MODEL $0"; '
                          "env | grep -c -e TOKEN -e CODESWARM -e CLAUDE_CONFIG -e PREFIX || true"],
                         capture_output=True, text=True, env=env, check=True)  # fmt: skip
    assert out.stdout.splitlines() == ["none m /bin/bash", "0"]
