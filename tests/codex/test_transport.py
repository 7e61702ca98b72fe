"""The byte-transport contract under the JSON-RPC connection, one suite run against both
implementations: a real child process (:class:`ProcessTransport`) and the in-memory pipe pair
(:class:`MemoryTransport`). The peer echoes what it gets and leaves when it reads ``bye``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from codeswarm.codex.launch import launch
from codeswarm.codex.rpc import RpcConnection
from codeswarm.codex.transport import ProcessTransport, Transport, memory_pipe
from codeswarm.core.errors import CodexError

ECHO = """
import os
while True:
    data = os.read(0, 65536)
    if not data or b"bye" in data:
        break
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]
"""
TIMEOUT = 30.0


async def _echo(end: Transport) -> None:
    while True:
        data = await end.receive()
        if not data or b"bye" in data:
            break
        await end.send(data)
    await end.aclose()


@pytest.fixture(params=["process", "memory"])
async def transport(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Transport]:
    if request.param == "process":
        popen = launch([sys.executable, "-u", "-c", ECHO], codex_home=tmp_path / "home")
        ours: Transport = await ProcessTransport.adopt(popen)
        yield ours
        await ours.aclose()
        return
    ours, theirs = memory_pipe()
    peer = asyncio.create_task(_echo(theirs))
    yield ours
    await ours.aclose()
    await asyncio.wait_for(peer, TIMEOUT)


async def receive_exactly(t: Transport, n: int) -> bytes:
    got = b""
    async with asyncio.timeout(TIMEOUT):
        while len(got) < n:
            chunk = await t.receive()
            assert chunk, f"the peer closed after {len(got)} of {n} bytes"
            got += chunk
    return got


async def receive_eof(t: Transport) -> None:
    async with asyncio.timeout(TIMEOUT):
        while await t.receive():
            pass


async def send_until_refused(t: Transport) -> None:
    for _ in range(100):  # a pipe may take a write or two to report its reader gone
        await t.send(b"anyone?\n")
        await asyncio.sleep(0)


async def test_bytes_arrive_in_order_and_whole(transport: Transport) -> None:
    chunks = [b"one\n", b"x" * 1_000_000, b"\n", b"two\n"]
    # read while sending: a pipe holds far less than a megabyte
    back = asyncio.ensure_future(receive_exactly(transport, sum(map(len, chunks))))
    async with asyncio.timeout(TIMEOUT):
        for chunk in chunks:
            await transport.send(chunk)
    assert await back == b"".join(chunks)


async def test_a_peer_that_leaves_is_noticed_and_explained(transport: Transport) -> None:
    await transport.send(b"bye\n")
    await receive_eof(transport)
    lost = await transport.wait_lost()
    assert isinstance(lost, CodexError)
    with pytest.raises(CodexError):
        await send_until_refused(transport)


async def test_aclose_twice_and_use_after_close(transport: Transport) -> None:
    await transport.send(b"hello\n")
    assert await receive_exactly(transport, 6) == b"hello\n"
    await transport.aclose()
    await transport.aclose()
    with pytest.raises(CodexError):
        await transport.send(b"after close\n")
    await receive_eof(transport)


async def test_a_request_fails_with_the_transports_error_when_the_peer_leaves(
    transport: Transport,
) -> None:
    """The connection above sees the same thing over either transport: a pending request fails
    with the transport's error, never waits forever."""
    conn = RpcConnection(transport)
    conn.start()
    pending = asyncio.ensure_future(conn.request("bye"))  # the echo peer leaves on "bye"
    with pytest.raises(CodexError):
        await asyncio.wait_for(pending, TIMEOUT)
    assert isinstance(conn.error, CodexError)
    await conn.aclose()
