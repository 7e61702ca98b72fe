"""Noticing that the agent's coordination tools did not come up (the mount is the node's hub,
by URL: the real Codex and hub are in tests/mcp/test_hub_swarm.py): the startup statuses the
relay reads, and a reload asked of the app-server."""

from __future__ import annotations

import asyncio
from typing import Any

from codeswarm.worker import mcpwatch
from codeswarm.worker.mcpwatch import McpKeeper
from swarmkit import wait_until_async


def status(name: str, value: str, error: str | None = None) -> dict[str, Any]:
    return {
        "method": "mcpServer/startupStatus/updated",
        "params": {"name": name, "status": value, "error": error},
    }


async def test_the_keeper_reports_a_failed_start_and_waits_for_the_mount_to_be_ready() -> None:
    lost: list[str] = []
    keeper = McpKeeper("codeswarm", lost.append)
    asked: list[tuple[str, Any]] = []

    async def request(method: str, params: Any) -> Any:
        asked.append((method, params))
        return {}

    await keeper.reload(request)
    assert asked == [("config/mcpServer/reload", None)] and keeper.reloading
    keeper.observe(status("other", "failed", "x"))  # another server's business
    keeper.observe({"method": "turn/completed"})
    keeper.observe("garbage")
    assert lost == []
    keeper.observe(status("codeswarm", "failed", "connection refused"))
    assert lost == ["it failed to start: connection refused"]
    watch = asyncio.ensure_future(keeper.watch())
    keeper.observe(status("codeswarm", "ready"))
    await wait_until_async(lambda: not keeper.reloading, what="ready seen")
    assert not watch.done()  # ready: nothing more to watch, it waits
    watch.cancel()


async def test_a_mount_that_never_comes_up_is_reported(monkeypatch: Any) -> None:
    monkeypatch.setattr(mcpwatch, "READY_TIMEOUT", 0.01)
    keeper = McpKeeper("codeswarm", lambda _d: None)
    assert "did not report ready" in await keeper.watch()
