"""Configuration layers: project file, user file, environment; later wins; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeswarm.core.config import load_config
from codeswarm.core.errors import ConfigError
from codeswarm.core.paths import project_root, state_dir


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CODESWARM_STATE_DIR", raising=False)
    for var in ("CODESWARM_CODEX_BIN", "CODESWARM_MODEL", "CODESWARM_SANDBOX"):
        monkeypatch.delenv(var, raising=False)
    proj = tmp_path / "proj"
    (proj / "sub" / "deeper").mkdir(parents=True)
    return proj


def test_defaults(project: Path) -> None:
    cfg = load_config(project, env={})
    assert cfg.codex.model == "gpt-5.5" and cfg.codex.sandbox == "workspace-write"


def test_layers(project: Path, tmp_path: Path) -> None:
    user = tmp_path / "xdg" / "codeswarm" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("[codex]\nmodel = 'from-user'\nsandbox = 'read-only'\n")
    (project / "codeswarm.toml").write_text("[codex]\nmodel = 'from-project'\n")
    cfg = load_config(project / "sub" / "deeper", env={})
    assert cfg.codex.model == "from-project" and cfg.codex.sandbox == "read-only"
    cfg = load_config(project, env={"CODESWARM_MODEL": "from-env"})
    assert cfg.codex.model == "from-env"


def test_errors_name_the_source(project: Path) -> None:
    (project / "codeswarm.toml").write_text("[codex]\nsandbox = 'nope'\n")
    with pytest.raises(ConfigError, match=r"codeswarm\.toml.*sandbox"):
        load_config(project, env={})
    (project / "codeswarm.toml").write_text("[codex]\nunknown_key = 1\n")
    with pytest.raises(ConfigError, match="unknown_key"):
        load_config(project, env={})
    (project / "codeswarm.toml").unlink()
    with pytest.raises(ConfigError, match="CODESWARM_"):
        load_config(project, env={"CODESWARM_APPROVAL_POLICY": "sometimes"})


def test_project_root_and_state_dir(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / ".git").mkdir()
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # a repository
    assert project_root(project / "sub" / "deeper") == project
    assert state_dir(project / "sub") == state_dir(project)
    assert not state_dir(project).is_relative_to(project)  # tests/core/test_paths.py
    monkeypatch.setenv("CODESWARM_STATE_DIR", str(project / "elsewhere"))
    assert state_dir(project) == project / "elsewhere"
