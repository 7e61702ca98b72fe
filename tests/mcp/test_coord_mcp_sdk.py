"""The MCP server through the official SDK's client over stdio (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from swarmkit import PYTHON, python_env

READ_ONLY = {"swarm_status", "leases", "tasks", "inbox", "kv_get"}
WRITES = {"lease", "release", "task_add", "task_claim", "task_update", "send", "ack", "kv_set"}


@contextlib.asynccontextmanager
async def session(db_url: str, root: Path, agent: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "codeswarm.mcp"],
        env=python_env(CODESWARM_DB=db_url, CODESWARM_SCOPE=str(root), CODESWARM_AGENT_ID=agent),
        cwd=str(root),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        yield s


async def call(s: ClientSession, tool: str, **args: Any) -> tuple[bool, Any]:
    result = await s.call_tool(tool, args)
    if result.isError:
        return True, result.content[0].text  # type: ignore[union-attr]
    assert result.structuredContent is not None
    assert json.loads(result.content[0].text) == result.structuredContent  # type: ignore[union-attr]
    return False, result.structuredContent


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
async def test_tools_over_stdio(db_url: str, root: Path) -> None:
    async with session(db_url, root, "alice") as a, session(db_url, root, "bob") as b:
        listed = {t.name: t for t in (await a.list_tools()).tools}
        assert set(listed) == READ_ONLY | WRITES
        for name in READ_ONLY:
            assert listed[name].annotations.readOnlyHint is True  # type: ignore[union-attr]
        for name in WRITES:
            assert listed[name].annotations.readOnlyHint is False  # type: ignore[union-attr]

        _, status = await call(a, "swarm_status")
        assert status["me"] == "alice#1" and status["unread_messages"] == 0
        _, held = await call(a, "lease", path="src/app.py", note="refactor")
        assert (held["path"], held["mode"], held["holder"]) == (
            "src/app.py",
            "exclusive",
            "alice#1",
        )
        error, text = await call(b, "lease", path="src/")
        assert error and text.startswith("conflict: src/")  # the kind first, as documented
        assert "alice#1" in text and "refactor" in text

        _, task = await call(a, "task_add", title="fix parser", files=["src/app.py"], priority=3)
        _, claimed = await call(b, "task_claim")
        assert claimed["task"]["id"] == task["id"] and claimed["task"]["assignee"] == "bob#1"
        error, text = await call(a, "task_claim", id=task["id"])
        assert error and "conflict:" in text
        _, started = await call(b, "task_update", id=task["id"], status="in_progress", note="on it")
        assert started["status"] == "in_progress"
        _, done = await call(b, "task_update", id=task["id"], status="done", result="fixed",
                             files_changed=["src/app.py"], tests_run=["pytest -q"])  # fmt: skip
        assert (done["status"], done["result"]) == ("done", "fixed")
        _, nothing = await call(b, "task_claim")
        assert nothing == {"task": None}

        _, sent = await call(b, "send", to="alice", text="parser fixed")
        _, box = await call(a, "inbox")
        assert [m["text"] for m in box["messages"]] == ["parser fixed"]
        assert box["messages"][0]["from"] == "bob#1"
        _, again = await call(a, "inbox")
        assert again == box  # not acked: still there
        assert (await call(a, "ack", ids=[sent["id"]]))[1] == {"acked": 1}
        assert (await call(a, "inbox"))[1] == {"messages": []}

        assert (await call(a, "kv_set", key="build/status", value="green"))[1]["version"] == 1
        error, text = await call(b, "kv_set", key="build/status", value="red", expect_version=0)
        assert error and "conflict:" in text
        assert (await call(b, "kv_get", key="build/status"))[1]["value"] == "green"

        error, text = await call(a, "lease", path="../outside")
        assert error and "bad input:" in text and "outside the scope root" in text
        error, text = await call(a, "task_update", id=999, status="done")
        assert error and "bad input: no task #999" in text
        _, released = await call(a, "release", path="src/app.py")
        assert released == {"released": ["src/app.py"]}
        _, listing = await call(b, "leases")
        assert listing == {"leases": []}
