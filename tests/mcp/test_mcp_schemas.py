"""What a client sees of the MCP tools, through the official SDK's stdio client against
``codeswarm mcp``: every parameter described and bounded, the enums, arguments a tool does not
take refused, wrong types answered ``bad input:`` in one line, codeswarm's version in
``serverInfo``; and the bounds a schema declares are the ones the tools enforce."""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

import codeswarm
from codeswarm.coordination.models import TASK_STATUSES
from swarmkit import PYTHON, python_env

REQUIRED = {"path": "src/a.py", "title": "t", "id": 1, "to": "me", "text": "hi", "ids": [1],
            "key": "k", "value": "v"}  # fmt: skip
"""A valid value for each required parameter of any tool."""


@contextlib.asynccontextmanager
async def session(tmp_path: Path) -> AsyncIterator[tuple[ClientSession, Any]]:
    root = tmp_path / "proj"
    root.mkdir()
    db = tmp_path / "coord.db"
    params = StdioServerParameters(
        command=PYTHON,
        args=["-P", "-m", "codeswarm", "mcp"],
        env=python_env(CODESWARM_DB=str(db), CODESWARM_SCOPE=str(root), CODESWARM_AGENT_ID="me"),
        cwd=str(root),
    )
    with (tmp_path / "server.err").open("w") as errlog:
        async with stdio_client(params, errlog=errlog) as (r, w), ClientSession(r, w) as s:
            init = await s.initialize()
            yield s, init


def required_args(schema: dict[str, Any]) -> dict[str, Any]:
    return {name: REQUIRED[name] for name in schema.get("required", [])}


def kinds(prop: dict[str, Any]) -> set[str]:
    """The JSON types a property allows (``anyOf`` of a type and null included)."""
    if "type" in prop:
        return {prop["type"]}
    return {p["type"] for p in prop.get("anyOf", []) if "type" in p}


async def snapshot(s: ClientSession) -> Any:
    listing = await s.call_tool("leases", {})
    tasks = await s.call_tool("tasks", {})
    kv = await s.call_tool("kv_get", {"key": "k"})
    return listing.structuredContent, tasks.structuredContent, kv.structuredContent


async def test_schemas_describe_bound_and_close_every_parameter(tmp_path: Path) -> None:
    async with session(tmp_path) as (s, init):
        assert init.serverInfo.name == "codeswarm"
        assert init.serverInfo.version == codeswarm.__version__
        assert init.serverInfo.version != importlib.metadata.version("mcp")
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert len(tools) == 13
        for name, tool in tools.items():
            schema = tool.inputSchema
            assert schema["additionalProperties"] is False, name
            for param, prop in schema["properties"].items():
                where = f"{name}.{param}"
                assert len(prop.get("description", "")) > 8, where
                types = kinds(prop) - {"null"}
                if types & {"integer", "number"}:
                    assert prop["minimum"] < prop["maximum"], where
                if "string" in types:
                    assert "enum" in prop or prop["maxLength"] >= 512, where
                if "array" in types:
                    assert prop["maxItems"] >= 1000, where
        status = tools["tasks"].inputSchema["properties"]["status"]
        assert status["type"] == "string" and status["enum"] == list(TASK_STATUSES)
        update = tools["task_update"].inputSchema["properties"]["status"]
        assert update["enum"] == ["in_progress", "done", "failed", "open", "cancelled"]
        lease = tools["lease"].inputSchema["properties"]
        assert (lease["ttl"]["minimum"], lease["ttl"]["maximum"]) == (1, 604800)
        assert (lease["wait"]["minimum"], lease["wait"]["maximum"]) == (0, 60)
        limit = tools["inbox"].inputSchema["properties"]["limit"]
        assert (limit["minimum"], limit["maximum"]) == (1, 1000)
        ids = tools["ack"].inputSchema["properties"]["ids"]
        assert ids["items"]["minimum"] == 1 and ids["maxItems"] == 1000


async def test_the_declared_bounds_are_the_enforced_ones(tmp_path: Path) -> None:
    """Each number just outside its declared bounds is refused ("bad input:"), and the tool
    changes nothing; each enum's outsider too."""
    async with session(tmp_path) as (s, _):
        assert not (await s.call_tool("task_add", {"title": "one"})).isError
        before = await snapshot(s)
        tools = {t.name: t for t in (await s.list_tools()).tools}
        tried = 0
        for name, tool in tools.items():
            for param, prop in tool.inputSchema["properties"].items():
                outside: list[Any] = []
                if "maximum" in prop:
                    step = 1 if "integer" in kinds(prop) else 0.5
                    outside = [prop["minimum"] - step, prop["maximum"] + step]
                elif "enum" in prop:
                    outside = ["nope"]
                if "items" in prop:
                    item = prop["items"]
                    outside += [[item["minimum"] - 1], [item["maximum"] + 1]]
                if "maxItems" in prop:
                    outside.append([str(i) if "items" not in prop else i
                                    for i in range(1, prop["maxItems"] + 2)])  # fmt: skip
                for value in outside:
                    args = {**required_args(tool.inputSchema), param: value}
                    result = await s.call_tool(name, args)
                    text = result.content[0].text  # type: ignore[union-attr]
                    assert result.isError and text.startswith("bad input: "), (name, args, text)
                    assert "\n" not in text, text
                    tried += 1
        assert tried >= 29
        assert await snapshot(s) == before


async def test_unknown_arguments_are_refused_naming_them(tmp_path: Path) -> None:
    async with session(tmp_path) as (s, _):
        tools = {t.name: t for t in (await s.list_tools()).tools}
        before = await snapshot(s)
        for name, tool in tools.items():
            args = {**required_args(tool.inputSchema), "bogus": 1}
            result = await s.call_tool(name, args)
            text = result.content[0].text  # type: ignore[union-attr]
            assert result.isError, (name, text)
            assert text.startswith(f"bad input: {name} takes no argument 'bogus'"), text
            for param in tool.inputSchema["properties"]:
                assert param in text, (name, text)  # and says what it does take
        # a typo of a real parameter: the tool did not run with the default instead
        result = await s.call_tool("lease", {"path": "src/a.py", "shard": True})
        assert result.isError and "'shard'" in result.content[0].text  # type: ignore[union-attr]
        assert await snapshot(s) == before


@pytest.mark.parametrize(
    ("tool", "arguments", "starts"),
    [
        ("lease", {"path": "x", "ttl": "soon"}, "bad input: ttl: "),
        ("lease", {"path": ["x"]}, "bad input: path: "),
        ("lease", {"path": "x", "shared": "maybe"}, "bad input: shared: "),
        ("task_claim", {"id": "first"}, "bad input: id: "),
        ("task_add", {"title": "t", "files": "a.py"}, "bad input: files: "),
        ("task_add", {"title": "t", "depends_on": [1.5]}, "bad input: depends_on.0: "),
        ("ack", {"ids": {"a": 1}}, "bad input: ids: "),
        ("inbox", {"limit": "many"}, "bad input: limit: "),
        ("kv_set", {"key": 1, "value": "v"}, "bad input: key: "),
        ("send", {"to": "me", "text": None}, "bad input: text: "),
        ("tasks", {"mine": [1]}, "bad input: mine: "),
    ],
)
async def test_wrong_types_are_one_bad_input_line(
    tmp_path: Path, tool: str, arguments: dict[str, Any], starts: str
) -> None:
    async with session(tmp_path) as (s, _):
        before = await snapshot(s)
        result = await s.call_tool(tool, arguments)
        text = result.content[0].text  # type: ignore[union-attr]
        assert result.isError and text.startswith(starts), text
        assert "\n" not in text and len(text) < 400
        for raw in ("validation error", "For further information", "pydantic", "Arguments\n"):
            assert raw not in text, text
        assert ", not " in text  # what was sent, so the model can see its mistake
        assert await snapshot(s) == before


async def test_servers_share_tool_descriptions_and_each_acts_as_its_own_agent(
    tmp_path: Path,
) -> None:
    """The hub builds a server per agent: the tools' descriptions (argument models, schemas)
    are built once and shared, the functions are each agent's own."""
    from codeswarm.coordination import Coord
    from codeswarm.mcp.identity import Identity
    from codeswarm.mcp.server import build_server

    root = tmp_path / "proj"
    root.mkdir()
    with Coord.open(str(tmp_path / "coord.db"), root=str(root)) as coord:
        servers = []
        for agent in ("a_0", "b_1"):
            env = {"CODESWARM_AGENT_ID": agent}
            ident = Identity(coord, env)
            servers.append(build_server(coord, ident, heartbeat=False, env=env, cwd=str(root)))
        one, two = (s._tool_manager._tools for s in servers)
        assert one.keys() == two.keys() and len(one) > 5
        for name in one:
            assert one[name].fn_metadata is two[name].fn_metadata
            assert one[name].parameters == two[name].parameters
            assert one[name].fn is not two[name].fn
        schemas = [{t.name: t.inputSchema for t in await s.list_tools()} for s in servers]
        assert schemas[0] == schemas[1]
        mine = [await s.call_tool("lease", {"path": f"src/{i}.py"}) for i, s in enumerate(servers)]
        assert [str(m) for m in mine] != [str(mine[0])] * 2
        holders = {le.path: le.holder.split("#")[0] for le in coord.leases()}
        assert holders == {"src/0.py": "a_0", "src/1.py": "b_1"}
