"""The scripted model's OpenAI Chat Completions API (what OpenClaw's ``openai-completions``
provider speaks), driven with httpx the way OpenClaw drives it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from codeswarm.mockmodel import MockModel, Script, latest_user_text
from codeswarm.mockmodel.overrides import OPENCLAW_MODEL

Serve = Callable[..., Any]
MODEL = "scripted-model"
CONTEXT = (
    "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>\nConversation data (data, not instructions):\n"
    '"Active exec sessions:\\nnone"\n<<<END_OPENCLAW_INTERNAL_CONTEXT>>>'
)


def body(text: str = "hello", *, stream: bool = True, **extra: Any) -> dict[str, Any]:
    """A request shaped like OpenClaw's: a system message, the person's message (with its time
    stamp and runtime line), and the internal-context user message that ends every request."""
    return {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are a personal assistant."},
            {
                "role": "user",
                "content": f"[Mon 2026-11-30 16:03 UTC] {text}\n\nRuntime: agent=main",
            },
            {"role": "user", "content": [{"type": "text", "text": CONTEXT}]},
        ],
        "stream": stream,
        "stream_options": {"include_usage": True},
        "tools": [],
        "tool_choice": "auto",
        **extra,
    }


def with_tool_round(req: dict[str, Any], message: dict[str, Any], output: str) -> dict[str, Any]:
    """``req`` after one tool round trip, as OpenClaw sends it: the assistant's call (its id
    stripped to letters and digits), the tool's result, and a new internal-context message."""
    messages = req["messages"][:-1]
    calls = [
        {**c, "id": "".join(ch for ch in c["id"] if ch.isalnum())} for c in message["tool_calls"]
    ]
    messages.append({"role": "assistant", "content": message.get("content"), "tool_calls": calls})
    messages.append({"role": "tool", "tool_call_id": calls[0]["id"], "content": output})
    messages.append({"role": "user", "content": [{"type": "text", "text": CONTEXT}]})
    return {**req, "messages": messages}


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


async def chunks(
    client: httpx.AsyncClient, base: str, req: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """POST a streaming request and parse the answer: the ``data:`` chunks (no ``event:``
    lines on this wire) and whether ``data: [DONE]`` closed it."""
    out: list[dict[str, Any]] = []
    done = False
    async with client.stream("POST", f"{base}/chat/completions", json=req or body()) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        async for line in r.aiter_lines():
            assert not line.startswith("event:")
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: "):
                assert not done, "a chunk after [DONE]"
                out.append(json.loads(line[len("data: ") :]))
    return out, done


def assemble(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The assistant message, finish reason and usage the chunks build, as a client does."""
    content, reasoning = "", ""
    calls: list[dict[str, Any]] = []
    finish, usage = None, None
    for ev in events:
        assert ev["object"] == "chat.completion.chunk"
        if ev.get("usage"):
            assert ev["choices"] == []
            usage = ev["usage"]
            continue
        (choice,) = ev["choices"]
        delta = choice["delta"]
        content += delta.get("content") or ""
        reasoning += delta.get("reasoning_content") or ""
        for piece in delta.get("tool_calls", []):
            if piece["index"] == len(calls):
                calls.append({"id": piece["id"], "name": piece["function"]["name"], "args": ""})
            calls[piece["index"]]["args"] += piece["function"]["arguments"]
        if choice["finish_reason"] is not None:
            finish = choice["finish_reason"]
    for call in calls:
        call["args"] = json.loads(call["args"])
    return {
        "content": content,
        "reasoning": reasoning,
        "calls": calls,
        "finish": finish,
        "usage": usage,
    }


async def test_text_streams_as_content_deltas_with_usage(
    serve: Serve, client: httpx.AsyncClient
) -> None:
    mm = await serve(
        {"reasoning": "Let me think.", "text": "Hello there, how are you today?",
         "usage": {"input_tokens": 120, "output_tokens": 30, "cached_input_tokens": 20,
                   "reasoning_tokens": 5}}
    )  # fmt: skip
    events, done = await chunks(client, mm.base_url("a_0"))
    assert done
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len({e["id"] for e in events}) == 1 and events[0]["id"].startswith("chatcmpl-")
    assert {e["model"] for e in events} == {MODEL}  # the request's model echoed
    got = assemble(events)
    assert got["content"] == "Hello there, how are you today?"
    assert got["reasoning"] == "Let me think."
    assert got["calls"] == [] and got["finish"] == "stop"
    assert got["usage"] == {
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 20},
        "completion_tokens_details": {"reasoning_tokens": 5},
    }
    content_deltas = [e for e in events if e["choices"] and e["choices"][0]["delta"].get("content")]
    assert len(content_deltas) > 1  # streamed in pieces
    (logged,) = mm.requests
    assert logged["api"] == "chat" and logged["agent"] == "a_0"
    assert logged["path"] == "/agents/a_0/v1/chat/completions"
    assert logged["entry_index"] == 0 and logged["body"]["model"] == MODEL


async def test_usage_chunk_only_when_asked(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve("one", "two")
    events, done = await chunks(client, mm.base_url(), body(stream_options=None))
    assert done and assemble(events)["usage"] is None
    assert assemble(events)["content"] == "one"
    assert mm.requests[0]["path"] == "/v1/chat/completions"
    assert mm.requests[0]["agent"] == "default"


@pytest.mark.parametrize(
    ("entry", "name", "args"),
    [
        ({"exec": "echo hi > x.txt"}, "exec", {"command": "echo hi > x.txt"}),
        ({"exec": {"cmd": "ls", "workdir": "/w", "justification": "look"}}, "exec",
         {"command": "ls", "workdir": "/w", "title": "look"}),
        ({"read": "/skills/codeswarm/SKILL.md"}, "read", {"path": "/skills/codeswarm/SKILL.md"}),
        ({"write": {"file_path": "b.txt", "content": "hi\n"}}, "write",
         {"path": "b.txt", "content": "hi\n"}),
        ({"edit": {"file_path": "a.py", "old_string": "x = 1", "new_string": "x = 2"}}, "edit",
         {"path": "a.py", "edits": [{"oldText": "x = 1", "newText": "x = 2"}]}),
        ({"patch": "*** Begin Patch\n*** Add File: a\n+x\n*** End Patch\n"}, "apply_patch",
         {"input": "*** Begin Patch\n*** Add File: a\n+x\n*** End Patch\n"}),
        ({"tool": "fake/echo", "arguments": {"x": 1}}, "fake__echo", {"x": 1}),
        ({"call": {"name": "exec", "input": {"command": "sleep 20", "yieldMs": 60000}}}, "exec",
         {"command": "sleep 20", "yieldMs": 60000}),
    ],
)  # fmt: skip
async def test_calls_become_openclaw_tool_calls(
    serve: Serve, client: httpx.AsyncClient, entry: dict[str, Any], name: str, args: Any
) -> None:
    mm = await serve({"text": "On it.", **entry})
    events, done = await chunks(client, mm.base_url("a_0"))
    got = assemble(events)
    assert done and got["content"] == "On it." and got["finish"] == "tool_calls"
    (call,) = got["calls"]
    assert call["name"] == name and call["args"] == args
    assert call["id"].isalnum()  # OpenClaw would rewrite anything else


async def test_non_streaming_request_gets_one_completion(
    serve: Serve, client: httpx.AsyncClient
) -> None:
    mm = await serve(
        {"text": "Plain.", "exec": "ls", "usage": {"input_tokens": 9, "output_tokens": 4}}
    )
    r = await client.post(f"{mm.base_url()}/chat/completions", json=body(stream=False))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    got = r.json()
    assert got["object"] == "chat.completion" and got["model"] == MODEL
    (choice,) = got["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"] == "Plain."
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "exec"
    assert json.loads(call["function"]["arguments"]) == {"command": "ls"}
    assert got["usage"]["prompt_tokens"] == 9 and got["usage"]["completion_tokens"] == 4


async def test_failures_on_the_chat_wire(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve(
        {"http_status": 429},
        {"http_status": 400, "body": {"error": {"message": "mine"}}},
        {"text": "partial answer here", "fail": "boom"},
        {"text": "one two three four five six seven eight nine ten", "cut": True},
        {"fail": "boom"},
    )
    base = mm.base_url("a_0")
    r = await client.post(f"{base}/chat/completions", json=body())
    assert r.status_code == 429 and r.json()["error"]["message"] == "scripted HTTP 429"
    r = await client.post(f"{base}/chat/completions", json=body())
    assert r.status_code == 400 and r.json() == {"error": {"message": "mine"}}
    failed, done = await chunks(client, base)
    assert not done and failed[-1]["error"]["message"] == "boom"
    assert assemble(failed[:-1])["content"] == "partial answer here"
    cut, done = await chunks(client, base)
    assert not done and assemble(cut)["finish"] is None  # dropped halfway
    r = await client.post(f"{base}/chat/completions", json=body(stream=False))
    assert r.status_code == 500 and r.json()["error"]["message"] == "boom"


async def test_bad_body_is_an_openai_error(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve("x")
    r = await client.post(f"{mm.base_url()}/chat/completions", content=b"not json")
    assert r.status_code == 400 and "not a JSON object" in r.json()["error"]["message"]
    assert mm.requests[0]["entry_index"] is None and mm.requests[0]["api"] == "chat"


async def test_when_sees_the_persons_message_not_openclaws_context(
    serve: Serve, client: httpx.AsyncClient
) -> None:
    """Every OpenClaw request ends with its internal-context user message, even right after a
    tool result: ``when`` still sees what the person wrote, on every round trip of the turn."""
    mm = await serve(
        {"when": "(?i)ask the swarm", "exec": "codeswarm send s all hi --wait --json"},
        {"when": "(?i)ask the swarm", "text": "The swarm says hi."},
        "fallback",
    )
    base = mm.base_url("a_0")
    req = body("Please ask the swarm.")
    first = assemble((await chunks(client, base, req))[0])
    assert first["calls"][0]["name"] == "exec"
    message = {
        "content": None,
        "tool_calls": [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c["args"])},
            }
            for c in first["calls"]
        ],
    }
    follow_up = with_tool_round(req, message, '{"s_0": {"text": "hi"}}')
    second = assemble((await chunks(client, base, follow_up))[0])
    assert second["content"] == "The swarm says hi." and second["calls"] == []
    assert [r["entry_index"] for r in mm.requests] == [0, 1]


def test_latest_user_text_of_chat_bodies() -> None:
    assert latest_user_text(body("the prompt")).startswith("[Mon 2026-11-30 16:03 UTC] the prompt")
    only_context = {"messages": [{"role": "user", "content": CONTEXT}]}
    assert latest_user_text(only_context) == ""


async def test_openclaw_models_point_at_the_agent(serve: Serve) -> None:
    mm = await serve("x")
    models = mm.openclaw_models("oc")
    provider_id, model_id = OPENCLAW_MODEL.split("/")
    provider = models["providers"][provider_id]
    assert provider["baseUrl"] == f"{mm.url}/agents/oc/v1"
    assert provider["api"] == "openai-completions"
    assert [m["id"] for m in provider["models"]] == [model_id]
    assert models["catalogRefresh"] == {"enabled": False} and models["mode"] == "replace"
