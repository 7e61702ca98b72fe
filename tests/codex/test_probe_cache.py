"""``codex --version`` is asked once per toolchain install, not per ``up`` (nor per worker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeswarm.codex.toolchain import VERSION_CACHE, describe
from codeswarm.core.errors import ToolchainError


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "codeswarm" / VERSION_CACHE


def counting_codex(path: Path, version: str, calls: Path) -> Path:
    """A codex that prints ``version`` and records each time it is asked."""
    path.write_text(f"#!/bin/sh\necho x >> {calls}\necho 'codex-cli {version}'\n")
    path.chmod(0o755)
    return path


def asked(calls: Path) -> int:
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def test_asked_once_per_binary(tmp_path: Path, cache: Path) -> None:
    calls = tmp_path / "calls"
    codex = counting_codex(tmp_path / "codex", "0.169.0", calls)
    assert describe(codex, "config").version == "0.169.0"
    assert describe(codex, "config").version == "0.169.0"
    link = tmp_path / "link"
    link.symlink_to(codex)  # the same binary by another path: the same entry
    assert describe(link, "config").version == "0.169.0"
    assert asked(calls) == 1
    assert cache.exists() and oct(cache.stat().st_mode & 0o777) == "0o600"


def test_a_reinstalled_binary_is_asked_again(tmp_path: Path, cache: Path) -> None:
    calls = tmp_path / "calls"
    codex = counting_codex(tmp_path / "codex", "0.169.0", calls)
    describe(codex, "config")
    counting_codex(codex, "0.170.10", calls)  # rewritten in place: another size and mtime
    assert describe(codex, "config").version == "0.170.10"
    assert asked(calls) == 2


def test_a_bad_cache_is_ignored_and_rewritten(tmp_path: Path, cache: Path) -> None:
    calls = tmp_path / "calls"
    codex = counting_codex(tmp_path / "codex", "0.169.0", calls)
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    assert describe(codex, "config").version == "0.169.0"
    cache.write_text(json.dumps({str(codex.resolve()): {"key": "stale", "version": "9.9.9"}}))
    assert describe(codex, "config").version == "0.169.0"
    assert asked(calls) == 2
    assert describe(codex, "config").version == "0.169.0"
    assert asked(calls) == 2


def test_a_failed_probe_is_not_cached(tmp_path: Path, cache: Path) -> None:
    bad = tmp_path / "codex"
    bad.write_text("#!/bin/sh\nexit 3\n")
    bad.chmod(0o755)
    for _ in range(2):
        with pytest.raises(ToolchainError, match="exit 3"):
            describe(bad, "config")
    assert not cache.exists()
