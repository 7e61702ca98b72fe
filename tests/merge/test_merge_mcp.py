"""The MCP tool ``submit`` through the official SDK's client over stdio: offered only to an agent
of a worktree swarm (``CODESWARM_ISOLATION=worktree`` and ``CODESWARM_WORKTREE``), it commits the
agent's work and queues its branch; a refusal is one line."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from gitkit import GIT_ENV, Project, git
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from codeswarm.control.merge import journal
from swarmkit import PYTHON, python_env


@contextlib.asynccontextmanager
async def session(p: Project, agent: str, *, worktree: bool) -> AsyncIterator[ClientSession]:
    extra = {"CODESWARM_ISOLATION": "worktree", "CODESWARM_WORKTREE": str(p.tree(agent))}
    params = StdioServerParameters(
        command=PYTHON, args=["-m", "codeswarm.mcp"], cwd=str(p.tree(agent)),
        env=python_env(CODESWARM_DB=str(p.run.root.parent.parent / "coord.db"),
                       CODESWARM_SCOPE=str(p.root), CODESWARM_AGENT_ID=agent,
                       **GIT_ENV, **(extra if worktree else {})),
    )  # fmt: skip
    async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        yield s


def test_submit_tool(tmp_path: Path) -> None:
    p = Project(tmp_path, agents=2)
    agent = p.agents[0]

    async def go() -> None:
        async with session(p, agent, worktree=False) as s:
            assert "submit" not in {t.name for t in (await s.list_tools()).tools}
        async with session(p, agent, worktree=True) as s:
            tools = {t.name: t for t in (await s.list_tools()).tools}
            assert "summary" in tools["submit"].inputSchema["properties"]
            nothing = await s.call_tool("submit", {"summary": "nothing yet"})
            assert nothing.isError
            text = nothing.content[0].text  # type: ignore[union-attr]
            assert text.startswith("bad input: nothing to submit") and "\n" not in text
            assert journal.records(p.run) == []
            p.edit_line(agent, 6, "six", commit=False)
            done = await s.call_tool("submit", {"summary": "line six"})
            assert not done.isError, done.content
            out = done.structuredContent
            assert out is not None and out["position"] == 1 and out["committed"] is True
            assert git(p.tree(agent), "log", "-1", "--format=%s") == "line six"
            [rec] = journal.records(p.run)
            assert rec["id"] == out["queued"] and rec["agent"] == agent

    asyncio.run(asyncio.wait_for(go(), 120))


@pytest.fixture(autouse=True)
def _git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
