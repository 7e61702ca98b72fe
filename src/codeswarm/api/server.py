"""Running the app: uvicorn on a socket bound beforehand, the URL said once it listens,
``serve.json`` written while it runs, a clean stop on SIGTERM/SIGINT (exit 0)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path
from types import FrameType

import uvicorn

from codeswarm.api.app import ServeConfig, create_app
from codeswarm.api.stream import EventHub
from codeswarm.core.atomic import atomic_write_json, read_json

GRACEFUL_S = 5
"""How long a stop waits for requests still running (event streams are ended at once)."""


class ApiServer(uvicorn.Server):
    """uvicorn's server, stopping cleanly on SIGTERM and SIGINT: open event streams end at once
    (the hub is closed as the signal comes), and the signal is not raised again once stopped
    (uvicorn would, ending the process by the signal instead of with exit 0)."""

    def __init__(self, config: uvicorn.Config, hub: EventHub) -> None:
        super().__init__(config)
        self.hub = hub
        self._closing: asyncio.Future[None] | None = None
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for requests
        self.should_exit = True
        if self._closing is None:
            # in a signal handler: the loop closes the hub once this returns
            asyncio.get_event_loop().call_soon_threadsafe(self._close_hub)

    def _close_hub(self) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self.hub.aclose())


def url_of(sock: socket.socket) -> tuple[str, str, int]:
    """``(url, host, port)`` of a listening socket (an IPv6 host in brackets in the URL)."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/", host, int(port)


async def serve(sock: socket.socket, config: ServeConfig, record: Path) -> int:
    """Serve ``config`` on ``sock`` until a signal; prints ``serving N swarm(s) of PROJECT at
    URL#token=TOKEN`` once listening and keeps ``record`` (``serve.json``) meanwhile. Returns
    the exit code: 0 on a clean stop, 1 when the server could not start."""
    app = create_app(config)
    options = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_S,
    )
    server = ApiServer(options, app.state.hub)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    listening = asyncio.create_task(server.listening.wait())
    await asyncio.wait([task, listening], return_when=asyncio.FIRST_COMPLETED)
    if not server.listening.is_set():
        listening.cancel()
        await task
        return 1  # it never started (uvicorn said why)
    url, host, port = url_of(sock)
    n = len(app.state.index.names())
    print(f"serving {n} swarm(s) of {config.project} at {url}#token={config.token}", flush=True)
    try:
        atomic_write_json(record, {"url": url, "pid": os.getpid(), "host": host, "port": port})
        await task
    finally:
        _remove_record(record)
    return 0


def _remove_record(record: Path) -> None:
    """Remove ``serve.json`` if it is still this process's (a newer ``serve`` may own it)."""
    try:
        current = read_json(record)
        if isinstance(current, dict) and current.get("pid") == os.getpid():
            record.unlink()
    except (OSError, ValueError):
        pass
