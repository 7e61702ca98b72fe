"""The scripted model's HTTP side, driven with httpx against the in-process server."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from codeswarm.core.errors import ClosedError, UsageError
from codeswarm.mockmodel import MockModel, Script, to_codex_flags

REQUEST = {
    "model": "gpt-5.5",
    "stream": True,
    "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
    ],
}

Serve = Callable[..., Any]


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


@pytest.fixture
async def client(stack: AsyncExitStack) -> httpx.AsyncClient:
    c = httpx.AsyncClient(trust_env=False, timeout=10)
    return await stack.enter_async_context(c)


@pytest.fixture
def serve(stack: AsyncExitStack) -> Serve:
    async def start(*entries: Any, agents: dict[str, Any] | None = None, **kw: Any) -> MockModel:
        doc = {"agents": agents if agents is not None else {"*": list(entries)}}
        return await stack.enter_async_context(MockModel(Script.from_obj(doc), **kw))

    return start


def prompt(text: str) -> dict[str, Any]:
    body = json.loads(json.dumps(REQUEST))
    body["input"][0]["content"][0]["text"] = text
    return body


async def events(
    client: httpx.AsyncClient, url: str, body: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """POST a request and parse its SSE answer; checks every frame's `event:` names its type."""
    out: list[dict[str, Any]] = []
    async with client.stream("POST", f"{url}/responses", json=body or REQUEST) as r:
        assert r.status_code == 200
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


def types(evs: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in evs]


def output(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["item"] for e in evs if e["type"] == "response.output_item.done"]


# -- the SSE stream ------------------------------------------------------------------------------


async def test_text_streams_as_deltas(serve: Serve, client: httpx.AsyncClient) -> None:
    text = "Hello there. This answer has quite a few words, so it comes in several deltas."
    mm = await serve({"text": text})
    evs = await events(client, mm.base_url("demo_0"))
    kinds = types(evs)
    assert kinds[:3] == [
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-3:] == [
        "response.output_text.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [e["delta"] for e in evs if e["type"] == "response.output_text.delta"]
    assert len(deltas) > 3
    assert "".join(deltas) == text
    (item,) = output(evs)
    assert item["type"] == "message" and item["role"] == "assistant"
    assert item["content"][0] == {"type": "output_text", "text": text, "annotations": []}
    assert {e["item_id"] for e in evs if "item_id" in e} == {item["id"]}
    done = evs[-1]["response"]
    assert done["id"] == evs[0]["response"]["id"]
    assert done["status"] == "completed"
    assert done["output"] == [item]


async def test_chunk_sets_delta_size(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve({"text": "abcdefghijk", "chunk": 4})
    evs = await events(client, mm.base_url("a_0"))
    deltas = [e["delta"] for e in evs if e["type"] == "response.output_text.delta"]
    assert deltas == ["abcd", "efgh", "ijk"]


async def test_declared_usage_passes_through_exactly(
    serve: Serve, client: httpx.AsyncClient
) -> None:
    usage = {
        "input_tokens": 120,
        "output_tokens": 30,
        "cached_input_tokens": 7,
        "reasoning_tokens": 5,
    }
    mm = await serve(
        {"text": "hi", "usage": usage}, {"text": "hi", "usage": {**usage, "total_tokens": 1}}
    )
    first = (await events(client, mm.base_url("a_0")))[-1]["response"]["usage"]
    assert first == {
        "input_tokens": 120,
        "input_tokens_details": {"cached_tokens": 7},
        "output_tokens": 30,
        "output_tokens_details": {"reasoning_tokens": 5},
        "total_tokens": 150,
    }
    second = (await events(client, mm.base_url("a_0")))[-1]["response"]["usage"]
    assert second["total_tokens"] == 1


async def test_undeclared_usage_is_a_deterministic_estimate(
    serve: Serve, client: httpx.AsyncClient
) -> None:
    mm = await serve({"text": "x" * 40}, {"text": "x" * 40})
    usages = [(await events(client, mm.base_url("a_0")))[-1]["response"]["usage"] for _ in range(2)]
    assert usages[0] == usages[1]
    body_bytes = len(httpx.Request("POST", "http://x", json=REQUEST).content)
    assert usages[0]["input_tokens"] == body_bytes // 4
    assert usages[0]["output_tokens"] == 10
    assert usages[0]["total_tokens"] == body_bytes // 4 + 10


async def test_tool_calls(serve: Serve, client: httpx.AsyncClient) -> None:
    patch = "*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch\n"
    mm = await serve(
        {"exec": "echo hi > out.txt"},
        {"exec": {"cmd": "ls", "workdir": "/tmp"}},
        {"patch": patch},
        {"tool": "lease_acquire", "arguments": {"path": "a.txt"}},
        {"tool": "other/ping"},
        {"tool": "ping", "server": "srv", "arguments": '{"n": 1}'},
    )
    items = [output(await events(client, mm.base_url("a_0")))[0] for _ in range(6)]
    assert items[0]["type"] == "function_call"
    assert items[0]["name"] == "exec_command"
    assert json.loads(items[0]["arguments"]) == {"cmd": "echo hi > out.txt"}
    assert json.loads(items[1]["arguments"]) == {"cmd": "ls", "workdir": "/tmp"}
    assert items[2]["type"] == "custom_tool_call"
    assert items[2]["name"] == "apply_patch" and items[2]["input"] == patch
    assert items[3]["namespace"] == "mcp__codeswarm" and items[3]["name"] == "lease_acquire"
    assert json.loads(items[3]["arguments"]) == {"path": "a.txt"}
    assert (items[4]["namespace"], items[4]["name"], items[4]["arguments"]) == (
        "mcp__other",
        "ping",
        "{}",
    )
    assert (items[5]["namespace"], items[5]["arguments"]) == ("mcp__srv", '{"n": 1}')
    call_ids = [i["call_id"] for i in items]
    assert len(set(call_ids)) == len(call_ids), "call ids are unique per run"


async def test_reasoning_then_text_then_call(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve({"reasoning": "Let me look around.", "text": "Listing files.", "exec": "ls"})
    evs = await events(client, mm.base_url("a_0"))
    items = output(evs)
    assert [i["type"] for i in items] == ["reasoning", "message", "function_call"]
    assert items[0]["summary"] == [{"type": "summary_text", "text": "Let me look around."}]
    summary = [e["delta"] for e in evs if e["type"] == "response.reasoning_summary_text.delta"]
    assert "".join(summary) == "Let me look around."
    assert [e["output_index"] for e in evs if e["type"] == "response.output_item.done"] == [0, 1, 2]


async def test_fail_sends_response_failed(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve({"fail": "boom"}, {"text": "partial", "fail": "later"})
    evs = await events(client, mm.base_url("a_0"))
    assert types(evs) == ["response.created", "response.failed"]
    assert evs[-1]["response"]["error"]["message"] == "boom"
    evs = await events(client, mm.base_url("a_0"))
    assert "response.output_text.delta" in types(evs)
    assert types(evs)[-1] == "response.failed"
    assert "response.completed" not in types(evs)


async def test_cut_ends_the_stream_early(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve(
        {"text": "one two three four five six seven eight nine ten", "cut": True}, "next"
    )
    evs = await events(client, mm.base_url("a_0"))
    assert "response.output_text.delta" in types(evs)
    assert "response.output_item.done" not in types(evs)
    assert "response.completed" not in types(evs)
    # the connection is still good for the next request
    assert types(await events(client, mm.base_url("a_0")))[-1] == "response.completed"


async def test_http_status(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve(
        {"http_status": 500},
        {"http_status": 400, "body": {"error": {"message": "bad thing"}}},
        {"http_status": 429, "body": "slow down"},
    )
    url = f"{mm.base_url('a_0')}/responses"
    r = await client.post(url, json=REQUEST)
    assert r.status_code == 500
    assert r.json()["error"]["message"] == "scripted HTTP 500"
    r = await client.post(url, json=REQUEST)
    assert (r.status_code, r.json()) == (400, {"error": {"message": "bad thing"}})
    r = await client.post(url, json=REQUEST)
    assert (r.status_code, r.text) == (429, "slow down")


async def test_exhausted_script_answers_politely(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve("only")
    await events(client, mm.base_url("a_0"))
    for _ in range(2):
        evs = await events(client, mm.base_url("a_0"))
        assert output(evs)[0]["content"][0]["text"] == "(script exhausted)"
        assert types(evs)[-1] == "response.completed"
    assert [r["entry_index"] for r in mm.requests] == [0, None, None]


async def test_when_matches_the_latest_user_message(
    serve: Serve, client: httpx.AsyncClient
) -> None:
    mm = await serve("in order", {"when": "(?i)status", "text": "all green"})
    url = mm.base_url("a_0")
    assert (
        output(await events(client, url, prompt("What is the STATUS?")))[0]["content"][0]["text"]
        == "all green"
    )
    assert (
        output(await events(client, url, prompt("What is the status?")))[0]["content"][0]["text"]
        == "in order"
    )


# -- agents, delays, concurrency ------------------------------------------------------------------


async def test_each_agent_has_its_own_cursor(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve(agents={"*": ["a", "b"], "1": ["rank one"], "demo_2": ["exact"]})

    async def text(agent: str | None) -> str:
        return str(output(await events(client, mm.base_url(agent)))[0]["content"][0]["text"])

    assert [await text("demo_0"), await text("demo_0"), await text("demo_3")] == ["a", "b", "a"]
    assert [await text("demo_1"), await text("demo_2"), await text(None)] == [
        "rank one",
        "exact",
        "a",
    ]
    assert [r["script_key"] for r in mm.requests] == ["*", "*", "*", "1", "demo_2", "*"]


async def test_plain_paths_are_agent_default(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve("a", "b", "c")
    await events(client, f"{mm.url}/v1")
    await events(client, mm.url)
    await events(client, f"{mm.url}/agents/x_0")
    assert [(r["agent"], r["path"]) for r in mm.requests] == [
        ("default", "/v1/responses"),
        ("default", "/responses"),
        ("x_0", "/agents/x_0/responses"),
    ]
    assert [r["entry_index"] for r in mm.requests] == [0, 1, 0]


async def test_a_delayed_agent_does_not_block_others(
    serve: Serve, client: httpx.AsyncClient
) -> None:
    mm = await serve(agents={"slow_0": [{"delay": 60, "text": "late"}], "*": ["quick"]})
    slow = asyncio.create_task(client.post(f"{mm.base_url('slow_0')}/responses", json=REQUEST))
    await mm.wait_requests(1)
    evs = await events(client, mm.base_url("fast_1"))
    assert output(evs)[0]["content"][0]["text"] == "quick"
    assert not slow.done()
    # closing the server cuts the delay short: the waiting client hears 503, not silence
    async with asyncio.timeout(5):
        await mm.aclose()
        r = await slow
    assert r.status_code == 503


async def test_a_held_answer_waits_for_its_release(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve(
        agents={"a_0": [{"hold": "a", "text": "held"}, {"hold": "b", "text": "held too"}],
                "*": ["quick"]}
    )  # fmt: skip
    held = asyncio.create_task(client.post(f"{mm.base_url('a_0')}/responses", json=REQUEST))
    await mm.wait_requests(1)
    assert output(await events(client, mm.base_url("x_1")))[0]["content"][0]["text"] == "quick"
    await asyncio.sleep(0.2)
    assert not held.done()  # no time limit: held until released
    mm.release("a")
    async with asyncio.timeout(5):
        r = await held
    assert r.status_code == 200 and '"held"' in r.text
    # over HTTP, from a client elsewhere; released before it is asked: answered at once
    assert (await client.post(f"{mm.url}/holds/b/release")).json() == {"released": "b"}
    async with asyncio.timeout(5):
        evs = await events(client, mm.base_url("a_0"))
    assert output(evs)[0]["content"][0]["text"] == "held too"
    # closing cuts a held answer short, as a delay: 503
    mm2 = await serve({"hold": "never", "text": "x"})
    waiting = asyncio.create_task(client.post(f"{mm2.base_url('a_0')}/responses", json=REQUEST))
    await mm2.wait_requests(1)
    async with asyncio.timeout(5):
        await mm2.aclose()
        assert (await waiting).status_code == 503


async def test_delay_then_answer(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve(
        {"delay": 0.05, "delta_delay": 0.001, "text": "one two three four five six seven"}
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    evs = await events(client, mm.base_url("a_0"))
    assert loop.time() - started >= 0.05
    assert types(evs)[-1] == "response.completed"


async def test_client_leaving_during_delay_is_quiet(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mm = await serve({"delay": 60, "text": "never sent"}, "second")
    async with httpx.AsyncClient(trust_env=False) as gone:
        waiting = asyncio.create_task(gone.post(f"{mm.base_url('a_0')}/responses", json=REQUEST))
        await mm.wait_requests(1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    async with httpx.AsyncClient(trust_env=False) as fresh:
        assert types(await events(fresh, mm.base_url("a_0")))[-1] == "response.completed"
    async with asyncio.timeout(5):
        await mm.aclose()
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert noisy == [], [r.getMessage() for r in noisy]


async def test_close_with_a_stream_open(serve: Serve) -> None:
    mm = await serve({"text": "a b c d e f g h i j k l m n o p", "chunk": 1, "delta_delay": 60})
    url = f"{mm.base_url('a_0')}/responses"
    async with (
        httpx.AsyncClient(trust_env=False) as c,
        c.stream("POST", url, json=REQUEST) as r,
    ):
        lines = r.aiter_lines()
        async for line in lines:
            if "output_text.delta" in line:
                break
        async with asyncio.timeout(5):
            await mm.aclose()
        rest = [line async for line in lines]
    assert not any("response.completed" in line for line in rest)


# -- the request log ------------------------------------------------------------------------------


async def test_request_log(serve: Serve, client: httpx.AsyncClient, tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    mm = await serve({"text": "hi", "note": "first"}, {"exec": "ls"}, log_path=log)
    meta = {"turn_id": "t-1", "thread_id": "th"}
    headers = {
        "session-id": "s-1",
        "thread-id": "th",
        "x-codex-turn-metadata": json.dumps(meta),
        "authorization": "not logged",
    }
    async with client.stream(
        "POST", f"{mm.base_url('demo_0')}/responses", json=REQUEST, headers=headers
    ) as r:
        await r.aread()
    async with client.stream(
        "POST",
        f"{mm.base_url('demo_0')}/responses",
        json=prompt("next"),
        headers={"x-codex-turn-metadata": "{oops"},
    ) as r:
        await r.aread()
    first, second = await mm.wait_requests(2)
    assert first["seq"] == 1 and second["seq"] == 2
    assert first["agent"] == "demo_0"
    assert first["path"] == "/agents/demo_0/v1/responses"
    assert first["headers"] == {
        "session-id": "s-1",
        "thread-id": "th",
        "x-codex-turn-metadata": meta,
    }
    assert second["headers"] == {"x-codex-turn-metadata": "{oops"}
    assert first["body"] == REQUEST
    assert (first["entry_index"], first["entry"]) == (0, {"text": "hi", "note": "first"})
    assert (second["entry_index"], second["entry"]) == (1, {"exec": "ls"})
    assert isinstance(first["ts"], float)
    on_disk = [json.loads(line) for line in log.read_text().splitlines()]
    assert on_disk == mm.requests
    assert mm.requests_for("demo_0") == mm.requests
    assert mm.requests_for("demo_1") == []
    assert mm.request_count == 2


async def test_wait_requests_wakes_on_arrival(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve("a", "b")
    waiter = asyncio.create_task(mm.wait_requests(2))
    await events(client, mm.base_url("a_0"))
    assert not waiter.done()
    await events(client, mm.base_url("a_0"))
    assert len(await waiter) == 2
    with pytest.raises(TimeoutError, match="2 of 3 requests"):
        await mm.wait_requests(3, timeout=0.01)


async def test_keep_requests_off(serve: Serve, client: httpx.AsyncClient) -> None:
    mm = await serve("a", keep_requests=False)
    await events(client, mm.base_url("a_0"))
    assert mm.requests == [] and mm.request_count == 1


async def test_bad_requests(
    serve: Serve, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    mm = await serve("a")
    r = await client.post(f"{mm.base_url('a_0')}/responses", content=b"not json")
    assert r.status_code == 400
    assert (mm.requests[0]["body"], mm.requests[0]["entry_index"]) == (None, None)
    r = await client.get(f"{mm.base_url('a_0')}/models")
    assert r.status_code == 404
    assert "does not serve GET /agents/a_0/v1/models" in r.json()["error"]["message"]
    assert "/agents/a_0/v1/models" in caplog.text
    r = await client.get(f"{mm.base_url('a_0')}/responses")
    assert r.status_code == 405 and "error" in r.json()
    # the garbage consumed no entry
    assert output(await events(client, mm.base_url("a_0")))[0]["content"][0]["text"] == "a"


# -- lifecycle and configuration ------------------------------------------------------------------


async def test_lifecycle() -> None:
    mm = MockModel(Script.from_obj({"agents": {}}), port=0)
    async with mm:
        assert mm.port > 0
        assert mm.url == f"http://127.0.0.1:{mm.port}"
        with pytest.raises(ClosedError):
            await mm.start()
    await mm.aclose()  # twice is fine
    with pytest.raises(ClosedError):
        await mm.start()


async def test_port_in_use_is_a_usage_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        mm = MockModel(Script.from_obj({"agents": {}}), port=port)
        with pytest.raises(UsageError, match=f"cannot listen on 127.0.0.1:{port}"):
            await mm.start()
        await mm.aclose()


async def test_unwritable_log_is_a_usage_error(tmp_path: Path) -> None:
    mm = MockModel(Script.from_obj({"agents": {}}), log_path=tmp_path / "no" / "such" / "dir.jsonl")
    with pytest.raises(UsageError, match="cannot open request log"):
        await mm.start()


async def test_given_port(serve: Serve) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mm = await serve("a", port=port)
    assert mm.port == port


async def test_a_socket_bound_by_the_caller(client: httpx.AsyncClient) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    mm = MockModel(Script.from_obj({"agents": {"*": ["via sock"]}}), sock=sock)
    assert mm.base_url("a_0") == f"http://127.0.0.1:{port}/agents/a_0/v1"  # known before start
    async with mm:
        evs = await events(client, mm.base_url("a_0"))
        assert output(evs)[0]["content"][0]["text"] == "via sock"
    assert sock.fileno() == -1, "the model owns the socket and closed it"


async def test_codex_config(serve: Serve) -> None:
    mm = await serve("a")
    base = f"http://127.0.0.1:{mm.port}/agents/demo_0/v1"
    assert mm.base_url("demo_0") == base
    assert mm.base_url() == f"http://127.0.0.1:{mm.port}/v1"
    with pytest.raises(ValueError, match="agent id"):
        mm.base_url("a/b")
    cfg = mm.codex_config(agent="demo_0")
    assert cfg == {
        "model_provider": "codeswarm-mock",
        "model": "gpt-5.5",
        "model_providers.codeswarm-mock": {
            "name": "codeswarm scripted model",
            "base_url": base,
            "wire_api": "responses",
            "supports_websockets": False,
            "request_max_retries": 0,
            "stream_max_retries": 0,
        },
        "features.plugins": False,
    }
    flags = to_codex_flags(cfg)
    assert flags[::2] == ["-c"] * 4
    assert f'base_url = "{base}"' in flags[5]


# -- the CLI --------------------------------------------------------------------------------------


async def test_cli_serves_until_interrupted(tmp_path: Path, client: httpx.AsyncClient) -> None:
    import signal
    import sys

    script_path = tmp_path / "s.yaml"
    script_path.write_text("agents:\n  '*':\n    - hello from the CLI\n")
    log = tmp_path / "log.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "codeswarm", "mock-model", "serve",
        "--script", str(script_path), "--log", str(log), "--agent", "demo_0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(20):
            printed: dict[str, str] = {}
            while "codex flags" not in printed:
                line = (await proc.stdout.readline()).decode()
                assert line, "the CLI exited early"
                key, _, value = line.partition(":")
                printed[key] = value.strip()
            base = printed["base URL"]
            assert base.startswith("http://127.0.0.1:") and base.endswith("/agents/demo_0/v1")
            assert f'base_url = "{base}"' in printed["codex flags"]
            evs = await events(client, base)
            assert output(evs)[0]["content"][0]["text"] == "hello from the CLI"
            proc.send_signal(signal.SIGINT)
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err
    assert "scripted model stopped" in err.decode()
    assert json.loads(log.read_text())["agent"] == "demo_0"


async def test_cli_bad_script_is_one_line(tmp_path: Path) -> None:
    import sys

    (tmp_path / "bad.json").write_text('{"agents": {"*": [{"txt": "x"}]}}')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "codeswarm", "mock-model", "serve", "--script", str(tmp_path / "bad.json"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(20):
        out, err = await proc.communicate()
    assert proc.returncode == 2
    assert out == b""
    assert (
        err.decode()
        == f"codeswarm: error: {tmp_path / 'bad.json'}: agents.\"*\"[0]: unknown key 'txt'\n"
    )
