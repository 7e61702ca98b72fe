"""Fixtures for the mailbox tests: a private run directory and its layout; a throwaway sshd for
the ssh transport's run of the conformance suite."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeswarm.mailbox import Layout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "run").create()


@pytest.fixture
def outbox(layout: Layout) -> Path:
    return layout.outbox("t_0")


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real sshd on 127.0.0.1 with throwaway keys (tests/sshbox/sshd_local.py)."""
    tests = Path(__file__).resolve().parent.parent
    local = _load("_cs_sshd_local", tests / "sshbox" / "sshd_local.py")
    try:
        server = local.Sshd.start(tmp_path_factory.mktemp("sshd"))
    except (local.Unavailable, OSError) as exc:
        _load("_cs_root_conftest", tests / "conftest.py").need(f"sshd unavailable: {exc}")
    yield server
    server.stop()
