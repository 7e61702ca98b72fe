"""Noticing a dead MCP server (the pieces; the real Codex and `codeswarm mcp` are in
tests/control/test_crash_gaps.py): finding it among a parent's children, waking on its exit, and
the signals the relay reads."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from codeswarm.worker import mcpwatch
from codeswarm.worker.mcpwatch import McpKeeper, server_pids, transport_closed, wait_exit
from swarmkit import wait_until_async

# a child whose command line looks like the server's (`-m codeswarm.mcp` as arguments)
LOOKALIKE = [sys.executable, "-c", "import time; time.sleep(60)", "-m", "codeswarm.mcp"]


async def test_the_server_is_found_among_the_children_and_its_death_wakes_the_watch() -> None:
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(60)"
    )
    server = await asyncio.create_subprocess_exec(*LOOKALIKE)
    try:
        assert await wait_until_async(lambda: server_pids(os.getpid()), what="the child") == [
            server.pid
        ]
        watch = asyncio.ensure_future(wait_exit(server.pid))
        await asyncio.sleep(0)
        assert not watch.done()
        server.send_signal(signal.SIGKILL)
        async with asyncio.timeout(10):
            await watch
        await server.wait()
        assert server_pids(os.getpid()) == []
    finally:
        for proc in (other, server):
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
    await wait_exit(server.pid)  # gone already: returns at once


def failed_call(error: Any, *, server: str = "codeswarm", started: int = 5) -> dict[str, Any]:
    item = {"type": "mcpToolCall", "server": server, "status": "failed", "error": error,
            "startedAtMs": started}  # fmt: skip
    return {"method": "item/completed", "params": {"item": item}}


def test_transport_closed_is_read_from_a_failed_tool_call() -> None:
    assert transport_closed(failed_call({"message": "tool call failed\n  Transport closed"}),
                            "codeswarm")  # fmt: skip
    assert not transport_closed(failed_call({"message": "bad arguments"}), "codeswarm")
    assert not transport_closed(failed_call("Transport closed", server="other"), "codeswarm")
    assert not transport_closed({"method": "turn/completed"}, "codeswarm")
    assert not transport_closed("garbage", "codeswarm")


def status(name: str, value: str, error: str | None = None) -> dict[str, Any]:
    return {
        "method": "mcpServer/startupStatus/updated",
        "params": {"name": name, "status": value, "error": error},
    }


async def test_the_keeper_reports_a_death_once_and_waits_for_the_new_server(
    monkeypatch: Any,
) -> None:
    lost: list[str] = []
    keeper = McpKeeper("codeswarm", lost.append)
    keeper.observe(failed_call({"message": "Transport closed"}))
    assert lost == ["a tool call failed with 'Transport closed'"]
    asked: list[tuple[str, Any]] = []

    async def request(method: str, params: Any) -> Any:
        asked.append((method, params))
        return {}

    await keeper.reload(request)
    assert asked == [("config/mcpServer/reload", None)] and keeper.reloading
    keeper.observe(failed_call({"message": "Transport closed"}, started=1))  # from before
    assert len(lost) == 1
    keeper.observe(status("other", "failed", "x"))  # another server's business
    keeper.observe(status("codeswarm", "failed", "no such file"))
    assert lost[-1] == "it failed to start: no such file"
    monkeypatch.setattr(mcpwatch, "server_pids", lambda _pid: [])
    watch = asyncio.ensure_future(keeper.watch(1))
    keeper.observe(status("codeswarm", "ready"))
    await wait_until_async(lambda: not keeper.reloading, what="ready seen")
    assert not watch.done()  # nothing to watch here: it waits
    watch.cancel()


async def test_a_server_that_never_comes_back_is_reported(monkeypatch: Any) -> None:
    monkeypatch.setattr(mcpwatch, "READY_TIMEOUT", 0.01)
    keeper = McpKeeper("codeswarm", lambda _d: None)
    assert "did not report ready" in await keeper.watch(1)
