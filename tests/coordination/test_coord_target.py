"""Which database and scope a command uses, and how the SQLite file is created."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from codeswarm.coordination import open_store, resolve_root, resolve_url
from codeswarm.core.errors import CoordInputError
from codeswarm.core.paths import state_dir


def test_url_order_argument_env_config_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "proj"
    (project / ".git").mkdir(parents=True)
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # a repository
    monkeypatch.chdir(project)
    monkeypatch.delenv("CODESWARM_DB", raising=False)
    monkeypatch.delenv("CODESWARM_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    assert resolve_url() == str(state_dir(project) / "coord.db")
    assert (state_dir(project) / "project").read_text() == f"{project}\n"  # created, recorded
    (project / "codeswarm.toml").write_text('[coord]\ndb = "sqlite:///from/config.db"\n')
    assert resolve_url() == "sqlite:///from/config.db"
    monkeypatch.setenv("CODESWARM_DB", "postgresql://x@h/db")
    assert resolve_url() == "postgresql://x@h/db"
    assert resolve_url("sqlite:///explicit.db") == "sqlite:///explicit.db"
    (project / "codeswarm.toml").write_text("[coord]\ndb = 5\n")
    monkeypatch.delenv("CODESWARM_DB")
    with pytest.raises(CoordInputError, match="must be a string"):
        resolve_url()


def test_root_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "proj"
    (project / ".git").mkdir(parents=True)
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # a repository
    (project / "sub").mkdir()
    monkeypatch.chdir(project / "sub")
    monkeypatch.delenv("CODESWARM_SCOPE", raising=False)
    assert resolve_root() == str(project)
    monkeypatch.setenv("CODESWARM_SCOPE", str(tmp_path))
    assert resolve_root() == str(tmp_path)
    assert resolve_root(str(project)) == str(project)


def test_sqlite_file_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODESWARM_DB", raising=False)
    monkeypatch.setenv("CODESWARM_STATE_DIR", str(tmp_path / "state"))
    path = Path(resolve_url())  # the default: its directory is codeswarm's own, created 0700
    with open_store(str(path)) as store:
        assert store.dialect == "sqlite"
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_url_forms(tmp_path: Path) -> None:
    with open_store(f"sqlite://{tmp_path}/a.db?journal=delete&synchronous=full") as store:
        assert store.url.endswith("a.db?journal=delete")
    with open_store("sqlite::memory:") as store:
        assert store.schema_version() > 0
    for bad, words in [
        ("mysql://x", "unsupported database URL"),
        (f"sqlite://{tmp_path}/b.db?frob=1", "unknown parameter"),
        (f"sqlite://{tmp_path}/b.db?journal=wal2", "unknown SQLite journal mode"),
        ("postgresql://u@h/db?schema=Bad-Name", "invalid schema name"),
        ("sqlite://", "no database path"),
    ]:
        with pytest.raises(CoordInputError, match=words):
            open_store(bad)
