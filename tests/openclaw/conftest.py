"""Fixtures for the OpenClaw tests: the real OpenClaw (Node 24 and the pinned npm package,
cached between runs)."""

from __future__ import annotations

import pytest
from openclaw_local import OpenClaw, Unavailable, provide

from swarmkit import need


@pytest.fixture(scope="session")
def openclaw() -> OpenClaw:
    """OpenClaw, installed into the test-tools cache on first use (about 40 s and 850 MB cold);
    skips (fails under CODESWARM_REQUIRE_ALL=1) when it cannot be had."""
    try:
        return provide()
    except Unavailable as exc:
        need(f"OpenClaw not available: {exc}")
        raise  # not reached: need() skips or fails
