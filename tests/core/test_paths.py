"""core.paths: state per project outside the project (XDG state), tools per person (XDG cache)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from codeswarm.core.errors import UsageError
from codeswarm.core.paths import (
    PROJECT_FILE,
    ensure_state_dir,
    known_projects,
    legacy_state_dir,
    project_key,
    project_root,
    state_dir,
    tools_dir,
)


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CODESWARM_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return tmp_path


def repo(path: Path, marker: str = ".git") -> Path:
    path.mkdir(parents=True)
    if marker == ".git":
        (path / marker).mkdir()
        (path / marker / "HEAD").write_text("ref: refs/heads/main\n")  # a repository
    else:
        (path / marker).write_text("")
    (path / "sub" / "deeper").mkdir(parents=True)
    return path


def test_the_default_state_is_per_project_in_the_xdg_state_directory(
    xdg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = repo(xdg / "work" / "my proj")
    state = state_dir(project / "sub" / "deeper")
    assert state.parent == xdg / "xdg-state" / "codeswarm" / "projects"
    name, _, digest = state.name.rpartition("-")
    assert name == "my_proj" and len(digest) == 12 and int(digest, 16) >= 0
    assert not state.is_relative_to(project)  # never where the agents' sandbox can write
    assert state_dir(project) == state  # every directory of the project: one state
    monkeypatch.chdir(project / "sub")
    assert state_dir() == state


def test_project_root_is_the_nearest_git_or_codeswarm_toml(xdg: Path) -> None:
    outer = repo(xdg / "outer")
    inner = repo(outer / "sub" / "inner", "codeswarm.toml")
    assert project_root(outer / "sub") == outer
    assert project_root(inner / "sub" / "deeper") == inner
    lone = xdg / "lone" / "dir"
    lone.mkdir(parents=True)
    assert project_root(lone) == lone  # no marker: the directory itself
    # codeswarm 0.1's in-project state directory is no marker
    (outer / "sub" / ".codeswarm").mkdir()
    assert project_root(outer / "sub") == outer


def test_two_checkouts_of_one_name_get_two_state_directories(xdg: Path) -> None:
    a, b = repo(xdg / "a" / "app"), repo(xdg / "b" / "app")
    assert state_dir(a) != state_dir(b)
    assert state_dir(a).name.startswith("app-") and state_dir(b).name.startswith("app-")
    link = xdg / "link"
    link.symlink_to(a)
    assert state_dir(link) == state_dir(a)  # keyed by the real path
    assert project_key(Path("/")).startswith("root-")
    assert project_key(xdg / ".hidden").startswith("hidden-")


def test_codeswarm_state_dir_overrides(xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = repo(xdg / "p")
    monkeypatch.setenv("CODESWARM_STATE_DIR", str(xdg / "shared" / "state"))
    assert state_dir(project) == xdg / "shared" / "state"
    assert ensure_state_dir(project) == xdg / "shared" / "state"
    assert not (xdg / "shared" / "state" / PROJECT_FILE).exists()  # may serve several projects


def test_a_relative_xdg_variable_is_ignored(xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "relative/dir")
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.setenv("HOME", str(xdg / "home"))
    project = repo(xdg / "p")
    assert state_dir(project).parent == xdg / "home" / ".local" / "state" / "codeswarm" / "projects"
    assert tools_dir() == xdg / "home" / ".cache" / "codeswarm" / "tools"


def test_ensure_creates_private_directories_and_records_the_project(xdg: Path) -> None:
    project = repo(xdg / "p")
    state = ensure_state_dir(project / "sub")
    for directory in (state, state.parent, state.parent.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    record = state / PROJECT_FILE
    assert record.read_text() == f"{project.resolve()}\n"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    mtime = record.stat().st_mtime_ns
    assert ensure_state_dir(project) == state and record.stat().st_mtime_ns == mtime  # unchanged
    assert [p.name for p in state.iterdir()] == [PROJECT_FILE]  # no temp file left
    other = repo(xdg / "q")
    ensure_state_dir(other)
    assert known_projects() == {state: project.resolve(), state_dir(other): other.resolve()}


def test_ensure_says_in_one_line_when_it_cannot(xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = xdg / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    project = repo(xdg / "p")
    with pytest.raises(
        UsageError, match=r"cannot create the state directory .*CODESWARM_STATE_DIR"
    ):
        ensure_state_dir(project)


def test_tools_are_per_person_in_the_xdg_cache(xdg: Path) -> None:
    assert tools_dir() == xdg / "xdg-cache" / "codeswarm" / "tools"


def test_state_left_in_the_project_by_codeswarm_01_is_found(xdg: Path) -> None:
    project = repo(xdg / "p")
    assert legacy_state_dir(project) is None
    (project / ".codeswarm" / "bootstrap").mkdir(parents=True)  # scripts/setup's, not state
    assert legacy_state_dir(project) is None
    (project / ".codeswarm" / "runs").mkdir()
    assert legacy_state_dir(project / "sub") == project / ".codeswarm"


def test_an_empty_dot_git_directory_is_no_project(tmp_path: Path) -> None:
    """Codex's sandbox leaves an empty ``.git`` mount point in ``/tmp`` while a command runs: a
    project under it keeps its own root."""
    (tmp_path / ".git").mkdir()  # empty: a mount point, not a repository
    project = tmp_path / "work" / "repo"
    project.mkdir(parents=True)
    assert project_root(project) == project.resolve()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    assert project_root(project) == tmp_path.resolve()
    (tmp_path / ".git" / "HEAD").unlink()
    (tmp_path / ".git").rmdir()
    (tmp_path / ".git").write_text("gitdir: /elsewhere/.git/worktrees/x\n")  # a worktree's
    assert project_root(project) == tmp_path.resolve()
