"""The MCP server answers what is not a message with the JSON-RPC 2.0 error codes, refuses tool
arguments out of bounds as a tool error ("bad input: …"), changes nothing for either, and keeps
serving (``python -m codeswarm.mcp`` as a real process, raw JSON lines on its stdin)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from codeswarm.coordination import Coord
from codeswarm.mcp.wire import MAX_LINE, take
from swarmkit import PYTHON, python_env

REPLY_TIMEOUT = 30.0
PARSE, INVALID_REQUEST, NO_METHOD, INVALID_PARAMS = -32700, -32600, -32601, -32602


class Raw:
    """An MCP server process spoken to line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.next_id = 100

    async def line(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data.rstrip(b"\n") + b"\n")
        await self.proc.stdin.drain()

    async def answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), REPLY_TIMEOUT)
        assert raw, "the server closed its stdout"
        reply: dict[str, Any] = json.loads(raw)
        return reply

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        await self.line(json.dumps(msg).encode())
        reply = await self.answer()
        assert reply["id"] == self.next_id, reply
        return reply

    async def tool(self, name: str, **arguments: Any) -> dict[str, Any]:
        reply = await self.request("tools/call", {"name": name, "arguments": arguments})
        result: dict[str, Any] = reply["result"]
        return result

    async def still_serving(self) -> None:
        assert (await self.request("ping"))["result"] == {}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[Raw, Path, Path]]:
    root = tmp_path / "proj"
    root.mkdir()
    db = tmp_path / "coord.db"
    env = python_env(CODESWARM_DB=str(db), CODESWARM_SCOPE=str(root), CODESWARM_AGENT_ID="me")
    proc = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "codeswarm.mcp", cwd=root, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, limit=1 << 20,
    )  # fmt: skip
    raw = Raw(proc)
    init = await raw.request(
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {},
         "clientInfo": {"name": "raw", "version": "1"}},
    )  # fmt: skip
    assert init["result"]["serverInfo"]["name"] == "codeswarm"
    await raw.line(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    try:
        yield raw, db, root
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            assert await asyncio.wait_for(proc.wait(), REPLY_TIMEOUT) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def stored(db: Path, root: Path) -> dict[str, Any]:
    with Coord.open(str(db), root=str(root)) as c:
        return {
            "agents": [a.id for a in c.agents(all=True)],
            "leases": [x.to_dict() for x in c.leases()],
            "tasks": [t.to_dict() for t in c.tasks()],
            "kv": [e.to_dict() for e in c.kv_list()],
            "events": [e.to_dict() for e in c.events(limit=10_000)],
        }


NOT_MESSAGES: list[tuple[str, bytes, int, Any]] = [
    ("garbage", b"garbage", PARSE, None),
    ("not-utf8", b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "x": "\xff\xfe"}', PARSE, None),
    ("nan", b'{"jsonrpc":"2.0","id":3,"method":"ping","params":{"x":NaN}}', PARSE, None),
    ("truncated", b'{"jsonrpc":"2.0","id":3,"meth', PARSE, None),
    ("batch", b'[{"jsonrpc":"2.0","id":3,"method":"ping"}]', INVALID_REQUEST, None),
    ("empty-batch", b"[]", INVALID_REQUEST, None),
    ("a-string", b'"ping"', INVALID_REQUEST, None),
    ("no-version", b'{"id":4,"method":"ping"}', INVALID_REQUEST, 4),
    ("old-version", b'{"jsonrpc":"1.0","id":4,"method":"ping"}', INVALID_REQUEST, 4),
    ("bool-id", b'{"jsonrpc":"2.0","id":true,"method":"ping"}', INVALID_REQUEST, None),
    ("object-id", b'{"jsonrpc":"2.0","id":{},"method":"ping"}', INVALID_REQUEST, None),
    ("method-number", b'{"jsonrpc":"2.0","id":5,"method":3}', INVALID_REQUEST, 5),
    ("spec-example", b'{"jsonrpc":"2.0","method":1,"params":"bar"}', INVALID_REQUEST, None),
    ("both", b'{"jsonrpc":"2.0","id":5,"result":{},"error":{}}', INVALID_REQUEST, 5),
    ("unknown-method", b'{"jsonrpc":"2.0","id":6,"method":"nope/nope"}', NO_METHOD, 6),
    ("string-id", b'{"jsonrpc":"2.0","id":"s","method":"tools/delete"}', NO_METHOD, "s"),
    ("params-array", b'{"jsonrpc":"2.0","id":7,"method":"ping","params":[1]}', INVALID_PARAMS, 7),
    ("call-no-name", b'{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{}}',
     INVALID_PARAMS, 8),
    ("unknown-tool",
     b'{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"rm_rf","arguments":{}}}',
     INVALID_PARAMS, 9),
    ("lone-surrogate",
     b'{"jsonrpc":"2.0","id":11,"method":"tools/call",'
     b'"params":{"name":"kv_set","arguments":{"key":"k","value":"\\udcff"}}}',
     INVALID_PARAMS, 11),
    ("number-overflow",
     b'{"jsonrpc":"2.0","id":10,"method":"tools/call",'
     b'"params":{"name":"lease","arguments":{"path":"x","ttl":1e999}}}',
     INVALID_PARAMS, 10),
]  # fmt: skip

BAD_ARGUMENTS: list[tuple[str, dict[str, Any], str]] = [
    ("lease", {"path": "x", "ttl": "soon"}, "bad input: ttl: "),
    ("lease", {"path": 5}, "bad input: path: "),
    ("lease", {}, "bad input: path: Field required"),
    ("lease", {"path": "x", "ttl": 1e308}, "bad input: ttl must be between 1 and 604800"),
    ("lease", {"path": "x", "ttl": 1e-300}, "bad input: ttl must be between 1 and"),
    ("lease", {"path": "x", "ttl": 0}, "bad input: ttl must be"),
    ("lease", {"path": "x", "wait": -1}, "bad input: wait must be between 0 and 60 seconds"),
    ("lease", {"path": "x", "wait": 61}, "bad input: wait must be"),
    ("lease", {"path": "x" * 5_000_000}, "bad input: a path of 5000000 bytes; the limit is 4096"),
    ("lease", {"path": "src/" + "y" * 256}, "bad input: a path component of 256 bytes"),
    ("lease", {"path": "/".join(["d" * 200] * 21)}, "bad input: a path of 4220 bytes"),
    ("leases", {"path": "q/" * 10_000}, "bad input: a path of 20000 bytes"),
    ("release", {"path": "q/" * 10_000}, "bad input: a path of 20000 bytes"),
    ("inbox", {"limit": -1}, "bad input: limit must be between 1 and 1000"),
    ("inbox", {"limit": 0}, "bad input: limit must be"),
    ("inbox", {"wait": -1}, "bad input: wait must be"),
    ("task_claim", {"id": 2**64}, "bad input: invalid task id"),
    ("task_claim", {"id": 0}, "bad input: invalid task id"),
    ("task_update", {"id": -1, "status": "done"}, "bad input: invalid task id"),
    ("task_add", {"title": "t", "priority": 2**40}, "bad input: priority must be"),
    ("task_add", {"title": "t", "depends_on": [2**64]}, "bad input: invalid task id"),
    ("task_add", {"title": "t", "files": ["z" * 5000]}, "bad input: a path of 5000 bytes"),
    ("send", {"to": "me", "text": "hi", "reply_to": 2**64}, "bad input: invalid message id"),
    ("ack", {"ids": [0]}, "bad input: invalid message id"),
    ("ack", {"ids": list(range(1, 1002))}, "bad input: message ids: 1001 in one call"),
    ("kv_set", {"key": "k", "value": "v", "expect_version": -1}, "bad input: expect_version"),
    ("kv_get", {"key": "a\nb"}, "bad input: kv key must be one line"),
    ("tasks", {"status": "nope"}, "bad input: unknown task status"),
]


async def test_what_is_not_a_message_gets_its_json_rpc_error_and_the_server_serves_on(
    server: tuple[Raw, Path, Path],
) -> None:
    raw, db, root = server
    assert (await raw.tool("swarm_status"))["isError"] is False  # registers "me"
    before = stored(db, root)
    for case, line, code, rid in NOT_MESSAGES:
        await raw.line(line)
        reply = await raw.answer()
        assert reply.get("jsonrpc") == "2.0" and "result" not in reply, (case, reply)
        assert (reply["id"], reply["error"]["code"]) == (rid, code), (case, reply)
        assert "\n" not in reply["error"]["message"]
        await raw.still_serving()
    await raw.line(b'{"jsonrpc":"2.0","method":"notifications/nope"}')  # never answered
    await raw.line(b'{"jsonrpc":"2.0","method":"notifications/progress","params":[1]}')  # nor
    await raw.line(b"   ")  # a blank line is not a message
    await raw.still_serving()  # the next line out is the ping's answer
    await raw.line(b"x" * (MAX_LINE + 1))
    reply = await raw.answer()
    assert (reply["id"], reply["error"]["code"]) == (None, INVALID_REQUEST)
    await raw.still_serving()
    assert stored(db, root) == before


async def test_tool_arguments_out_of_bounds_are_a_bad_input_tool_error(
    server: tuple[Raw, Path, Path],
) -> None:
    raw, db, root = server
    assert (await raw.tool("swarm_status"))["isError"] is False
    assert (await raw.tool("task_add", title="one"))["isError"] is False
    before = stored(db, root)
    for tool, arguments, words in BAD_ARGUMENTS:
        result = await raw.tool(tool, **arguments)
        assert result["isError"] is True, (tool, result)
        (content,) = result["content"]
        assert content["text"].startswith(words), (tool, content["text"][:300])
        assert "\n" not in content["text"] and len(content["text"]) < 400
        await raw.still_serving()
    assert stored(db, root) == before


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"", None),
        (b'{"jsonrpc":"2.0","method":"notifications/initialized"}', "message"),
        (b'{"jsonrpc":"2.0","id":1,"result":{}}', "message"),
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}', "message"),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":Infinity}}', PARSE),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":[[-1e400]]}}', INVALID_PARAMS),
        (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"result":{"x":"\\ud800"}}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"x":"\\ud800"}}', None),
        (b"[" * 100_000 + b"]" * 100_000, PARSE),
    ],
)
def test_take(line: bytes, expected: Any) -> None:
    """What one line becomes: a message for the SDK, an error line, or nothing."""
    taken = take(line)
    if expected is None:
        assert taken is None
    elif expected == "message":
        assert taken is not None and not isinstance(taken, bytes)
    else:
        assert isinstance(taken, bytes) and taken.endswith(b"\n") and taken.count(b"\n") == 1
        assert json.loads(taken)["error"]["code"] == expected


def test_an_answer_that_cannot_be_encoded_is_an_internal_error_not_a_dead_server() -> None:
    from mcp import types
    from mcp.shared.message import SessionMessage

    from codeswarm.mcp.wire import _encode

    bad = types.JSONRPCResponse(jsonrpc="2.0", id=7, result={"text": "\udcff"})
    line = _encode(SessionMessage(types.JSONRPCMessage(bad)))
    assert json.loads(line) == {
        "jsonrpc": "2.0", "id": 7,
        "error": {"code": -32603, "message": "Internal error: the answer could not be encoded"},
    }  # fmt: skip
    note = types.JSONRPCNotification(jsonrpc="2.0", method="x", params={"t": "\udcff"})
    assert _encode(SessionMessage(types.JSONRPCMessage(note))) == b""
