"""Shared fixtures: the real Codex CLI, and the rule that CI never skips for a missing part.

Under ``CODESWARM_REQUIRE_ALL=1`` (CI sets it) a test that would skip for a missing component
fails instead: a test skipped in CI is a test that does not exist.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from swarmkit import need

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.fixture
def codex_home(tmp_path: Path) -> Path:
    """A throwaway CODEX_HOME."""
    home = tmp_path / "codex-home"
    home.mkdir()
    return home


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
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
    import contextlib

    async with contextlib.AsyncExitStack() as stack:
        yield Rig(codex_binary, tmp_path, stack)


# -- local swarms (tests/swarmkit.py) ------------------------------------------------------------
@pytest.fixture
def swarm_factory(tmp_path: Path, codex_binary):  # type: ignore[no-untyped-def]
    from swarmkit import Swarm

    made: list[Swarm] = []
    env = {
        **os.environ,
        "CODESWARM_STATE_DIR": str(tmp_path / "state"),
        "CODESWARM_CODEX_BIN": str(codex_binary.path),
        "CODEX_HOME": str(tmp_path / "user-codex-home"),
    }

    def make(name: str) -> Swarm:
        workdir = tmp_path / f"{name}-repo"
        workdir.mkdir()
        s = Swarm(name, tmp_path / "state", env, workdir)
        made.append(s)
        return s

    yield make
    for s in made:
        if s.run_dir.exists():
            s.cli("down", s.name, "--grace", "5", check=False)
        survivors = s.processes()
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        assert not survivors, f"processes of swarm {s.name} survived down: {survivors}"


@pytest.fixture
def swarm(swarm_factory):  # type: ignore[no-untyped-def]
    return swarm_factory("t")
