"""`codeswarm install`: idempotent, keeps a person's own entries, uninstall restores byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

USER_HOOKS = (
    '{\n  "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "my-own-hook"}]}]}\n}\n'
)
USER_TOML = 'model = "o3"\n\n[mcp_servers.mine]\ncommand = "mine"\n'
USER_CLAUDE = '{"permissions": {"allow": ["Bash(ls)"]},\n "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "guard"}]}]}}'
USER_CLAUDE_JSON = '{"numStartups": 3, "mcpServers": {"theirs": {"command": "t"}}}'


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "CODEX_HOME": str(home / ".codex")}
    env.pop("CLAUDE_CONFIG_DIR", None)  # these tests install into HOME's ~/.claude
    return subprocess.run([sys.executable, "-m", "codeswarm", "install", *args], capture_output=True,
                          text=True, env=env, cwd=home, timeout=60, check=False)  # fmt: skip


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "hooks.json").write_text(USER_HOOKS)
    (tmp_path / ".codex" / "config.toml").write_text(USER_TOML)
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "settings.json").write_text(USER_CLAUDE)
    (tmp_path / ".claude.json").write_text(USER_CLAUDE_JSON)
    return tmp_path


@pytest.mark.parametrize("client", ["codex", "claude"])
def test_install_idempotent_keeps_own_entries_uninstall_byte_for_byte(
    home: Path, client: str
) -> None:
    before = snapshot(home)
    first = run(home, client)
    assert first.returncode == 0, first.stderr
    after_first = snapshot(home)
    assert after_first != before
    second = run(home, client)
    assert "0 file(s) changed" in second.stdout
    assert {k: v for k, v in snapshot(home).items()} == after_first
    if client == "codex":
        hooks = json.loads((home / ".codex" / "hooks.json").read_text())
        assert hooks["hooks"]["Stop"][0]["hooks"][0]["command"] == "my-own-hook"
        assert any("codeswarm/hooks/__main__.py codex pre-tool-use" in h["command"]
                   for g in hooks["hooks"]["PreToolUse"] for h in g["hooks"])  # fmt: skip
        toml = (home / ".codex" / "config.toml").read_text()
        assert toml.startswith(USER_TOML) and "[mcp_servers.codeswarm]" in toml
        import tomllib

        assert tomllib.loads(toml)["mcp_servers"]["mine"]["command"] == "mine"
        skill = (home / ".codex" / "skills" / "swarm" / "SKILL.md").read_text()
        assert skill.startswith("---\nname: swarm\n") and "swarm_status" in skill
        assert not (home / ".codex" / "prompts").exists()  # Codex 0.169 has no custom prompts
    else:
        settings = json.loads((home / ".claude" / "settings.json").read_text())
        assert settings["permissions"] == {"allow": ["Bash(ls)"]}
        commands = [h["command"] for g in settings["hooks"]["PreToolUse"] for h in g["hooks"]]
        assert "guard" in commands and any(
            "codeswarm/hooks/__main__.py claude pre-tool-use" in c for c in commands
        )
        servers = json.loads((home / ".claude.json").read_text())["mcpServers"]
        assert set(servers) == {"theirs", "codeswarm"}
        command = (home / ".claude" / "commands" / "swarm.md").read_text()
        # its permission check passes in Claude Code (tests/claude runs it there)
        assert "\nallowed-tools: mcp__codeswarm__swarm_status, mcp__codeswarm__inbox\n" in command
    out = run(home, client, "--uninstall")
    assert out.returncode == 0, out.stderr
    assert snapshot(home) == before  # byte for byte, and nothing left behind


def test_dry_run_changes_nothing(home: Path) -> None:
    before = snapshot(home)
    out = run(home, "codex", "--dry-run")
    assert "(dry run) update" in out.stdout and snapshot(home) == before


def test_uninstall_after_the_person_edited_keeps_their_edit(home: Path) -> None:
    run(home, "codex")
    path = home / ".codex" / "hooks.json"
    doc = json.loads(path.read_text())
    doc["hooks"]["SessionEnd"].insert(0, {"hooks": [{"type": "command", "command": "added-later"}]})
    path.write_text(json.dumps(doc))
    out = run(home, "codex", "--uninstall")
    assert "strip" in out.stdout
    doc = json.loads(path.read_text())
    commands = [h["command"] for gs in doc["hooks"].values() for g in gs for h in g["hooks"]]
    assert sorted(commands) == ["added-later", "my-own-hook"]


def test_project_scope_and_bad_input(home: Path) -> None:
    repo = home / "repo"
    repo.mkdir()
    out = run(home, "claude", "--scope", "project", "--repo", str(repo))
    assert (
        out.returncode == 0
        and (repo / ".mcp.json").exists()
        and (repo / ".claude" / "settings.json").exists()
    )
    out = run(home, "vim")
    assert out.returncode == 2 and "codex' or 'claude'" in out.stderr
    (home / ".codex" / "hooks.json").write_text("{broken")
    out = run(home, "codex")
    assert (
        out.returncode == 2
        and "not valid JSON" in out.stderr
        and "nothing was changed" in out.stderr
    )
    assert (home / ".codex" / "hooks.json").read_text() == "{broken"


def test_a_users_own_hook_that_mentions_codeswarm_is_not_ours(home: Path) -> None:
    path = home / ".codex" / "hooks.json"
    mine = {
        "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "codeswarm-notify --done"}]}]}
    }
    path.write_text(json.dumps(mine))
    run(home, "codex")
    doc = json.loads(path.read_text())
    assert doc["hooks"]["Stop"][0]["hooks"][0]["command"] == "codeswarm-notify --done"
    assert len(doc["hooks"]["Stop"]) == 2
    doc["hooks"]["SessionStart"].append({"hooks": [{"type": "command", "command": "later"}]})
    path.write_text(json.dumps(doc))  # edited since install: uninstall strips only ours
    run(home, "codex", "--uninstall")
    doc = json.loads(path.read_text())
    assert doc["hooks"]["Stop"] == mine["hooks"]["Stop"]
    assert doc["hooks"]["SessionStart"] == [{"hooks": [{"type": "command", "command": "later"}]}]


def test_codex_install_goes_to_the_configured_codex_home(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[codex] home`` (the home agents are seeded from) wins over $CODEX_HOME, as for every
    other use of the person's Codex home."""
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)  # the config below is under $HOME
    monkeypatch.delenv("CODESWARM_CODEX_HOME", raising=False)
    mine = home / "elsewhere" / "codex"
    mine.mkdir(parents=True)
    (mine / "hooks.json").write_text(USER_HOOKS)
    os.chmod(mine / "hooks.json", 0o640)
    config = home / ".config" / "codeswarm" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f"[codex]\nhome = {json.dumps(str(mine))}\n")
    default_before = snapshot(home / ".codex")
    out = run(home, "codex")
    assert out.returncode == 0, out.stderr
    assert snapshot(home / ".codex") == default_before  # $CODEX_HOME untouched
    hooks = json.loads((mine / "hooks.json").read_text())
    assert hooks["hooks"]["Stop"][0]["hooks"][0]["command"] == "my-own-hook"
    assert (mine / "skills" / "swarm" / "SKILL.md").exists()
    assert (mine / "hooks.json").stat().st_mode & 0o777 == 0o640  # the person's file keeps its mode


def test_backups_are_as_private_as_the_files_they_save(home: Path) -> None:
    private = home / ".claude.json"
    private.chmod(0o600)
    out = run(home, "claude")
    assert out.returncode == 0, out.stderr
    backup = home / ".claude.json.codeswarm-orig"
    assert backup.read_bytes() == USER_CLAUDE_JSON.encode()
    assert backup.stat().st_mode & 0o777 == 0o600
