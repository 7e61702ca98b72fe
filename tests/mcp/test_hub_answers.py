"""The coordination hub answers what Codex asks when it mounts it (initialize, the initialized
notification, tools/list) once per shape of server through the SDK, then from memory: the very
bytes the agent's own server gives, its own id in them, without building that server; a tool
call always reaches the agent's own server. The answers are kept across hubs on disk, per stamp
of the code, so that a new swarm's hub answers every mount before it has loaded the SDK. In
process (the ASGI app, no sockets); the real hub process and Codex are in test_hub_swarm.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from codeswarm.mcp.answers import Answer, Kept
from codeswarm.mcp.hub import Hub
from codeswarm.worker.mcphub import grant

# what Codex 0.169.0 sends, header for header (the token aside)
HEADERS = [(b"user-agent", b"codex-mcp-client/0.169.0"),
           (b"accept", b"text/event-stream, application/json"),
           (b"content-type", b"application/json")]  # fmt: skip
VERSION = [(b"mcp-protocol-version", b"2025-06-18")]
INITIALIZE = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {"elicitation": {"form": {}, "url": {}}},
    "clientInfo": {"name": "codex-mcp-client", "title": "Codex", "version": "0.169.0"}}}  # fmt: skip
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
TOOLS = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/list",
    "params": {"_meta": {"progressToken": 0}},
}
MOUNTING = (INITIALIZE, INITIALIZED, TOOLS)


def scope(token: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/mcp", "query_string": b"",
            "headers": [*headers, (b"authorization", f"Bearer {token}".encode()),
                        (b"content-length", str(len(body)).encode())]}  # fmt: skip


class Client:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def post(
        self, token: str, message: dict[str, Any], *, cached: bool = True
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The status, headers and body; ``cached=False``: straight to the agent's own server."""
        body = json.dumps(message, separators=(",", ":")).encode()
        headers = HEADERS if message["method"] == "initialize" else HEADERS + VERSION
        where = scope(token, body, headers)
        pending = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if pending:
                return pending.pop(0)
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        if cached:
            await self.hub(where, receive, send)
        else:
            agent = self.hub.agent(where["headers"])
            assert agent is not None
            await self.hub._serve(agent, where, receive, send)
        start, content = sent
        return start["status"], start["headers"], content.get("body", b"")


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, kept: Kept | None = None, quiet_s: float = 3600.0
) -> AsyncIterator[Hub]:
    """A hub that loads the SDK only for a request that needs it (unless ``quiet_s``)."""
    run = tmp_path / "run"
    (run / "mcp").mkdir(parents=True, exist_ok=True)
    hub = Hub(run, kept, quiet_s)
    started: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    steps: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await steps.put({"type": "lifespan.startup"})
    task = asyncio.create_task(hub({"type": "lifespan"}, steps.get, started.put))
    assert (await started.get())["type"] == "lifespan.startup.complete"
    yield hub
    await steps.put({"type": "lifespan.shutdown"})
    await task


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with running(tmp_path) as hub:
        yield hub


def token_for(tmp_path: Path, name: str, role: str = "worker") -> str:
    env = {"CODESWARM_AGENT_ID": name, "CODESWARM_DB": str(tmp_path / "coord.db"),
           "CODESWARM_SCOPE": str(tmp_path), "CODESWARM_AGENT_ROLE": role}  # fmt: skip
    return grant(tmp_path / "run" / "mcp", name, env, str(tmp_path))[0]


async def test_mount_answers_are_the_agent_s_own_server_s_bytes_and_build_nothing(
    hub: Hub, tmp_path: Path
) -> None:
    client = Client(hub)
    first, second = token_for(tmp_path, "h_0"), token_for(tmp_path, "h_1")
    for message in (INITIALIZE, INITIALIZED, TOOLS):
        await client.post(first, message)  # the SDK answers, once for the shape
    for message, status in ((INITIALIZE, 200), (INITIALIZED, 202), (TOOLS, 200)):
        again = await client.post(second, message)
        own = await client.post(second, message, cached=False)
        assert again == own and again[0] == status
    (agent,) = [a for a in hub._agents.values() if a.name == "h_1"]
    other = await client.post(second, {**TOOLS, "id": 7})
    assert other[2].startswith(b'{"jsonrpc":"2.0","id":7,"result":{"tools":[')
    assert json.loads(other[2])["result"] == json.loads(again[2])["result"]
    assert int(dict(other[1])[b"content-length"]) == len(other[2])

    fresh = token_for(tmp_path, "h_2")
    for message in (INITIALIZE, INITIALIZED, TOOLS):
        await client.post(fresh, message)
    (mounted,) = [a for a in hub._agents.values() if a.name == "h_2"]
    assert mounted._server is None  # answered without its server
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "swarm_status", "arguments": {}}}  # fmt: skip
    status, _, body = await client.post(fresh, call)
    assert status == 200 and json.loads(body)["result"]["structuredContent"]["me"].startswith(
        "h_2#"
    )
    assert mounted._server is not None and agent.name == "h_1"


async def test_each_shape_has_its_own_answers_and_odd_requests_go_to_the_sdk(
    hub: Hub, tmp_path: Path
) -> None:
    client = Client(hub)
    worker, boss = token_for(tmp_path, "h_0"), token_for(tmp_path, "h_9", role="orchestrator")
    names = []
    for token in (worker, boss, worker, boss):
        _, _, body = await client.post(token, TOOLS)
        names.append({t["name"] for t in json.loads(body)["result"]["tools"]})
    assert "delegate" in names[1] and "delegate" not in names[0]
    assert names[0] == names[2] and names[1] == names[3]
    _, _, init = await client.post(boss, INITIALIZE)
    _, _, own = await client.post(boss, INITIALIZE, cached=False)
    assert init == own and b"orchestrat" in init

    await client.post(worker, INITIALIZED)
    kept = len(hub._answers)
    odd_ones = ({**TOOLS, "id": "a"}, {**TOOLS, "id": True}, {**INITIALIZED, "id": 3},
                {**INITIALIZED, "id": None})  # fmt: skip
    for odd in odd_ones:
        status, _, body = await client.post(worker, odd)  # the SDK's own answer, not kept
        assert (status, body) == (await client.post(worker, odd, cached=False))[::2]
    assert len(hub._answers) == kept


async def test_agents_mounting_at_once_wait_for_one_answer(hub: Hub, tmp_path: Path) -> None:
    client = Client(hub)
    tokens = [token_for(tmp_path, f"h_{i}") for i in range(8)]
    for message in (INITIALIZE, INITIALIZED, TOOLS):
        answers = await asyncio.gather(*(client.post(t, message) for t in tokens))
        assert all(answer == answers[0] for answer in answers)
        assert answers[0] == await client.post(tokens[-1], message, cached=False)
    built = [a.name for a in hub._agents.values() if a._server is not None]
    assert built == ["h_0", "h_7"]  # the first to ask, and the one asked directly above


async def test_answers_kept_on_disk_mount_a_new_hub_s_agents_without_the_sdk(
    tmp_path: Path,
) -> None:
    kept = tmp_path / "cache" / "hub-answers.json"
    async with running(tmp_path, Kept(kept, "stamp-1")) as first:
        assert first._answers == {}  # nothing kept yet: the SDK answers, and that is kept
        learned = [await Client(first).post(token_for(tmp_path, "h_0"), m) for m in MOUNTING]
        assert first._sdk is not None
    assert len(json.loads(kept.read_bytes())["stamp-1"]["answers"]) == 3

    async with running(tmp_path, Kept(kept, "stamp-1")) as second:
        client, token = Client(second), token_for(tmp_path, "h_1")
        answers = [await client.post(token, m) for m in MOUNTING]
        assert second._sdk is None  # every mount answered, the SDK not even loading
        assert [a._server for a in second._agents.values()] == [None]
        assert [status for status, _, _ in answers] == [200, 202, 200]
        assert answers == learned
        # the very bytes the agent's own server gives (this loads the SDK)
        assert answers == [await client.post(token, m, cached=False) for m in MOUNTING]

    # another stamp (an upgrade, an edit of the code) has nothing kept: the SDK answers again
    async with running(tmp_path, Kept(kept, "stamp-2")) as third:
        assert third._answers == {}
        await Client(third).post(token_for(tmp_path, "h_2"), TOOLS)
        assert third._sdk is not None
    assert set(json.loads(kept.read_bytes())) == {"stamp-1", "stamp-2"}


async def test_a_kept_file_that_is_not_ours_is_ignored_and_replaced(tmp_path: Path) -> None:
    kept = tmp_path / "hub-answers.json"
    sample = Answer(200, [(b"content-type", b"application/json")], b"{", b"}")
    good = {"status": 200, "head": "{", "tail": "}", "headers": [["a", "b"]]}
    for text in (b"", b"\xff\x00", b"[]", b'{"s": 3}', b'{"s": {"answers": []}}',
                 json.dumps({"s": {"answers": {"k": {**good, "status": 500}}}}).encode(),
                 json.dumps({"s": {"answers": {"k": {**good, "headers": [["a"]]}}}}).encode(),
                 json.dumps({"s": {"answers": {"k": {**good, "head": 3}}}}).encode(),
                 json.dumps({"s": {"answers": {"k": {**good, "tail": "\u20ac"}}}}).encode()):  # fmt: skip
        kept.write_bytes(text)
        assert Kept(kept, "s").load() == {}, text
        Kept(kept, "s").add("k", sample)
        (loaded,) = Kept(kept, "s").load().values()
        assert vars(loaded) == vars(sample)
    # the most recently used stamps are kept, the others dropped
    for n in range(12):
        Kept(kept, f"stamp-{n}").add("k", sample)
    assert sorted(json.loads(kept.read_bytes())) == sorted(f"stamp-{n}" for n in range(4, 12))


async def test_the_sdk_loads_once_every_granted_agent_has_mounted_and_it_is_quiet(
    tmp_path: Path,
) -> None:
    learned = await _learned(tmp_path)
    async with running(tmp_path, quiet_s=0.3) as hub:
        client = Client(hub)
        first, second = token_for(tmp_path, "h_0"), token_for(tmp_path, "h_1")
        hub._answers.update(learned)
        await asyncio.sleep(0.6)  # quiet, but nobody has mounted yet (their Codex starts)
        for message in MOUNTING:
            await client.post(first, message)
        await asyncio.sleep(0.6)  # quiet, but h_1 has not mounted yet
        assert hub._sdk is None
        for _ in range(4):  # a request every 0.1 s: never quiet for 0.3 s
            await client.post(second, INITIALIZE)
            await asyncio.sleep(0.1)
        await client.post(second, TOOLS)  # every agent with a grant has mounted
        await asyncio.sleep(0.1)
        assert hub._sdk is None
        await asyncio.sleep(0.6)
        assert hub._sdk is not None
        await asyncio.wait_for(hub._sdk, 30)
        assert all(agent._server is None for agent in hub._agents.values())


async def _learned(tmp_path: Path) -> dict[str, Answer]:
    """The answers a hub learns from the SDK for one worker's mount."""
    async with running(tmp_path / "learn") as hub:
        token = token_for(tmp_path / "learn", "h_9")
        for message in MOUNTING:
            await Client(hub).post(token, message)
        return dict(hub._answers)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("", 0.5),
        ("  ", 0.5),
        ("2", 2.0),
        ("0", 0.0),
        ("1e9", 0.5),
        ("-1", 0.5),
        ("soon", 0.5),
        ("nan", 0.5),
        ("inf", 0.5),
    ],
)
def test_the_quiet_time_from_the_environment(
    text: str, seconds: float, caplog: pytest.LogCaptureFixture
) -> None:
    """CODESWARM_HUB_QUIET_S: seconds from 0 to a day; anything else is said in one line of
    the hub's log and the default used."""
    from codeswarm.mcp.hub import QUIET_ENV, _quiet_s

    assert _quiet_s(text) == seconds
    said = [r.getMessage() for r in caplog.records]
    if text.strip() and seconds == 0.5:
        (line,) = said
        assert line.startswith(QUIET_ENV) and "\n" not in line
    else:
        assert not said
