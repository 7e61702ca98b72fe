"""Watching processes that are not our children: is a pid still the process we mean, and wait
for it to exit. Used by control (adopted workers, the scripted model) and by the worker (its
Codex's MCP server)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

POLL_WITHOUT_PIDFD = 0.2
"""Where pidfds are missing, how often :func:`wait_pid` looks whether the process is gone."""


def process_matches(pid: int, *needles: str) -> bool:
    """Whether ``pid`` is alive and its command line contains every needle (guards pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return all(n in cmdline for n in needles)


async def wait_pid(pid: int) -> None:
    """Wait for a process that is not our child to exit (a pidfd on Linux, else polling)."""
    loop = asyncio.get_running_loop()
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):
        while process_matches(pid):  # noqa: ASYNC110 (no pidfd: nothing to wait on but time)
            await asyncio.sleep(POLL_WITHOUT_PIDFD)
        return
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)
