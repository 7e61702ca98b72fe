"""`up`'s model check (a short-lived real Codex: the settings start, the provider has its login)
is asked once per set of inputs, not per `up`: a pass is remembered, any change to what decides
it asks again, and a failure is never remembered. Codex is the real one, behind a wrapper that
counts how often an app-server is started for the check."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from codeswarm.cli.swarm.preflight import CHECKS_CACHE, check_key, check_model_access
from codeswarm.core.errors import CodeswarmError
from codeswarm.core.swarm import SwarmSpec

pytestmark = [pytest.mark.codex]


@pytest.fixture
def rig(tmp_path: Path, codex_bin: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A Codex wrapper that logs each app-server start, a person's Codex home with an API-key
    login, a cache of our own, and a model URL nothing answers (nothing leaves 127.0.0.1)."""
    log = tmp_path / "starts.log"
    wrapper = tmp_path / "bin" / "codex"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f'#!/bin/sh\ncase " $* " in *" app-server "*) echo "$CODEX_HOME" >> {log};; esac\n'
        f'exec {codex_bin} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    home = tmp_path / "person-codex"
    home.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CODEX_HOME", str(home))
    login = subprocess.run([str(codex_bin), "login", "--with-api-key"], input="sk-not-a-key",
                           text=True, capture_output=True, timeout=60)  # fmt: skip
    assert login.returncode == 0 and (home / "auth.json").exists(), login.stderr
    (tmp_path / "ws").mkdir()
    return {"log": log, "wrapper": wrapper, "home": home, "ws": tmp_path / "ws",
            "cache": tmp_path / "cache" / "codeswarm" / CHECKS_CACHE}  # fmt: skip


def spec_of(rig: dict[str, Path], **changes: object) -> SwarmSpec:
    with socket.socket() as s:  # a port that refuses: the check never asks the model anyway
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fields: dict[str, object] = {
        "name": "s", "size": 1, "cwd": str(rig["ws"]), "codex_bin": str(rig["wrapper"]),
        "model_provider": None, "user_codex_home": str(rig["home"]),
        "config_overrides": {"openai_base_url": json.dumps(f"http://127.0.0.1:{port}/v1"),
                             "features.plugins": "false"},
    }  # fmt: skip
    fields.update(changes)
    return SwarmSpec(**fields)  # type: ignore[arg-type]


def starts(rig: dict[str, Path]) -> int:
    """App-servers started for a check (not the one that makes the binary's template home, in
    the background: ``codex/toolchain.py``)."""
    if not rig["log"].exists():
        return 0
    return sum(1 for home in rig["log"].read_text().splitlines() if "/codex-homes/" not in home)


def test_a_passed_check_is_asked_once_and_again_when_what_decides_it_changes(
    rig: dict[str, Path],
) -> None:
    spec = spec_of(rig)
    check_model_access(spec)
    assert starts(rig) == 1
    assert list(json.loads(rig["cache"].read_text())) == [check_key(spec)]
    check_model_access(spec)
    check_model_access(spec)
    assert starts(rig) == 1  # remembered: no Codex started
    # other settings: asked again
    other = spec_of(rig, config_overrides={**spec.config_overrides, "model": '"gpt-5.4"'})
    assert check_key(other) != check_key(spec)
    check_model_access(other)
    assert starts(rig) == 2
    # the person logs out: asked again, refused, and the refusal is never remembered
    (rig["home"] / "auth.json").unlink()
    for n in (3, 4):
        with pytest.raises(CodeswarmError, match="no Codex login"):
            check_model_access(spec)
        assert starts(rig) == n
    # logged in again (a new file): asked again, passes, remembered
    login = subprocess.run([str(rig["wrapper"]), "login", "--with-api-key"], input="sk-other",
                           text=True, capture_output=True, timeout=60)  # fmt: skip
    assert login.returncode == 0, login.stderr
    check_model_access(spec)
    check_model_access(spec)
    assert starts(rig) == 5


def test_the_key_follows_every_input(rig: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    spec = spec_of(rig)
    key = check_key(spec)
    assert key == check_key(spec)  # stable
    config = rig["home"] / "config.toml"
    config.write_text('model_reasoning_effort = "low"\n')  # the person's config
    assert check_key(spec) != key
    key = check_key(spec)
    project = rig["ws"] / ".codex"
    project.mkdir()
    (project / "config.toml").write_text("\n")  # a project config Codex may read
    assert check_key(spec) != key
    key = check_key(spec)
    monkeypatch.setenv("CODEX_SOMETHING", "1")  # a variable Codex may read
    assert check_key(spec) != key
    key = check_key(spec)
    assert check_key(spec_of(rig, model_provider="openai")) != key
    assert check_key(spec_of(rig, codex_env={"RUST_LOG": "info"})) != key
    rig["wrapper"].write_text(rig["wrapper"].read_text() + "\n")  # the binary changed
    assert check_key(spec) != key
    assert check_key(spec_of(rig, codex_bin=str(rig["ws"] / "no-such-codex"))) is None


def test_a_broken_cache_is_only_a_cache(rig: dict[str, Path]) -> None:
    spec = spec_of(rig)
    rig["cache"].parent.mkdir(parents=True)
    old = json.dumps({check_key(spec): time.time() - 2 * 24 * 3600})  # passed two days ago
    for n, junk in enumerate(("{not json", "[1, 2]", json.dumps({check_key(spec): "x"}), old), 1):
        rig["cache"].write_text(junk)
        check_model_access(spec)  # asked: the cache says nothing it can use
        assert starts(rig) == n
        assert check_key(spec) in json.loads(rig["cache"].read_text())  # and rewritten
