"""Fixtures for the mailbox tests: a private run directory and its layout (the throwaway sshd
for the ssh transport's run of the conformance suite is ``sshd`` in tests/backends.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeswarm.mailbox import Layout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "run").create()


@pytest.fixture
def outbox(layout: Layout) -> Path:
    return layout.outbox("t_0")
