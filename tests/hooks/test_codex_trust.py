"""`codeswarm install codex` trusts its hooks the way Codex itself does (so `codex exec` runs
them, not only the TUI): every hook it installs is listed by the real Codex's `hooks/list` as
trusted, at the hash we computed, for user and project scope; uninstall takes the trust out."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from codeswarm.hooks.install import codex_trust

OWN_HOOKS = {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "my-own-hook"}]}]}}


def install(tmp_path: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODESWARM_", "XDG_CONFIG"))}
    env.update(HOME=str(tmp_path), CODEX_HOME=str(home))
    out = subprocess.run([sys.executable, "-m", "codeswarm", "install", "codex", *args],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out


def hooks_of(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [h for entry in listed for h in entry.get("hooks", [])]


@pytest.mark.codex
@pytest.mark.parametrize("scope", ["user", "project", "linked"])
async def test_every_installed_hook_is_trusted_at_codexs_own_hash(rig: Any, scope: str) -> None:
    """``linked``: the user scope in a Codex home reached through a symlink (Codex names its
    hooks by the real path)."""
    home, repo = rig.home, rig.workspace
    if scope == "linked":
        (rig.tmp_path / "real-home").mkdir()
        home.symlink_to(rig.tmp_path / "real-home")
    home.mkdir(exist_ok=True)
    (repo / ".git").mkdir()
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # a repository
    where = repo / ".codex" if scope == "project" else home
    where.mkdir(exist_ok=True)
    (where / "hooks.json").write_text(json.dumps(OWN_HOOKS))  # ours come after it: index 1
    args = ["--scope", "project", "--repo", str(repo)] if scope == "project" else []
    if scope == "project":  # Codex reads a project's .codex only once the person trusts it
        (home / "config.toml").write_text(f'[projects."{repo}"]\ntrust_level = "trusted"\n')
    out = install(rig.tmp_path, home, *args)
    if scope == "project":
        assert "note:" not in out.stdout  # the project is trusted already
    expected = dict(
        codex_trust(where / "hooks.json", json.loads((where / "hooks.json").read_text()))
    )
    mm = await rig.model({"agents": {"*": ["hi"]}})
    codex = await rig.codex(mm)
    listed = hooks_of(await codex.hooks_list([repo]))
    ours = {h["key"]: h for h in listed if "codeswarm/hooks/__main__.py" in h["command"]}
    assert len(ours) == 5 and set(ours) <= set(expected), (sorted(ours), sorted(expected))
    for key, hook in ours.items():
        assert hook["currentHash"] == expected[key], key
        assert hook["trustStatus"] == "trusted", key
    assert any(k.endswith(":stop:1:0") for k in ours)
    if scope == "linked":
        assert all(k.startswith(str(rig.tmp_path / "real-home")) for k in ours)
    own = [h for h in listed if h["command"] == "my-own-hook"]
    assert own and own[0]["trustStatus"] != "trusted"  # the person's own hook: theirs to trust
    session_end = next(h for h in ours.values() if h["eventName"] == "sessionEnd")
    assert session_end["timeoutSec"] == 3  # within Codex's limit: no clamp, no error item

    install(rig.tmp_path, home, *args, "--uninstall")
    text = (home / "config.toml").read_text() if (home / "config.toml").exists() else ""
    assert "hooks" not in tomllib.loads(text)
    codex = await rig.codex(mm)
    assert not [h for h in hooks_of(await codex.hooks_list([repo])) if "codeswarm" in h["command"]]


def test_a_stale_trust_the_tui_wrote_is_replaced_not_duplicated(tmp_path: Path) -> None:
    home = tmp_path / ".codex"
    home.mkdir()
    install(tmp_path, home)
    doc = json.loads((home / "hooks.json").read_text())
    key = next(k for k, _ in codex_trust(home / "hooks.json", doc) if ":stop:" in k)
    install(tmp_path, home, "--uninstall")
    # the TUI trusted an older codeswarm hook: its table sits outside codeswarm's block
    mine = f'model = "o3"\n\n[hooks.state."{key}"]\ntrusted_hash = "sha256:old"\n'
    (home / "config.toml").write_text(mine)
    install(tmp_path, home)
    config = tomllib.loads((home / "config.toml").read_text())  # parses: no key twice
    assert config["model"] == "o3"
    assert (
        config["hooks"]["state"][key]["trusted_hash"]
        == dict(codex_trust(home / "hooks.json", doc))[key]
    )
    assert config["mcp_servers"]["codeswarm"]["required"] is True


def test_a_project_install_trusts_in_the_persons_config_and_says_when_codex_will_not_read_it(
    tmp_path: Path,
) -> None:
    home, repo = tmp_path / ".codex", tmp_path / "repo"
    home.mkdir()
    repo.mkdir()
    (home / "config.toml").write_text('model = "o3"\n')
    install(tmp_path, home)  # the user scope too: both blocks live in one file
    out = install(tmp_path, home, "--scope", "project", "--repo", str(repo))
    assert "trust_level" in out.stdout  # the project is not trusted by Codex yet
    config = tomllib.loads((home / "config.toml").read_text())
    keys = set(config["hooks"]["state"])
    assert any(k.startswith(f"{repo}/.codex/hooks.json:") for k in keys)
    assert any(k.startswith(f"{home}/hooks.json:") for k in keys)
    assert "hooks" not in tomllib.loads((repo / ".codex" / "config.toml").read_text())
    install(tmp_path, home, "--scope", "project", "--repo", str(repo), "--uninstall")
    keys = set(tomllib.loads((home / "config.toml").read_text())["hooks"]["state"])
    assert keys and all(k.startswith(f"{home}/hooks.json:") for k in keys)  # user scope kept
    install(tmp_path, home, "--uninstall")
    assert (home / "config.toml").read_text() == 'model = "o3"\n'


def test_an_earlier_installs_prompt_is_taken_out_and_the_skill_goes_with_uninstall(
    tmp_path: Path,
) -> None:
    home = tmp_path / ".codex"
    (home / "prompts").mkdir(parents=True)
    old = b"Show the codeswarm status compactly\n"  # as an earlier install left it
    (home / "prompts" / "swarm.md").write_bytes(old)
    (home / "prompts" / "swarm.md.codeswarm-sha256").write_text(hashlib.sha256(old).hexdigest())
    (home / "prompts" / "swarm.md.codeswarm-orig").write_bytes(
        b"codeswarm: this file did not exist before install\n"
    )
    out = install(tmp_path, home)
    assert "prompts/swarm.md" in out.stdout
    assert not (home / "prompts").exists()
    assert (home / "skills" / "swarm" / "SKILL.md").exists()
    install(tmp_path, home, "--uninstall")
    assert not (home / "skills").exists()
