"""Noticing that the agent's coordination MCP server died.

Codex starts the server (``python -m codeswarm.mcp``) as its own child, one per loaded thread,
and never restarts it: once it is gone every tool call fails with "Transport closed" for the rest
of the session, and Codex sends no notification when it happens (checked on 0.169.0). So the
worker watches the process itself: it finds the server among Codex's children (``/proc``: the
parent pid and the command line) and waits for it to exit on a pidfd (no polling, no timer). A
failed ``mcpToolCall`` whose error says "Transport closed" is the second, slower signal
(:func:`transport_closed`), for a death the watch could not see (no pidfds before Linux 5.3).

What the worker does about it (:class:`McpKeeper`): ask the app-server to restart the servers of
its loaded threads (``config/mcpServer/reload``: a new process, the same thread, no turn lost),
then watch the new one; if the app-server refuses, or the server does not come back within
:data:`READY_TIMEOUT`, restart Codex at the next idle moment and resume the thread.

Linux only (``/proc``); elsewhere :func:`server_pids` finds nothing and only the second signal
works.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codeswarm.core.pids import wait_pid

MODULE = b"codeswarm.mcp"
"""What the server's command line runs (``<python> -m codeswarm.mcp``)."""
READY_TIMEOUT = 60.0
"""How long a (re)started server may take to report ready before Codex itself is restarted
(Codex gives a server 30 s, ``startup_timeout_sec``)."""

_PROC = Path("/proc")


def server_pids(codex_pid: int) -> list[int]:
    """The live ``codeswarm.mcp`` servers among the children of ``codex_pid``."""
    out = []
    try:
        entries = os.listdir(_PROC)
    except OSError:
        return []
    for name in entries:
        if not name.isdigit():
            continue
        try:
            stat = (_PROC / name / "stat").read_bytes()
            # after the command name in parentheses: state, then the parent pid
            fields = stat[stat.rindex(b")") + 2 :].split()
            if int(fields[1]) != codex_pid or fields[0] == b"Z":
                continue
            argv = (_PROC / name / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if MODULE in argv and b"-m" in argv:
            out.append(int(name))
    return sorted(out)


async def wait_exit(pid: int) -> None:
    """Return once process ``pid`` (not necessarily our child) has exited."""
    await wait_pid(pid)


def transport_closed(msg: Any, server: str) -> bool:
    """``msg`` (a raw Codex message) reports a call to ``server``'s tools that failed because the
    server's pipe is closed (it died)."""
    if not isinstance(msg, dict) or msg.get("method") != "item/completed":
        return False
    item = (msg.get("params") or {}).get("item")
    if not isinstance(item, dict) or item.get("type") != "mcpToolCall":
        return False
    if item.get("server") != server or item.get("status") != "failed":
        return False
    error = item.get("error")
    text = error.get("message") if isinstance(error, dict) else error
    return isinstance(text, str) and "Transport closed" in text


async def wait_any_exit(pids: list[int]) -> int:
    """Return the first of ``pids`` to exit."""
    waits = {asyncio.ensure_future(wait_exit(pid)): pid for pid in pids}
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        return waits[next(iter(done))]
    finally:
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


class McpKeeper:
    """The state of one agent's MCP server as the worker sees it; the worker's loop decides.

    ``lost(detail)`` is how the keeper tells the worker the server is gone (called from the
    relay or a watch task; the worker queues it for its loop).
    """

    def __init__(self, server: str, lost: Callable[[str], None]) -> None:
        self.server = server
        self._lost = lost
        self._ready = asyncio.Event()
        self._reload_ms = 0  # wall clock of the last reload we asked for
        self.reloading = False
        """A reload was asked for and the new server has not reported ready yet."""

    def observe(self, msg: Any) -> None:
        """Every raw Codex message (from the relay, in order): the server's startup status, and
        tool calls that failed because it is gone."""
        if not isinstance(msg, dict):
            return
        if msg.get("method") == "mcpServer/startupStatus/updated":
            params = msg.get("params") or {}
            if params.get("name") != self.server:
                return
            if params.get("status") == "ready":
                self._ready.set()
            elif params.get("status") == "failed":
                self._lost(f"it failed to start: {params.get('error') or 'no reason given'}")
        elif transport_closed(msg, self.server) and not self.reloading:
            item = (msg.get("params") or {}).get("item") or {}
            started = item.get("startedAtMs")
            if not isinstance(started, int) or started >= self._reload_ms:
                self._lost("a tool call failed with 'Transport closed'")

    async def watch(self, codex_pid: int) -> str:
        """Wait until the server is ready, then until it exits; returns what happened. Waits
        forever if it cannot be found (not Linux); says so if it never became ready."""
        try:
            await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT)
        except TimeoutError:
            return f"it did not report ready within {READY_TIMEOUT:g}s"
        pids = server_pids(codex_pid)
        self.reloading = False
        if not pids:
            await asyncio.Event().wait()  # nothing to watch: the 'Transport closed' signal only
        pid = await wait_any_exit(pids)
        return f"pid {pid} exited"

    async def reload(self, request: Callable[[str, Any], Any]) -> None:
        """Ask the app-server to restart the servers of its loaded threads (``request`` is
        :meth:`AppServer.request`); raises what it raises."""
        self.reloading = True
        self._ready.clear()
        self._reload_ms = int(time.time() * 1000)
        await request("config/mcpServer/reload", None)

    def reset(self) -> None:
        """A new Codex: its server reports ready anew."""
        self.reloading = False
        self._ready.clear()
