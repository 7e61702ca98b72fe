"""A fleet agent's Codex does not sync the plugin marketplace into its own home at every start,
and starts on databases copied from the binary's template home (tests/codex/test_home_template.py).

Codex 0.169's plugins feature (on by default) runs ``git ls-remote`` of github.com/openai/plugins
(a clone when it is reachable) and leaves ``.tmp/plugins.sync.lock`` in ``CODEX_HOME`` before it
answers ``initialize``: in every agent, at every start (≈ 30 % of Codex's CPU until
``thread/start``, docs/benchmarks.md). Off unless the person chose ``features.plugins``.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from codeswarm.codex.toolchain import CodexBinary, build_home_template
from codeswarm.worker.home import plugin_overrides
from swarmkit import Swarm


def test_plugins_are_off_unless_the_person_chose(tmp_path: Path) -> None:
    off = {"features.plugins": False}
    assert plugin_overrides(tmp_path, {}) == off
    assert plugin_overrides(tmp_path, {"features.other": "true"}) == off
    # their `up --config`, either spelling, stands as they wrote it
    assert plugin_overrides(tmp_path, {"features.plugins": "true"}) == {}
    assert plugin_overrides(tmp_path, {"features": "{plugins = false}"}) == {}
    # their config.toml (the agent's, seeded from theirs)
    (tmp_path / "config.toml").write_text("[features]\nother = true\n")
    assert plugin_overrides(tmp_path, {}) == off
    (tmp_path / "config.toml").write_text("[features]\nplugins = true\n")
    assert plugin_overrides(tmp_path, {}) == {}


@pytest.mark.codex
@pytest.mark.slow
def test_an_agent_on_a_real_provider_syncs_no_plugins_and_starts_seeded(
    swarm: Swarm, codex_binary: CodexBinary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    swarm.env["XDG_CACHE_HOME"] = str(cache)
    template = build_home_template(codex_binary)
    assert template is not None
    with closing(sqlite3.connect(template / "state_5.sqlite")) as db, db:  # the test's own
        db.execute("CREATE TABLE seeded_by_test (x)")
    # a provider of the person's own (no login needed); no turn runs, so nothing listens there
    table = (
        '{name="x",base_url="http://127.0.0.1:9/v1",wire_api="responses",'
        "supports_websockets=false,request_max_retries=0,stream_max_retries=0}"
    )
    swarm.cli("up", "-n", "1", "--name", swarm.name, "--cwd", str(swarm.workdir), "--no-coord",
              "--model-provider", "x", "-c", f"model_providers.x={table}", "--json")  # fmt: skip
    home = swarm.run_dir / "agents" / swarm.agent(0) / "codex-home"
    assert (home / "installation_id").is_file()  # Codex started in this home
    assert not (home / ".tmp" / "plugins.sync.lock").exists()
    with closing(sqlite3.connect(f"file:{home / 'state_5.sqlite'}?mode=ro", uri=True)) as db:
        seeded = db.execute("SELECT name FROM sqlite_master WHERE name = 'seeded_by_test'")
        assert seeded.fetchall()  # the worker seeded the home from the template
