"""The Slurm suite: a real three-node cluster on this machine (started for the session when it is
not running, and shut down again at the end if this session started it), and swarms launched
through ``codeswarm up --backend slurm`` with the real Codex CLI against the scripted model.

Every swarm gets its own state directory; at teardown it is brought down and the test fails if
its job or any of its processes survived.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import slurm_cluster

from swarmkit import SlurmSwarm, need, open_swarms


@pytest.fixture(scope="session")
def slurm() -> Iterator[None]:
    """A running three-node cluster (node1 … node3, partition ``debug``)."""
    try:
        started = slurm_cluster.start()
    except (slurm_cluster.Unavailable, OSError, subprocess.SubprocessError) as exc:
        need(f"Slurm unavailable: {exc}")
        raise AssertionError("unreachable") from exc
    try:
        yield
    finally:
        slurm_cluster.stop(started)


@pytest.fixture
def slurm_swarm(
    slurm: None,
    tmp_path: Path,
    codex_binary,  # type: ignore[no-untyped-def]
) -> Iterator[Callable[[str], SlurmSwarm]]:
    """``make(name)``: a swarm of its own on the cluster; the test fails if its job or any of its
    processes survives down."""
    with open_swarms(SlurmSwarm, tmp_path, codex_binary.path) as make:
        yield make
