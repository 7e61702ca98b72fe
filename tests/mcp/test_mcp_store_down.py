"""A store that cannot be opened does not stop the MCP server from starting: a person's Codex
mounts it as ``required`` (a server that fails to start stops the whole session), so it
starts, lists its tools, and each call says in one line why the store is not there; once the
store can be opened, the same server works."""

from __future__ import annotations

import socket
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from swarmkit import PYTHON, python_env


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_store_is_said_per_call_not_at_start(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    url = f"postgresql://nobody@127.0.0.1:{closed_port()}/none?connect_timeout=2"
    params = StdioServerParameters(
        command=PYTHON,
        args=["-P", "-m", "codeswarm", "mcp"],
        env=python_env(CODESWARM_DB=url, CODESWARM_SCOPE=str(root), CODESWARM_AGENT_NAME="me"),
        cwd=str(root),
    )
    errlog_path = tmp_path / "server.err"
    with errlog_path.open("w") as errlog:
        async with stdio_client(params, errlog=errlog) as (r, w), ClientSession(r, w) as s:
            await s.initialize()
            assert "lease" in {t.name for t in (await s.list_tools()).tools}
            out = await s.call_tool("lease", {"path": "src/a.py"})
            assert out.isError
            (text,) = [c.text for c in out.content if c.type == "text"]
            assert text.startswith("error: ") and "\n" not in text.strip(), text
            assert "127.0.0.1" in text or "connect" in text.lower(), text
    said = errlog_path.read_text()
    assert "serving anyway" in said, said


async def test_a_store_that_opens_later_is_used(tmp_path: Path) -> None:
    """A path whose directory does not exist yet: refused at start (never created), then made."""
    root = tmp_path / "proj"
    root.mkdir()
    db = tmp_path / "later" / "coord.db"
    params = StdioServerParameters(
        command=PYTHON,
        args=["-P", "-m", "codeswarm", "mcp"],
        env=python_env(CODESWARM_DB=str(db), CODESWARM_SCOPE=str(root), CODESWARM_AGENT_NAME="me"),
        cwd=str(root),
    )
    with (tmp_path / "server.err").open("w") as errlog:
        async with stdio_client(params, errlog=errlog) as (r, w), ClientSession(r, w) as s:
            await s.initialize()
            first = await s.call_tool("lease", {"path": "src/a.py"})
            assert first.isError and not db.parent.exists()
            db.parent.mkdir()
            second = await s.call_tool("lease", {"path": "src/a.py"})
            assert not second.isError, second.content
            assert second.structuredContent is not None
