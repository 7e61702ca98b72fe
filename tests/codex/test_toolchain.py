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
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the managed install's home
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
    # no half-installed staging directory; only the installers' lock
    assert [p.name for p in prefix.parent.iterdir()] == [f".codex-{CODEX_VERSION}.lock"]


FAKE_NPM = """#!/bin/sh
# npm install --prefix DIR ...: a wrapper that prints the version, slowly enough to overlap
echo run >> "$NPM_RUNS"
while [ "$1" != "--prefix" ]; do shift; done
mkdir -p "$2/node_modules/.bin"
sleep 0.3
printf '#!/bin/sh\\necho "codex-cli %s"\\n' "$CODEX_FAKE_VERSION" > "$2/node_modules/.bin/codex"
chmod +x "$2/node_modules/.bin/codex"
"""


def test_the_managed_install_is_per_person_and_installs_take_turns(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    from swarmkit import python_env

    assert toolchain.managed_prefix() == state / "cache" / "codeswarm" / "tools" / (
        f"codex-{CODEX_VERSION}"
    )
    npm = state / "bin" / "npm"
    npm.parent.mkdir(parents=True)
    npm.write_text(FAKE_NPM)
    npm.chmod(0o755)
    runs = state / "npm-runs"
    env = python_env(
        PATH=f"{state / 'bin'}:/usr/bin:/bin",
        XDG_CACHE_HOME=str(state / "cache"),
        NPM_RUNS=str(runs),
        CODEX_FAKE_VERSION=CODEX_VERSION,
    )
    code = "from codeswarm.codex.toolchain import install; print(install().version)"
    installers = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=60)[0].strip() for p in installers]
    assert outs == [CODEX_VERSION] * 3
    assert runs.read_text().splitlines() == ["run"]  # npm ran once; the others found its result


def test_native_binary_is_resolved_behind_the_npm_wrapper(codex_binary) -> None:  # type: ignore[no-untyped-def]
    # the real managed install: we run the native executable, not node
    assert codex_binary.version == CODEX_VERSION
    assert codex_binary.executable.name == "codex"
    assert os.access(codex_binary.executable, os.X_OK)
    assert codex_binary.executable.read_bytes()[:4] == b"\x7fELF"
