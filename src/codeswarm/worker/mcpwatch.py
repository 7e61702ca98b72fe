"""Noticing that the agent's coordination tools did not come up.

Every fleet agent's Codex mounts the node's hub by URL (:mod:`codeswarm.worker.mcphub`): there is
no server process of its own to die, and a hub that dies is restarted by the node's workers on
the same port (Codex's next request reaches the new one). What is left to watch is Codex's
report on the mount: ``mcpServer/startupStatus/updated`` ``failed``, or no ``ready`` within
:data:`READY_TIMEOUT`.

What the worker does about it (:class:`McpKeeper`): ask the app-server to connect again
(``config/mcpServer/reload``: the same thread, no turn lost); if the app-server refuses, or the
mount does not report ready within :data:`READY_TIMEOUT`, restart Codex at the next idle moment
and resume the thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

READY_TIMEOUT = 60.0
"""How long a (re)connected mount may take to report ready before Codex itself is restarted
(Codex gives a server 30 s, ``startup_timeout_sec``)."""


class McpKeeper:
    """The state of one agent's MCP mount as the worker sees it; the worker's loop decides.

    ``lost(detail)`` is how the keeper tells the worker the mount is gone (called from the
    relay or a watch task; the worker queues it for its loop).
    """

    def __init__(self, server: str, lost: Callable[[str], None]) -> None:
        self.server = server
        self._lost = lost
        self._ready = asyncio.Event()
        self.reloading = False
        """A reload was asked for and the mount has not reported ready yet."""

    def observe(self, msg: Any) -> None:
        """Every raw Codex message (from the relay, in order): the mount's startup status."""
        if not isinstance(msg, dict) or msg.get("method") != "mcpServer/startupStatus/updated":
            return
        params = msg.get("params") or {}
        if params.get("name") != self.server:
            return
        if params.get("status") == "ready":
            self._ready.set()
        elif params.get("status") == "failed":
            self._lost(f"it failed to start: {params.get('error') or 'no reason given'}")

    async def watch(self) -> str:
        """Wait until the mount is ready, then for good; says so if it never became ready."""
        try:
            await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT)
        except TimeoutError:
            return f"it did not report ready within {READY_TIMEOUT:g}s"
        self.reloading = False
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def reload(self, request: Callable[[str, Any], Any]) -> None:
        """Ask the app-server to connect its loaded threads' servers again (``request`` is
        :meth:`AppServer.request`); raises what it raises."""
        self.reloading = True
        self._ready.clear()
        await request("config/mcpServer/reload", None)

    def reset(self) -> None:
        """A new Codex: its mount reports ready anew."""
        self.reloading = False
        self._ready.clear()
