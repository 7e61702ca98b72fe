"""Finding, checking and installing the pinned Codex CLI."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from codeswarm.codex import toolchain
from codeswarm.codex.toolchain import describe, install, locate
from codeswarm.core.config import CODEX_VERSION, CodexConfig, Config
from codeswarm.core.errors import ToolchainError


def fake_codex(path: Path, version: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho 'codex-cli {version}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CODESWARM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    return tmp_path


def test_config_binary_wins(state: Path) -> None:
    explicit = fake_codex(state / "explicit" / "codex", CODEX_VERSION)
    fake_codex(state / "bin" / "codex", CODEX_VERSION)
    found = locate(Config(codex=CodexConfig(bin=str(explicit))))
    assert found.path == explicit and found.source == "config"


def test_managed_before_path(state: Path) -> None:
    managed = toolchain.managed_prefix() / "node_modules" / ".bin" / "codex"
    fake_codex(managed, CODEX_VERSION)
    fake_codex(state / "bin" / "codex", CODEX_VERSION)
    assert locate(Config()).source == "managed"


def test_path_last(state: Path) -> None:
    fake_codex(state / "bin" / "codex", CODEX_VERSION)
    found = locate(Config())
    assert found.source == "path" and found.version == CODEX_VERSION


def test_nothing_found_says_what_to_do(state: Path) -> None:
    with pytest.raises(ToolchainError, match="codeswarm toolchain install"):
        locate(Config())


def test_wrong_version_is_refused(state: Path) -> None:
    fake_codex(state / "bin" / "codex", "0.1.0")
    with pytest.raises(ToolchainError, match=f"0.1.0, codeswarm needs {CODEX_VERSION}"):
        locate(Config())
    assert locate(Config(), check_version=False).version == "0.1.0"


def test_missing_or_not_executable(state: Path) -> None:
    with pytest.raises(ToolchainError, match="does not exist"):
        describe(state / "nope", "config")
    plain = state / "plain"
    plain.write_text("x")
    with pytest.raises(ToolchainError, match="not executable"):
        describe(plain, "config")


def test_broken_binary(state: Path) -> None:
    bad = state / "bad"
    bad.write_text("#!/bin/sh\necho 'segfault' >&2\nexit 139\n")
    bad.chmod(0o755)
    with pytest.raises(ToolchainError, match="exit 139"):
        describe(bad, "config")


def test_install_without_npm(state: Path) -> None:
    with pytest.raises(ToolchainError, match="npm not found"):
        install()


def test_install_failure_leaves_nothing(state: Path) -> None:
    npm = state / "bin" / "npm"
    npm.parent.mkdir(parents=True)
    npm.write_text("#!/bin/sh\necho 'npm ERR! 404 Not Found' >&2\nexit 1\n")
    npm.chmod(0o755)
    with pytest.raises(ToolchainError, match="404 Not Found"):
        install()
    prefix = toolchain.managed_prefix()
    assert not prefix.exists()
    assert [p for p in prefix.parent.iterdir()] == []  # no half-installed staging directory


def test_native_binary_is_resolved_behind_the_npm_wrapper(codex_binary) -> None:  # type: ignore[no-untyped-def]
    # the real managed install: we run the native executable, not node
    assert codex_binary.version == CODEX_VERSION
    assert codex_binary.executable.name == "codex"
    assert os.access(codex_binary.executable, os.X_OK)
    assert codex_binary.executable.read_bytes()[:4] == b"\x7fELF"
