"""Installing the pinned Codex on first need (``cli/toolchain_install.py``), with a fake npm:
when it happens, when it is turned off, and what a person sees."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from codeswarm.cli.toolchain_install import locate_or_install
from codeswarm.codex import toolchain
from codeswarm.core.config import CODEX_VERSION, CodexConfig, Config
from codeswarm.core.errors import ToolchainError, ToolchainMissingError, UsageError

FAKE_NPM = """#!/bin/sh
# npm install --prefix DIR ...: writes a codex that prints the pinned version
echo run >> "$NPM_RUNS"
while [ "$1" != "--prefix" ]; do shift; done
{mkdir} -p "$2/node_modules/.bin"
printf '#!/bin/sh\\necho "codex-cli %s"\\n' "$CODEX_FAKE_VERSION" > "$2/node_modules/.bin/codex"
{chmod} +x "$2/node_modules/.bin/codex"
"""


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No Codex anywhere; a fake npm on PATH that counts its runs."""
    tools = {name: shutil.which(name) for name in ("mkdir", "chmod")}  # PATH will have no /bin
    for var in ("CODESWARM_CODEX_BIN", "CODESWARM_AUTO_INSTALL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("NPM_RUNS", str(tmp_path / "npm-runs"))
    monkeypatch.setenv("CODEX_FAKE_VERSION", CODEX_VERSION)
    monkeypatch.chdir(tmp_path)
    _script(tmp_path / "bin" / "npm", FAKE_NPM.format(**tools))
    return tmp_path


def _npm_runs(user: Path) -> int:
    runs = user / "npm-runs"
    return len(runs.read_text().splitlines()) if runs.exists() else 0


def test_missing_codex_is_installed_once_on_first_need(
    user: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = locate_or_install()
    assert found.source == "managed" and found.version == CODEX_VERSION
    assert found.path == toolchain.managed_prefix() / "node_modules" / ".bin" / "codex"
    err = capsys.readouterr().err
    assert err.startswith("no Codex CLI found: installing @openai/codex@")
    assert "CODESWARM_AUTO_INSTALL=0" in err and "installed codex" in err
    assert locate_or_install().path == found.path
    assert _npm_runs(user) == 1  # the second call found it


def test_a_wrong_version_on_path_gets_the_pinned_one(user: Path) -> None:
    _script(user / "bin" / "codex", "#!/bin/sh\necho 'codex-cli 0.1.0'\n")
    assert locate_or_install().source == "managed"
    assert _npm_runs(user) == 1


def test_a_broken_configured_codex_is_not_papered_over(user: Path) -> None:
    bad = _script(user / "old-codex", "#!/bin/sh\necho 'codex-cli 0.1.0'\n")
    with pytest.raises(ToolchainError, match=r"is version 0\.1\.0"):
        locate_or_install(Config(codex=CodexConfig(bin=str(bad))))
    assert _npm_runs(user) == 0


@pytest.mark.parametrize("how", ["env", "config", "user config file"])
def test_turned_off_it_says_how_in_one_line(
    how: str, user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = None
    if how == "env":
        monkeypatch.setenv("CODESWARM_AUTO_INSTALL", "off")
    elif how == "config":
        config = Config(codex=CodexConfig(auto_install=False))
    else:
        (user / "config" / "codeswarm").mkdir(parents=True)
        (user / "config" / "codeswarm" / "config.toml").write_text(
            "[codex]\nauto_install = false\n"
        )
    with pytest.raises(ToolchainMissingError) as caught:
        locate_or_install(config)
    message = str(caught.value)
    assert "\n" not in message and "codeswarm toolchain install" in message
    assert "CODESWARM_AUTO_INSTALL=0" in message
    assert _npm_runs(user) == 0 and not toolchain.managed_prefix().exists()


def test_the_variable_wins_over_the_config(user: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESWARM_AUTO_INSTALL", "1")
    locate_or_install(Config(codex=CodexConfig(auto_install=False)))
    assert _npm_runs(user) == 1


def test_a_bad_switch_is_bad_input(user: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESWARM_AUTO_INSTALL", "maybe")
    with pytest.raises(UsageError, match="CODESWARM_AUTO_INSTALL='maybe'"):
        locate_or_install()
    assert _npm_runs(user) == 0
