"""Helpers for the mailbox tests: bounded waits (never sleep-to-wait) and child processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from swarmkit import python_env

T = TypeVar("T")

TIMEOUT = 20.0


async def take(stream: AsyncIterator[T], n: int, within: float = TIMEOUT) -> list[T]:
    """The next ``n`` items of ``stream``; fails if they do not all come within ``within`` seconds."""
    out: list[T] = []
    async with asyncio.timeout(within):
        while len(out) < n:
            out.append(await anext(stream))
    return out


async def nothing_more(stream: AsyncIterator[Any], settle: float = 0.2) -> None:
    """Assert that ``stream`` has nothing to deliver within ``settle`` seconds. This is the one
    place a test waits a fixed time: to show an absence, there is no condition to wait on."""
    task = asyncio.ensure_future(anext(stream))
    done, _ = await asyncio.wait({task}, timeout=settle)
    task.cancel()
    assert not done, f"unexpected delivery: {task.result() if done else None}"


def child(code: str, *args: str) -> subprocess.Popen[bytes]:
    """A real Python child process running ``code`` (``sys.argv[1:]`` = ``args``)."""
    return subprocess.Popen(
        [sys.executable, "-u", "-c", code, *args],
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen[bytes], within: float = TIMEOUT) -> tuple[int, str]:
    out, err = proc.communicate(timeout=within)
    return proc.returncode, (out + err).decode(errors="replace")
