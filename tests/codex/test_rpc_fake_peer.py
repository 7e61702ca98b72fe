"""The app-server client against a misbehaving fake peer (a real child process)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from codeswarm.codex import ApprovalRequest, AppServer, CallbackPolicy, Decision
from codeswarm.codex.rpc import METHOD_NOT_FOUND, State
from codeswarm.core.errors import ClosedError, ProcessExitedError, RpcError
from swarmkit import wait_until_async

PEER = [sys.executable, "-u", str(Path(__file__).parents[1] / "fakes" / "peer.py")]


async def open_peer(tmp_path: Path, **kw: object) -> AppServer:
    return await AppServer.spawn(PEER, codex_home=tmp_path / "home", initialize=False, **kw)  # type: ignore[arg-type]


async def test_echo_and_error_reply(tmp_path: Path) -> None:
    async with await open_peer(tmp_path) as peer:
        assert await peer.request("echo", {"a": 1}) == {"a": 1}
        with pytest.raises(RpcError) as info:
            await peer.request("nope")
        assert info.value.code == -32600
        assert "unknown method nope" in str(info.value)


async def test_garbage_and_partial_lines_are_survived(tmp_path: Path) -> None:
    async with await open_peer(tmp_path) as peer:
        sub = peer.subscribe()
        assert await asyncio.wait_for(peer.request("garbage"), 5) == "after garbage"
        stats = peer.statistics()
        assert stats.bad_lines == 3  # not JSON, not an object, reply to no request
        assert stats.unmatched_replies == 1
        # the line split across two writes arrived whole
        msg = await asyncio.wait_for(sub.get(), 5)
        assert msg == {"method": "test/split", "params": {"ok": True}}
        assert await peer.request("echo", 5) == 5  # still usable


async def test_notification_before_its_reply_is_not_lost(tmp_path: Path) -> None:
    async with await open_peer(tmp_path) as peer:
        sub = peer.subscribe()
        assert await peer.request("note_first") == "reply"
        # the notification was buffered before the reply resolved the request
        assert len(sub) == 1
        note = sub.get_nowait()
        assert note is not None and note["method"] == "test/note"


async def test_unknown_server_request_gets_a_jsonrpc_error(tmp_path: Path) -> None:
    async with await open_peer(tmp_path) as peer:
        answer = await asyncio.wait_for(
            peer.request("ask", {"method": "item/tool/call", "params": {}}), 5
        )
        assert answer["id"] == "srv-1"
        assert answer["error"]["code"] == METHOD_NOT_FOUND
        assert "item/tool/call" in answer["error"]["message"]
        answer = await asyncio.wait_for(peer.request("ask", {"method": "no/such/method"}), 5)
        assert answer["error"]["code"] == METHOD_NOT_FOUND


async def test_approval_request_goes_through_the_policy(tmp_path: Path) -> None:
    seen: list[ApprovalRequest] = []

    async def decide(req: ApprovalRequest) -> Decision:
        seen.append(req)
        return Decision.DECLINE

    async with await open_peer(tmp_path, approval=CallbackPolicy(decide)) as peer:
        answer = await peer.request(
            "ask",
            {
                "method": "item/commandExecution/requestApproval",
                "params": {"threadId": "t", "turnId": "u", "itemId": "i", "command": "rm -rf /"},
            },
        )
        assert answer == {"id": "srv-1", "result": {"decision": "decline"}}
        assert seen[0].kind == "command" and seen[0].command == "rm -rf /"


async def test_failing_policy_still_answers(tmp_path: Path) -> None:
    async def broken(req: ApprovalRequest) -> Decision:
        raise RuntimeError("policy exploded")

    async with await open_peer(tmp_path, approval=CallbackPolicy(broken)) as peer:
        answer = await peer.request(
            "ask", {"method": "item/fileChange/requestApproval", "params": {"itemId": "x"}}
        )
        assert answer["error"]["code"] == -32603
        assert "policy exploded" in answer["error"]["message"]


async def test_death_fails_every_pending_request_with_pid_and_code(tmp_path: Path) -> None:
    peer = await open_peer(tmp_path)
    try:
        hanging = [asyncio.create_task(peer.request("hang")) for _ in range(3)]
        sub = peer.subscribe()
        await wait_until_async(lambda: peer.statistics().pending == 3, what="the hangs sent")
        with pytest.raises(ProcessExitedError) as info:
            await asyncio.wait_for(peer.request("die", {"code": 7, "stderr": "fatal: boom"}), 10)
        err = info.value
        assert err.pid == peer.pid and err.returncode == 7
        assert "fatal: boom" in str(err)
        for task in hanging:
            with pytest.raises(ProcessExitedError):
                await asyncio.wait_for(task, 5)
        with pytest.raises(ProcessExitedError):
            await asyncio.wait_for(sub.get(), 5)  # subscribers are told, not left waiting
        with pytest.raises(ProcessExitedError):
            await peer.request("echo")  # later calls fail at once
        assert peer.rpc.state is State.LOST
    finally:
        await peer.aclose()


async def test_aclose_fails_pending_and_is_idempotent(tmp_path: Path) -> None:
    peer = await open_peer(tmp_path)
    pending = asyncio.create_task(peer.request("hang"))
    await wait_until_async(lambda: peer.statistics().pending == 1, what="the hang sent")
    await peer.aclose(grace=2)
    await peer.aclose()
    with pytest.raises(ClosedError):
        await asyncio.wait_for(pending, 5)
    with pytest.raises(ClosedError):
        await peer.request("echo")
    assert peer.pid is not None
    assert peer.transport.returncode is not None  # type: ignore[attr-defined]


async def test_flood_is_delivered_in_order(tmp_path: Path) -> None:
    async with await open_peer(tmp_path) as peer:
        sub = peer.subscribe()
        n = 20_000
        assert await asyncio.wait_for(peer.request("flood", {"n": n}), 30) == n
        got = [sub.get_nowait() for _ in range(n)]
        assert [m["params"]["i"] for m in got if m] == list(range(n))


async def test_missing_program_is_a_usage_error(tmp_path: Path) -> None:
    from codeswarm.core.errors import UsageError

    with pytest.raises(UsageError, match="no such file"):
        await AppServer.spawn(["/nonexistent/codex"], codex_home=tmp_path / "h")
