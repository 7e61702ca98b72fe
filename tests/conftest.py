"""Shared fixtures: the real Codex CLI, Codex rigs, local swarms (and, from backends.py, the
coordination stores and the sshd), and the rule that CI never skips for a missing part.

Under ``CODESWARM_REQUIRE_ALL=1`` (CI sets it) a test that would skip for a missing component
fails instead: a test skipped in CI is a test that does not exist.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from swarmkit import Swarm, need, open_swarms

pytest_plugins = ["backends"]

ROOT = Path(__file__).resolve().parent.parent

# Shells the tests start read the machine's ~/.bashrc (ssh sessions, Slurm jobs, the agents' login
# shells): where that runs `pyenv rehash`, a shell killed while it held pyenv's lock (tests kill
# workers, jobs and connections on purpose) would make every later shell wait a minute for it.
os.environ.setdefault("PYENV_REHASH_TIMEOUT", "1")


@pytest.fixture(scope="session")
def codex_binary():  # type: ignore[no-untyped-def]
    """The pinned Codex CLI (a ``CodexBinary``), as the toolchain finds it from the repo."""
    from codeswarm.codex.toolchain import locate
    from codeswarm.core.config import load_config
    from codeswarm.core.errors import ToolchainError

    old = os.getcwd()
    os.chdir(ROOT)
    try:
        return locate(load_config(ROOT))
    except ToolchainError as exc:
        need(f"Codex CLI not available ({exc}); run scripts/setup")
    finally:
        os.chdir(old)


@pytest.fixture(scope="session")
def codex_bin(codex_binary) -> Path:  # type: ignore[no-untyped-def]
    """Path to the codex executable (the native binary when resolvable)."""
    return Path(codex_binary.executable)


@pytest.fixture(scope="session")
def claude_binary() -> Path:
    """The pinned Claude Code CLI (``codeswarm toolchain install --claude``; scripts/setup runs it)."""
    from codeswarm.codex.claude_toolchain import locate
    from codeswarm.core.errors import ToolchainError

    try:
        return locate().path
    except ToolchainError as exc:
        need(f"Claude Code CLI not available ({exc}); run scripts/setup")
        raise  # not reached: need() skips or fails


@pytest.fixture
def codex_home(tmp_path: Path) -> Path:
    """A throwaway CODEX_HOME."""
    home = tmp_path / "codex-home"
    home.mkdir()
    return home


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty directory to work in (``tmp_path/ws``)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


class Rig:
    """Start scripted models and real ``codex app-server`` processes; everything is closed at the
    end of the test."""

    def __init__(self, binary: object, tmp_path: Path, stack: object) -> None:
        self.binary = binary
        self.tmp_path = tmp_path
        self.stack = stack
        self.workspace = tmp_path / "ws"
        self.workspace.mkdir(exist_ok=True)
        self.home = tmp_path / "codex-home"

    async def model(self, script: dict, **kw: object):  # type: ignore[no-untyped-def,type-arg]
        from codeswarm.mockmodel import MockModel, Script

        mm = MockModel(Script.from_obj(script), log_path=self.tmp_path / "model.jsonl", **kw)
        return await self.stack.enter_async_context(mm)  # type: ignore[attr-defined]

    async def codex(self, mm, *, agent: str = "t_0", approval=None, home: Path | None = None):  # type: ignore[no-untyped-def]
        from codeswarm.codex import AppServer

        server = await AppServer.spawn(
            self.binary,  # type: ignore[arg-type]
            codex_home=home or self.home,
            cwd=self.workspace,
            config=mm.codex_config(agent=agent),
            approval=approval,
            stderr_log=self.tmp_path / "codex-stderr.log",
        )
        self.stack.push_async_callback(server.aclose)  # type: ignore[attr-defined]
        return server


@pytest.fixture
async def rig(codex_binary, tmp_path: Path):  # type: ignore[no-untyped-def]
    async with contextlib.AsyncExitStack() as stack:
        yield Rig(codex_binary, tmp_path, stack)


# -- local swarms (tests/swarmkit.py) ------------------------------------------------------------
@pytest.fixture
def swarm_factory(tmp_path: Path, codex_binary) -> Iterator[Callable[[str], Swarm]]:  # type: ignore[no-untyped-def]
    """``make(name)``: a local swarm of its own; the test fails if anything of it survives down."""
    with open_swarms(Swarm, tmp_path, codex_binary.path) as make:
        yield make


@pytest.fixture
def swarm(swarm_factory: Callable[[str], Swarm]) -> Swarm:
    return swarm_factory("t")
