"""Approval policies and the wire shapes of their replies."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from codeswarm.codex.approval import (
    AcceptWithinWorkspace,
    Decision,
    QueuePolicy,
    build_request,
    wire_reply,
)


def req(method: str, params: dict, items: dict | None = None):  # type: ignore[no-untyped-def,type-arg]
    r = build_request({"id": 7, "method": method, "params": params}, items or {})
    assert r is not None
    return r


async def test_workspace_policy(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    policy = AcceptWithinWorkspace(ws)
    cmd = "item/commandExecution/requestApproval"
    assert await policy.decide(req(cmd, {"command": "ls", "cwd": str(ws)})) is Decision.ACCEPT
    assert await policy.decide(req(cmd, {"command": "ls", "cwd": "/etc"})) is Decision.DECLINE
    fc = "item/fileChange/requestApproval"
    inside = {"f": {"id": "f", "changes": [{"path": str(ws / "a"), "kind": {"type": "add"}}]}}
    escape = {
        "f": {
            "id": "f",
            "changes": [{"path": str(ws / "a"), "kind": {"type": "update", "move_path": "/etc/x"}}],
        }
    }
    assert await policy.decide(req(fc, {"itemId": "f"}, inside)) is Decision.ACCEPT
    assert await policy.decide(req(fc, {"itemId": "f"}, escape)) is Decision.DECLINE
    assert req(fc, {"itemId": "f"}, escape).paths == (str(ws / "a"), "/etc/x")
    assert (
        await policy.decide(req(fc, {"itemId": "f", "grantRoot": "/"}, inside)) is Decision.DECLINE
    )
    perm = req("item/permissions/requestApproval", {"permissions": {"network": {}}})
    assert await policy.decide(perm) is Decision.DECLINE
    tool = req(
        "mcpServer/elicitation/request",
        {"serverName": "codeswarm", "_meta": {"codex_approval_kind": "mcp_tool_call"}},
    )
    assert tool.kind == "mcp_tool_call"
    assert await policy.decide(tool) is Decision.ACCEPT
    form = req("mcpServer/elicitation/request", {"serverName": "x", "mode": "form"})
    assert await policy.decide(form) is Decision.DECLINE


def test_wire_shapes() -> None:
    cmd = req("item/commandExecution/requestApproval", {})
    assert wire_reply(cmd, Decision.ACCEPT_FOR_SESSION) == {"decision": "acceptForSession"}
    tool = req("mcpServer/elicitation/request", {"_meta": {"codex_approval_kind": "mcp_tool_call"}})
    assert wire_reply(tool, Decision.ACCEPT) == {"action": "accept", "content": {}, "_meta": None}
    assert wire_reply(tool, Decision.ACCEPT_FOR_SESSION)["_meta"] == {"persist": "session"}
    assert wire_reply(tool, Decision.DECLINE)["action"] == "decline"
    perm = req(
        "item/permissions/requestApproval",
        {"permissions": {"network": {"x": 1}, "fileSystem": None}},
    )
    assert wire_reply(perm, Decision.ACCEPT) == {
        "permissions": {"network": {"x": 1}},
        "scope": "turn",
    }
    assert wire_reply(perm, Decision.DECLINE) == {"permissions": {}, "scope": "turn"}
    legacy = req("execCommandApproval", {"command": ["ls", "-l"]})
    assert legacy.command == "ls -l"
    assert wire_reply(legacy, Decision.ACCEPT) == {"decision": "approved"}
    assert "denied" in wire_reply(legacy, Decision.DECLINE)["decision"]
    assert wire_reply(legacy, Decision.CANCEL) == {"decision": "abort"}


def test_not_an_approval() -> None:
    assert build_request({"id": 1, "method": "item/tool/call", "params": {}}, {}) is None
    assert build_request({"id": 1, "method": 3}, {}) is None


async def test_queue_policy_hands_over_and_times_out() -> None:
    policy = QueuePolicy()
    r = req("item/commandExecution/requestApproval", {"command": "make"})
    task = asyncio.create_task(policy.decide(r))
    pending = await policy.queue.get()
    assert pending.request is r and "make" in pending.request.summary()
    pending.resolve(Decision.ACCEPT)
    pending.resolve(Decision.DECLINE)  # a second answer is ignored
    assert await task is Decision.ACCEPT
    quick = QueuePolicy(timeout=0.01)
    assert await quick.decide(r) is Decision.DECLINE


@pytest.mark.parametrize("kind", ["command", "file_change", "permissions", "mcp_tool_call"])
def test_summaries_are_one_line(kind: str) -> None:
    method = {
        "command": "item/commandExecution/requestApproval",
        "file_change": "item/fileChange/requestApproval",
        "permissions": "item/permissions/requestApproval",
        "mcp_tool_call": "mcpServer/elicitation/request",
    }[kind]
    params = {"_meta": {"codex_approval_kind": "mcp_tool_call"}, "reason": "why"}
    assert "\n" not in req(method, params).summary()
