"""The orchestrator's tools through the official SDK's client over stdio (SQLite and
PostgreSQL): offered to the orchestrator only; delegate, converse, check, end, list, finish;
bad input as `bad input:` tool errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from codeswarm.coordination import Coord, open_store
from swarmkit import PYTHON, python_env

ORCHESTRATOR_TOOLS = {"delegate", "converse", "check", "end", "list", "finish"}


@contextlib.asynccontextmanager
async def session(db_url: str, root: Path, agent: str, role: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "codeswarm.mcp"],
        env=python_env(
            CODESWARM_DB=db_url,
            CODESWARM_SCOPE=str(root),
            CODESWARM_AGENT_ID=agent,
            CODESWARM_AGENT_ROLE=role,
        ),
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
    return False, result.structuredContent


async def ok(s: ClientSession, tool: str, **args: Any) -> Any:
    error, out = await call(s, tool, **args)
    assert not error, out
    return out


async def refused(s: ClientSession, tool: str, **args: Any) -> str:
    error, text = await call(s, tool, **args)
    assert error, text
    assert isinstance(text, str) and "\n" not in text
    return text


def _news(coord: Coord, agent: str) -> list[dict[str, Any]]:
    out = []
    for m in coord.inbox(agent):
        if m.task_id is not None:
            out.append(json.loads(m.text.partition(": ")[2]))
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
async def test_orchestrator_tools_over_stdio(db_url: str, root: Path) -> None:
    coord = Coord(open_store(db_url), root=str(root))
    try:
        async with (
            session(db_url, root, "s_0", "orchestrator") as boss,
            session(db_url, root, "s_1", "implementer") as w1,
            session(db_url, root, "s_2", "implementer") as w2,
            session(db_url, root, "s_3", "implementer") as w3,
        ):
            await _flow(coord, boss, w1, w2, w3)
    finally:
        coord.close()


async def _flow(
    coord: Coord, boss: ClientSession, w1: ClientSession, w2: ClientSession, w3: ClientSession
) -> None:
    listed = {t.name: t for t in (await boss.list_tools()).tools}
    assert set(listed) >= ORCHESTRATOR_TOOLS
    assert not ORCHESTRATOR_TOOLS & {t.name for t in (await w1.list_tools()).tools}
    for name in ORCHESTRATOR_TOOLS:
        tool = listed[name]
        assert tool.description and tool.inputSchema["additionalProperties"] is False
        for prop in tool.inputSchema.get("properties", {}).values():
            assert prop.get("description"), (name, prop)
    props = listed["delegate"].inputSchema["properties"]
    assert props["budget_tokens"]["minimum"] == 1 and props["title"]["maxLength"] == 512
    assert props["depends_on"]["items"]["minimum"] == 1
    assert listed["converse"].inputSchema["properties"]["timeout"]["maximum"] == 3600
    assert listed["end"].inputSchema["properties"]["verdict"]["enum"] == ["accepted", "rejected"]
    assert listed["list"].annotations.readOnlyHint is True  # type: ignore[union-attr]
    assert listed["delegate"].annotations.readOnlyHint is False  # type: ignore[union-attr]

    for s in (boss, w1, w2, w3):  # each registers (with its role) at its first call
        await ok(s, "swarm_status")

    a = await ok(boss, "delegate", title="part a", instructions="write a.py", files=["a.py"],
                 budget_tokens=1000)  # fmt: skip
    b = await ok(boss, "delegate", title="part b", instructions="write b.py")
    c = await ok(boss, "delegate", title="join", instructions="join a and b",
                 depends_on=[a["task"], b["task"]])  # fmt: skip
    assert a == {"task": a["task"], "agent": "s_1", "state": "started"}
    assert b["agent"] == "s_2" and b["state"] == "started"
    assert c == {"task": c["task"], "agent": "s_3", "state": "waiting",
                 "depends_on": [a["task"], b["task"]]}  # fmt: skip
    assert coord.task(a["task"]).budget_tokens == 1000

    # the workers see their instructions (the message carries the task), the third nothing yet
    [wake] = (await ok(w1, "inbox"))["messages"]
    assert "write a.py" in wake["text"]
    assert (await ok(w3, "inbox"))["messages"] == []
    await ok(w1, "lease", path="a.py")
    await ok(w1, "task_update", id=a["task"], status="done", result="wrote a.py",
             files_changed=["a.py"])  # fmt: skip
    await ok(w2, "task_update", id=b["task"], status="done", result="wrote b.py")
    [wake_c] = (await ok(w3, "inbox"))["messages"]
    assert "join a and b" in wake_c["text"]
    assert [n["task"] for n in _news(coord, "s_0")] == [a["task"], b["task"]]

    board = await ok(boss, "list")
    agents = {x["agent"]: x for x in board["agents"]}
    assert agents["s_3"] == {"agent": "s_3", "role": "implementer", "task": c["task"],
                             "state": "busy"}  # fmt: skip
    assert agents["s_1"]["state"] == "idle"
    states = {t["id"]: t["status"] for t in board["tasks"]}
    assert states == {a["task"]: "done", b["task"]: "done", c["task"]: "claimed"}

    coord.kv_set("usage/s_1", json.dumps({"input": 90, "cached_input": 10, "output": 10,
                                           "total": 100, "tasks": {str(a["task"]): 100}}))  # fmt: skip
    seen = await ok(boss, "check", task=a["task"])
    assert seen == {"task": a["task"], "title": "part a", "status": "done", "agent": "s_1",
                    "result": "wrote a.py", "files_changed": ["a.py"], "budget_tokens": 1000,
                    "tokens": 100}  # fmt: skip
    worker = await ok(boss, "check", agent="s_1")
    assert worker["leases"] == ["a.py"] and worker["state"] == "idle"
    assert worker["usage"] == {"input": 90, "cached_input": 10, "output": 10, "total": 100}
    assert worker["files_changed"] == ["a.py"]

    ended = await ok(boss, "end", task=a["task"], verdict="accepted", summary="good")
    assert ended == {"tasks": [{"id": a["task"], "status": "done"}], "released": ["a.py"]}
    assert coord.task(a["task"]).verdict == "accepted"

    # converse: the answer is the agent's reply (here a stand-in for its worker), not a wake-up
    async def answer() -> None:
        for _ in range(200):
            asked = [m for m in coord.inbox("s_2") if m.expects_reply]
            if asked:
                coord.reply("s_2", asked[0].id, "I wrote b.py and nothing else")
                return
            await asyncio.sleep(0.05)

    replying = asyncio.create_task(answer())
    said = await ok(boss, "converse", agent="s_2", message="what did you change?", timeout=20)
    await replying
    assert said == {"agent": "s_2", "reply": "I wrote b.py and nothing else"}
    assert [m for m in coord.inbox("s_0") if m.reply_to is not None] == []  # not delivered twice
    later = await ok(boss, "converse", agent="s_2", message="anything else?", wait=False)
    assert later["state"] == "sent"
    timed = await ok(boss, "converse", agent="s_2", message="and?", timeout=0)
    assert timed["timed_out"] is True

    # bad input: one line, `bad input:` first, nothing changed
    before = len(coord.tasks())
    assert (await refused(boss, "delegate", title="t", instructions="x", agent="nobody")
            ).startswith("bad input: no agent named 'nobody'")  # fmt: skip
    assert (await refused(boss, "delegate", title="t", instructions="x", depends_on=[999])
            ).startswith("bad input: no task #999")  # fmt: skip
    assert "budget_tokens" in await refused(boss, "delegate", title="t", instructions="x",
                                            budget_tokens=0)  # fmt: skip
    assert (await refused(boss, "delegate", title="t", instructions="x", budget_tokens=-1)
            ).startswith("bad input:")  # fmt: skip
    assert len(coord.tasks()) == before
    assert (await refused(boss, "check", task=999)).startswith("bad input: no task #999")
    assert (await refused(boss, "check", agent="nobody")).startswith("bad input:")
    assert (await refused(boss, "check")).startswith("bad input: give an agent or a task")
    assert (await refused(boss, "end", task=999, verdict="accepted")).startswith("bad input:")
    assert (await refused(boss, "end", agent="nobody", verdict="accepted")).startswith("bad input:")
    assert (await refused(boss, "end", task=b["task"], verdict="meh")).startswith("bad input:")
    assert (await refused(boss, "converse", agent="nobody", message="hi")).startswith(
        "bad input: no agent named 'nobody'"
    )
    assert (await refused(boss, "converse", agent="s_0", message="hi")).startswith("bad input:")
    # a dependency cycle cannot be made by delegating: a task can only wait for existing ones
    assert (await refused(boss, "delegate", title="t", instructions="x",
                          depends_on=[before + 1])).startswith("bad input: no task")  # fmt: skip

    assert await ok(boss, "finish", summary="all parts written") == {"finished": True}
    [event] = coord.events(kind="run.finished")
    assert event.data == {"summary": "all parts written"} and event.agent == "s_0#1"
    entry = coord.kv_get("run/finished")
    assert entry is not None and json.loads(entry.value)["summary"] == "all parts written"
