"""core.layers.user_codex_home: the one answer to "which Codex home is the person's" (agents are
seeded from it, exec uses it, install writes hooks into it, doctor checks it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeswarm.core.config import load_config
from codeswarm.core.layers import user_codex_home


@pytest.fixture
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for var in ("CODEX_HOME", "CODESWARM_CODEX_HOME"):
        monkeypatch.delenv(var, raising=False)
    project = tmp_path / "project"
    project.mkdir()
    (project / ".git").mkdir()
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # a repository
    monkeypatch.chdir(project)
    return tmp_path


def test_default_then_codex_home(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert user_codex_home() == clean / "home" / ".codex"
    monkeypatch.setenv("CODEX_HOME", "~/my-codex")
    assert user_codex_home() == clean / "home" / "my-codex"


def test_configuration_wins_over_codex_home(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEX_HOME", str(clean / "from-env"))
    (clean / "project" / "codeswarm.toml").write_text("[codex]\nhome = '~/configured'\n")
    assert user_codex_home() == clean / "home" / "configured"
    assert user_codex_home(load_config()) == clean / "home" / "configured"
    monkeypatch.setenv("CODESWARM_CODEX_HOME", str(clean / "codeswarm-env"))
    assert user_codex_home() == clean / "codeswarm-env"


def test_a_validated_config_is_used_as_given(clean: Path) -> None:
    cfg = load_config(env={})
    assert user_codex_home(cfg) == clean / "home" / ".codex"
    cfg.codex.home = str(clean / "given")
    assert user_codex_home(cfg) == clean / "given"
