"""Fixtures of the ssh transport tests: transports to the real sshd on 127.0.0.1 (``sshd`` in
tests/backends.py: throwaway keys, started once per session) that are always closed."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import sshd_local
from codeswarm.mailbox.ssh import SshTransport


@pytest.fixture
async def ssh_factory(
    sshd: sshd_local.Sshd, tmp_path: Path
) -> AsyncIterator[Callable[..., SshTransport]]:
    """``make(run_dir=tmp_path/"run", **options)``: an SshTransport to this host's sshd, running
    the remote end with this interpreter; closed after the test."""
    made: list[SshTransport] = []

    def make(run_dir: Path | None = None, **options: Any) -> SshTransport:
        kw: dict[str, Any] = {"python": sys.executable, "poll_interval": 0.01, **sshd.options()}
        kw.update(options)
        t = SshTransport(sshd.url(run_dir or tmp_path / "run"), **kw)
        made.append(t)
        return t

    yield make
    for t in made:
        await t.aclose()
