"""The scripted model's Anthropic Messages API (what Claude Code speaks), driven with httpx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from codeswarm.core.errors import ScriptError
from codeswarm.mockmodel import MockModel, Script, latest_user_text
from codeswarm.mockmodel.messages import patch_tool_uses
from codeswarm.mockmodel.sse import IdSource, build_reply

Serve = Callable[..., Any]
MODEL = "claude-opus-4-8"


def body(text: str = "hello", *, stream: bool = True, **extra: Any) -> dict[str, Any]:
    """A request shaped like Claude Code's: a system-reminder block before the prompt, and a
    system-role message inside ``messages``."""
    content = [
        {"type": "text", "text": "<system-reminder>\nSkills: none\n</system-reminder>"},
        {"type": "text", "text": text},
    ]
    return {
        "model": MODEL,
        "max_tokens": 64000,
        "stream": stream,
        "system": [{"type": "text", "text": "You are Claude Code."}],
        "messages": [{"role": "user", "content": content}, {"role": "system", "content": "x"}],
        "tools": [],
        **extra,
    }


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


@pytest.fixture
async def client(stack: AsyncExitStack) -> httpx.AsyncClient:
    return await stack.enter_async_context(httpx.AsyncClient(trust_env=False, timeout=10))


@pytest.fixture
def serve(stack: AsyncExitStack) -> Serve:
    async def start(*entries: Any, agents: dict[str, Any] | None = None) -> MockModel:
        doc = {"agents": agents if agents is not None else {"*": list(entries)}}
        return await stack.enter_async_context(MockModel(Script.from_obj(doc)))

    return start


async def stream(
    client: httpx.AsyncClient, base: str, req: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """POST as Claude Code does and parse the SSE answer; every frame's ``event:`` names the
    ``type`` of its data (Claude Code needs the event lines)."""
    out: list[dict[str, Any]] = []
    headers = {"anthropic-version": "2023-06-01", "x-claude-code-session-id": "sess-1"}
    url = f"{base}/v1/messages?beta=true"
    async with client.stream("POST", url, json=req or body(), headers=headers) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        name = None
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                event = json.loads(line[len("data: ") :])
                assert event["type"] == name
                out.append(event)
    return out


def blocks(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The content blocks the events build, as a Messages client assembles them."""
    out: list[dict[str, Any]] = []
    for ev in events:
        if ev["type"] == "content_block_start":
            assert ev["index"] == len(out)
            out.append({**ev["content_block"], "_json": ""})
        elif ev["type"] == "content_block_delta":
            block, delta = out[ev["index"]], ev["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                block["text"] += delta["text"]
            elif kind == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                block["signature"] = delta["signature"]
            else:
                assert kind == "input_json_delta"
                block["_json"] += delta["partial_json"]
    for block in out:
        raw = block.pop("_json")
        if block["type"] == "tool_use":
            block["input"] = json.loads(raw)
    return out


async def test_text_streams_the_messages_event_sequence(
    serve: Serve, client: httpx.AsyncClient
) -> None:
    mm = await serve(
        {"reasoning": "Let me think.", "text": "Hello there, how are you?",
         "usage": {"input_tokens": 120, "output_tokens": 30, "cached_input_tokens": 20}}
    )  # fmt: skip
    evs = await stream(client, mm.anthropic_base_url("a_0"))
    kinds = [e["type"] for e in evs]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 2
    start = evs[0]["message"]
    assert start["role"] == "assistant" and start["model"] == MODEL and start["content"] == []
    assert start["id"].startswith("msg_") and start["stop_reason"] is None
    # the Messages API counts cached input apart: 100 fresh + 20 read from the cache
    assert start["usage"]["input_tokens"] == 100
    assert start["usage"]["cache_read_input_tokens"] == 20
    assert evs[-2]["delta"]["stop_reason"] == "end_turn"
    assert evs[-2]["usage"] == {"output_tokens": 30}
    thinking, text = blocks(evs)
    assert thinking["type"] == "thinking" and thinking["thinking"] == "Let me think."
    assert thinking["signature"]
    assert text == {"type": "text", "text": "Hello there, how are you?"}
    assert sum(e["type"] == "content_block_delta" for e in evs) > 3  # streamed in pieces


async def test_requests_are_logged_like_responses_requests(
    serve: Serve, client: httpx.AsyncClient
) -> None:
    mm = await serve("one", "two")
    await stream(client, mm.anthropic_base_url("a_3"))
    await stream(client, mm.anthropic_base_url())
    first, second = mm.requests
    assert first["api"] == "messages" and first["agent"] == "a_3"
    assert first["path"] == "/agents/a_3/v1/messages"
    assert first["headers"]["x-claude-code-session-id"] == "sess-1"
    assert first["headers"]["anthropic-version"] == "2023-06-01"
    assert first["body"]["model"] == MODEL and first["script_key"] == "*"
    assert first["entry_index"] == 0 and first["entry"] == {"text": "one"}
    assert second["agent"] == "default" and second["path"] == "/v1/messages"
    assert second["entry_index"] == 0  # each agent plays its own cursor


@pytest.mark.parametrize(
    ("entry", "name", "tool_input"),
    [
        ({"exec": "echo hi > x.txt"}, "Bash", {"command": "echo hi > x.txt"}),
        ({"exec": {"cmd": "ls", "workdir": "/tmp/a b", "justification": "look"}}, "Bash",
         {"command": "cd '/tmp/a b' && ls", "description": "look"}),
        ({"edit": {"file_path": "a.py", "old_string": "x = 1", "new_string": "x = 2"}}, "Edit",
         {"file_path": "a.py", "old_string": "x = 1", "new_string": "x = 2"}),
        ({"write": {"file_path": "/w/b.txt", "content": "hi\n"}}, "Write",
         {"file_path": "/w/b.txt", "content": "hi\n"}),
        ({"read": "a.py"}, "Read", {"file_path": "a.py"}),
        ({"tool": "lease_acquire", "arguments": {"path": "a.py"}}, "mcp__codeswarm__lease_acquire",
         {"path": "a.py"}),
        ({"tool": "fake/echo", "arguments": '{"x": 1}'}, "mcp__fake__echo", {"x": 1}),
        ({"call": {"name": "Skill", "input": {"skill": "swarm"}}}, "Skill", {"skill": "swarm"}),
    ],
)  # fmt: skip
async def test_calls_become_claude_code_tool_uses(
    serve: Serve, client: httpx.AsyncClient, entry: dict[str, Any], name: str, tool_input: Any
) -> None:
    mm = await serve({"text": "On it.", **entry})
    evs = await stream(client, mm.anthropic_base_url("a_0"))
    text, call = blocks(evs)
    assert text["text"] == "On it."
    assert call["type"] == "tool_use" and call["id"].startswith("toolu_")
    assert call["name"] == name and call["input"] == tool_input
    assert evs[-2]["delta"]["stop_reason"] == "tool_use"


async def test_non_streaming_request_gets_one_message(
    serve: Serve, client: httpx.AsyncClient
) -> None:
    mm = await serve(
        {"text": "Plain.", "exec": "ls", "usage": {"input_tokens": 9, "output_tokens": 4}}
    )
    r = await client.post(f"{mm.url}/v1/messages?beta=true", json=body(stream=False))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    msg = r.json()
    assert msg["type"] == "message" and msg["role"] == "assistant" and msg["model"] == MODEL
    assert msg["stop_reason"] == "tool_use"
    assert msg["content"][0] == {"type": "text", "text": "Plain."}
    assert msg["content"][1]["name"] == "Bash" and msg["content"][1]["input"] == {"command": "ls"}
    assert msg["usage"]["input_tokens"] == 9 and msg["usage"]["output_tokens"] == 4


async def test_probe_is_answered_and_not_logged(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve("x")
    for path in ("/", "/agents/a_0", "/agents/a_0/"):
        assert (await client.head(f"{mm.url}{path}")).status_code == 200
    assert mm.request_count == 0


async def test_failures_in_the_messages_wire(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve(
        {"http_status": 529},
        {"http_status": 400, "body": {"type": "error", "error": {"type": "x", "message": "mine"}}},
        {"text": "partial answer here", "fail": "boom"},
        {"text": "one two three four five six seven eight nine ten", "cut": True},
    )
    base = mm.anthropic_base_url("a_0")
    r = await client.post(f"{base}/v1/messages", json=body())
    assert r.status_code == 529
    assert r.json()["error"] == {"type": "overloaded_error", "message": "scripted HTTP 529"}
    r = await client.post(f"{base}/v1/messages", json=body())
    assert r.status_code == 400 and r.json()["error"]["message"] == "mine"
    failed = await stream(client, base)
    assert failed[-1] == {"type": "error", "error": {"type": "api_error", "message": "boom"}}
    assert "message_stop" not in [e["type"] for e in failed]
    cut = await stream(client, base)
    kinds = [e["type"] for e in cut]
    assert kinds[0] == "message_start" and "message_delta" not in kinds
    assert "content_block_stop" not in kinds  # dropped halfway


async def test_bad_body_is_an_anthropic_error(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve("x")
    r = await client.post(f"{mm.url}/v1/messages", content=b"not json")
    assert r.status_code == 400 and r.json()["type"] == "error"
    assert mm.requests[0]["entry_index"] is None


async def test_when_sees_the_prompt_across_tool_round_trips(
    serve: Serve, client: httpx.AsyncClient
) -> None:
    mm = await serve(
        {"when": "run the tests", "exec": "pytest -q"},
        {"when": "run the tests", "text": "All green."},
        "fallback",
    )
    base = mm.anthropic_base_url("a_0")
    first = blocks(await stream(client, base, body("please run the tests")))
    call = first[0]
    follow_up = body("please run the tests")
    follow_up["messages"] += [
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call["id"], "content": "3 passed"},
            {"type": "text", "text": "<system-reminder>later</system-reminder>"},
        ]},
    ]  # fmt: skip
    second = blocks(await stream(client, base, follow_up))
    assert second == [{"type": "text", "text": "All green."}]


def test_latest_user_text_of_messages_bodies() -> None:
    assert latest_user_text(body("the prompt")) == "the prompt"
    assert latest_user_text({"messages": [{"role": "user", "content": "plain"}]}) == "plain"
    assert latest_user_text({"messages": [{"role": "assistant", "content": "x"}]}) == ""
    assert latest_user_text({"messages": "junk"}) == ""


def test_patch_becomes_write_edit_and_rm() -> None:
    patch = (
        "*** Begin Patch\n*** Add File: new.txt\n+one\n+two\n"
        "*** Update File: src/a.py\n@@ def f():\n context\n\n-old\n+new\n@@\n-x\n+y\n"
        "*** Delete File: gone.txt\n*** End Patch\n"
    )
    assert patch_tool_uses(patch) == [
        ("Write", {"file_path": "new.txt", "content": "one\ntwo\n"}),
        ("Edit", {"file_path": "src/a.py", "old_string": "context\n\nold", "new_string": "context\n\nnew"}),
        ("Edit", {"file_path": "src/a.py", "old_string": "x", "new_string": "y"}),
        ("Bash", {"command": "rm -f -- gone.txt"}),
    ]  # fmt: skip


async def test_patch_that_moves_is_refused_in_one_line(
    serve: Serve, client: httpx.AsyncClient
) -> None:
    patch = "*** Begin Patch\n*** Update File: a.py\n*** Move to: b.py\n@@\n-x\n+y\n*** End Patch\n"
    mm = await serve({"patch": patch})
    r = await client.post(f"{mm.url}/v1/messages", json=body())
    assert r.status_code == 400
    assert "moves a.py" in r.json()["error"]["message"]


def test_new_steps_on_the_responses_wire() -> None:
    """``edit``/``write`` are apply_patch calls for Codex, ``read`` a ``cat``, ``call`` a
    function call by name."""

    def item(entry: dict[str, Any]) -> dict[str, Any]:
        (e,) = Script.from_obj({"agents": {"*": [entry]}}).agents["*"]
        events = build_reply(e, IdSource(), request_bytes=10).events
        done = [ev["item"] for ev in events if ev["type"] == "response.output_item.done"]
        return done[-1]

    edit = item({"edit": {"file_path": "a.py", "old_string": "x = 1\ny", "new_string": "x = 2"}})
    assert edit["name"] == "apply_patch"
    assert (
        edit["input"]
        == "*** Begin Patch\n*** Update File: a.py\n@@\n-x = 1\n-y\n+x = 2\n*** End Patch\n"
    )
    write = item({"write": {"file_path": "n.txt", "content": "a\nb\n"}})
    assert write["input"] == "*** Begin Patch\n*** Add File: n.txt\n+a\n+b\n*** End Patch\n"
    read = item({"read": "my file.txt"})
    assert read["name"] == "exec_command"
    assert json.loads(read["arguments"]) == {"cmd": "cat -- 'my file.txt'"}
    call = item({"call": {"name": "update_plan", "input": {"plan": []}}})
    assert call["name"] == "update_plan" and json.loads(call["arguments"]) == {"plan": []}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"edit": {"file_path": " ", "old_string": "a", "new_string": "b"}}, "edit: empty file path"),
        ({"read": ""}, "read: empty file path"),
        ({"call": {"name": "no spaces"}}, "call: not a tool name: 'no spaces'"),
        ({"read": "a", "exec": "ls"}, "'exec' and 'read' cannot be combined"),
        ({"write": {"file_path": "a"}}, "missing key 'content'"),
        ({"edit": {"file_path": "a", "old_string": "a", "new_string": "b"}, "cut": True},
         "'cut' cannot be combined with 'edit'"),
    ],
)  # fmt: skip
def test_new_steps_are_validated(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ScriptError) as info:
        Script.from_obj({"agents": {"*": [entry]}}, source="s.json")
    assert message in str(info.value)
