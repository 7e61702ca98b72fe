"""The ssh transport against a real sshd on 127.0.0.1: following, reconnecting after the
connection is killed mid-stream (nothing lost, nothing repeated), idempotent appends across
reconnects, flow control, and one-line errors. The conformance suite runs on it too
(tests/mailbox/test_mailbox_conformance.py)."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import sshd_local
from codeswarm.core.errors import (
    InvalidRecordError,
    MailboxClosedError,
    MailboxError,
    MailboxNameError,
    MailboxPermissionError,
    WriterBusyError,
)
from codeswarm.mailbox import Delivery, Layout, Reader, Writer
from codeswarm.mailbox.ssh import SshTransport
from swarmkit import python_env, wait_until_async

TIMEOUT = 120.0
Make = Callable[..., SshTransport]

# argv: outbox path, n, agent-count. Appends n records round-robin over the agents' outboxes,
# about one per millisecond, so that a connection killed mid-run has records on both sides.
WRITER = r"""
import sys, time
from pathlib import Path
from codeswarm.mailbox import Writer
outbox, n, k = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
writers = [Writer.open(outbox / f"a_{j}.jsonl") for j in range(k)]
for i in range(n):
    writers[i % k].append("n", i=i)
    if i % 10 == 0:
        time.sleep(0.01)
"""


def writer_process(run_dir: Path, n: int, agents: int = 1) -> subprocess.Popen[bytes]:
    outbox = Layout(run_dir).create().outbox_dir
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(outbox), str(n), str(agents)],
        env=python_env(),
    )


wait_until = functools.partial(wait_until_async, within=TIMEOUT)  # transport statistics


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def connected(t: SshTransport, connects: int) -> Callable[[], bool]:
    def check() -> bool:
        s = t.statistics()
        return s.state == "open" and s.connects >= connects and s.remote_pid is not None

    return check


async def test_following_sees_every_record(ssh_factory: Make, tmp_path: Path) -> None:
    t = ssh_factory()
    stream = t.follow_all("outbox")
    proc = writer_process(tmp_path / "run", 1500, agents=3)
    got: list[Delivery] = []
    async with asyncio.timeout(TIMEOUT):
        while len(got) < 1500:
            got.append(await anext(stream))
    assert proc.wait(TIMEOUT) == 0
    for j in range(3):
        mine = [d.record for d in got if d.agent == f"a_{j}"]
        assert [r["seq"] for r in mine] == list(range(1, 501))
        assert [r["i"] for r in mine] == list(range(j, 1500, 3))
    assert t.statistics().connects == 1
    await stream.aclose()


@pytest.mark.parametrize("agents", [1, 3])
@pytest.mark.parametrize("kill", ["sshd-session", "ssh-client"])
async def test_a_killed_connection_loses_and_repeats_nothing(
    ssh_factory: Make, sshd: sshd_local.Sshd, tmp_path: Path, kill: str, agents: int
) -> None:
    """Kill the connection twice while a writer appends: the sshd processes serving the session
    (as a dropped network would), or the local ssh client (the transport's socket). One agent
    with ``follow``, or three with ``follow_all``."""
    n = 3000
    t = ssh_factory()
    stream = t.follow("outbox", "a_0") if agents == 1 else t.follow_all("outbox")
    proc = writer_process(tmp_path / "run", n, agents)
    got: list[Delivery] = []
    kills = 0
    async with asyncio.timeout(TIMEOUT):
        while len(got) < n:
            got.append(await anext(stream))
            if kills < 2 and len(got) >= (kills + 1) * 800 and connected(t, kills + 1)():
                s = t.statistics()
                assert s.remote_pid is not None and s.ssh_pid is not None
                if kill == "sshd-session":
                    assert sshd.kill_session_of(s.remote_pid)
                else:
                    os.kill(s.ssh_pid, signal.SIGKILL)
                kills += 1
    assert proc.wait(TIMEOUT) == 0
    assert kills == 2 and t.statistics().connects == 3
    for j in range(agents):
        mine = [d for d in got if d.agent == f"a_{j}"]
        assert [d.record["seq"] for d in mine] == list(range(1, n // agents + 1))
        assert [d.record["i"] for d in mine] == list(range(j, n, agents))
        positions = [d.position for d in mine]
        assert positions == sorted(positions) and len(set(positions)) == len(mine)
    await stream.aclose()


async def test_appends_across_killed_connections_land_exactly_once(
    ssh_factory: Make, sshd: sshd_local.Sshd, tmp_path: Path
) -> None:
    """Appends in flight when the connection dies are re-sent with their ids; the far end finds
    the ones the old connection already wrote, so each lands once, in order."""
    n, batch = 600, 20
    t = ssh_factory()
    await t.connect()
    written: list[dict[str, Any]] = []
    kills = 0

    async def killer() -> None:
        nonlocal kills
        for threshold in (150, 300, 450):
            await wait_until(lambda: len(written) >= threshold)  # noqa: B023
            await wait_until(connected(t, kills + 1))
            remote_pid = t.statistics().remote_pid
            assert remote_pid is not None
            sshd.kill_session_of(remote_pid)
            kills += 1

    killing = asyncio.ensure_future(killer())
    async with asyncio.timeout(TIMEOUT):
        for start in range(0, n, batch):  # a batch in flight at once, issued in order
            written += await asyncio.gather(
                *(
                    t.append("inbox", "a_0", {"kind": "prompt", "i": i})
                    for i in range(start, start + batch)
                )
            )
        await killing
        await wait_until(connected(t, 4))  # the last kill may come after the last append
    assert kills == 3
    assert [r["i"] for r in written] == list(range(n))
    on_disk = [rec for rec, _ in Reader(Layout(tmp_path / "run").inbox("a_0")).read()]
    assert [r["i"] for r in on_disk] == list(range(n))
    assert [r["seq"] for r in on_disk] == list(range(1, n + 1))
    assert on_disk == written


async def test_a_stream_does_not_hold_up_the_connection(ssh_factory: Make, tmp_path: Path) -> None:
    """Flow control: an unread stream with a big backlog stops at its window; replies to calls
    on the same connection still arrive; reading it then gets everything."""
    layout = Layout(tmp_path / "run").create()
    with Writer.open(layout.outbox("a_0")) as w:
        for i in range(3000):
            w.append("n", i=i, pad="p" * 200)
    t = ssh_factory(window=16 * 1024)
    stream = t.follow("outbox", "a_0")
    first = await anext(stream)  # the stream is open and sending
    for i in range(20):
        rec = await asyncio.wait_for(t.append("inbox", "a_0", {"kind": "k", "i": i}), TIMEOUT)
        assert rec["seq"] == i + 1
    got = [first]
    async with asyncio.timeout(TIMEOUT):
        while len(got) < 3000:
            got.append(await anext(stream))
    assert [d.record["i"] for d in got] == list(range(3000))
    await stream.aclose()


async def test_the_workspace_venv_is_the_default_python(ssh_factory: Make, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / ".venv" / "bin").mkdir(parents=True)
    python = ws / ".venv" / "bin" / "python"  # a symlink would lose the venv: a wrapper
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    t = ssh_factory(ws, swarm="demo", python=None)
    await t.append("inbox", "demo_0", {"kind": "prompt", "text": "hi"})
    assert Reader(Layout(ws / "runs" / "demo").inbox("demo_0")).read()[0][0]["text"] == "hi"
    assert await t.agents("inbox") == ["demo_0"]


async def test_remote_errors_keep_their_types(ssh_factory: Make, tmp_path: Path) -> None:
    t = ssh_factory()
    with pytest.raises(InvalidRecordError, match="may not set"):
        await t.append("inbox", "a_0", {"kind": "k", "seq": 3})
    with pytest.raises(InvalidRecordError, match="not JSON"):
        await t.append("inbox", "a_0", {"kind": "k", "x": object()})
    with pytest.raises(MailboxNameError):
        await t.append("inbox", "../a", {"kind": "k"})
    with (
        Writer.open(Layout(tmp_path / "run").outbox("a_0")),
        pytest.raises(WriterBusyError, match=r"127\.0\.0\.1.*already has a writer"),
    ):
        await t.append("outbox", "a_0", {"kind": "k"})
    assert (await t.append("inbox", "a_0", {"kind": "k"}))["seq"] == 1  # still connected
    assert t.statistics().connects == 1


async def test_an_unsafe_remote_run_directory_is_a_usage_error(
    ssh_factory: Make, tmp_path: Path
) -> None:
    layout = Layout(tmp_path / "run").create()
    os.chmod(layout.outbox_dir, 0o777)
    with pytest.raises(MailboxPermissionError, match="writable by group and others") as info:
        await ssh_factory().connect()
    assert "\n" not in str(info.value)


async def test_connection_failures_are_one_line(
    ssh_factory: Make, sshd: sshd_local.Sshd, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger"
    keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)]
    await asyncio.to_thread(subprocess.run, keygen, check=True)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"identity_file": stranger}, r"ssh failed: .*Permission denied"),
        ({"known_hosts": tmp_path / "empty"}, r"ssh failed: Host key verification failed"),
        ({"python": f"{sys.executable} -I -S"}, r"status 1: .*No module named .*installed there"),
        ({"python": "/nonexistent/python"}, r"status 127: .*No such file.*no such remote python"),
    ]
    for options, pattern in cases:
        t = ssh_factory(**options)
        with pytest.raises(MailboxError, match=pattern) as info:
            await t.connect()
        assert "\n" not in str(info.value) and str(info.value).startswith("ssh://root@127.0.0.1")
        assert t.statistics().state == "idle" and t.statistics().connects == 0
    t = SshTransport(f"ssh://root@127.0.0.1:{sshd_local.free_port()}/x", **sshd.options())
    with pytest.raises(MailboxError, match=r"ssh failed: .*Connection refused"):
        await t.append("inbox", "a_0", {"kind": "k"})
    await t.aclose()


async def test_giving_up_after_the_reconnect_timeout(
    ssh_factory: Make, sshd: sshd_local.Sshd, tmp_path: Path
) -> None:
    t = ssh_factory(reconnect_timeout=1.0)
    stream = t.follow("outbox", "a_0")
    await t.connect()
    remote_pid = t.statistics().remote_pid
    assert remote_pid is not None
    t.identity_file = tmp_path / "gone"  # every reconnection fails from now on
    sshd.kill_session_of(remote_pid)
    with pytest.raises(MailboxError, match="gave up reconnecting after"):
        await asyncio.wait_for(anext(stream), TIMEOUT)
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert t.statistics().state == "idle"


async def test_aclose(ssh_factory: Make) -> None:
    t = ssh_factory()
    stream = t.follow("inbox", "a_0")
    waiting = asyncio.ensure_future(anext(stream))
    await t.connect()
    ssh_pid, remote_pid = t.statistics().ssh_pid, t.statistics().remote_pid
    assert ssh_pid is not None and remote_pid is not None and alive(remote_pid)
    await t.aclose()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, TIMEOUT)
    await t.aclose()
    assert not alive(ssh_pid)
    await wait_until(lambda: not alive(remote_pid))  # nothing left running on the far host
    with pytest.raises(MailboxClosedError):
        await t.append("inbox", "a_0", {"kind": "k"})
    with pytest.raises(MailboxClosedError):
        t.follow("inbox", "a_0")
    assert t.statistics().state == "closed"


async def test_aclose_while_reconnecting(ssh_factory: Make, sshd: sshd_local.Sshd) -> None:
    t = ssh_factory()
    stream = t.follow("inbox", "a_0")
    await t.connect()
    s = t.statistics()
    assert s.remote_pid is not None and s.ssh_pid is not None
    sshd.kill_session_of(s.remote_pid)
    await asyncio.wait_for(t.aclose(), TIMEOUT)
    assert [d async for d in stream] == []
    assert not alive(s.ssh_pid)
    await wait_until(lambda: not alive(s.remote_pid or 0))
