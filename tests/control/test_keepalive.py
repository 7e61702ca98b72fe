"""The keep-alive loop both launch backends use, with real child processes standing in for the
worker (the policy does not depend on what the worker does, only on how it exits)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest

from codeswarm.control.launch import keepalive
from codeswarm.control.launch.keepalive import Ending, KeepAlive, backoff, stopped_on_request
from codeswarm.core.swarm import RunDir
from codeswarm.mailbox import Layout, Writer
from swarmkit import wait_until

AGENT = "k_0"


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    run = RunDir(tmp_path / "runs" / "k")
    run.root.mkdir(parents=True, mode=0o700)
    Layout(run.root).create()
    return run


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keepalive, "BACKOFF_BASE", 0.01)
    monkeypatch.setattr(keepalive, "MAX_FAST_FAILURES", 2)


def exits(run: RunDir) -> list[dict[str, object]]:
    path = Layout(run.root).outbox(AGENT)
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in records if r["kind"] == "worker.exited"]


def worker(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def counting_worker(tmp_path: Path, codes: list[int]) -> list[str]:
    """A worker whose n-th start exits with ``codes[n]`` (the last one repeats)."""
    counter = tmp_path / "starts"
    return worker(
        "import pathlib, sys\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) if p.exists() else 0\n"
        "p.write_text(str(n + 1))\n"
        f"codes = {codes!r}\n"
        "sys.exit(codes[min(n, len(codes) - 1)])\n"
    )


def test_policy_exit_codes() -> None:
    assert stopped_on_request(0, None, False)
    assert stopped_on_request(-signal.SIGTERM, None, False)  # before its handler ran
    assert not stopped_on_request(1, None, False)
    assert not stopped_on_request(-signal.SIGKILL, None, False)
    # adopted: the outbox says
    assert stopped_on_request(None, "agent.stopped", True)
    assert not stopped_on_request(None, "agent.stopped", False)  # stopped by a failure
    assert not stopped_on_request(None, "turn.started", True)
    assert not stopped_on_request(None, None, False)


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = [backoff(n) for n in range(1, 12)]
    assert delays[:3] == [keepalive.BACKOFF_BASE * f for f in (1, 2, 4)]
    assert max(delays) == keepalive.BACKOFF_MAX
    assert delays == sorted(delays)


async def test_crash_restarts_then_a_clean_exit_ends_it(
    run: RunDir, tmp_path: Path, fast: None
) -> None:
    keeper = KeepAlive(run, AGENT, command=counting_worker(tmp_path, [3, 3, 0]))
    ending = await asyncio.wait_for(keeper.run(), 30)
    assert ending is Ending.STOPPED
    assert (tmp_path / "starts").read_text() == "3"  # never restarted after the exit 0
    recorded = exits(run)
    assert [r["code"] for r in recorded] == [3, 3]
    assert [r["restart_in"] for r in recorded] == [0.01, 0.02]
    assert not any(r["final"] for r in recorded)


async def test_sigterm_before_the_handler_is_a_stop_on_request(
    run: RunDir, tmp_path: Path, fast: None
) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    ending = await asyncio.wait_for(KeepAlive(run, AGENT, command=worker(code)).run(), 30)
    assert ending is Ending.STOPPED and exits(run) == []


async def test_gives_up_after_too_many_fast_crashes(
    run: RunDir, tmp_path: Path, fast: None
) -> None:
    keeper = KeepAlive(run, AGENT, command=counting_worker(tmp_path, [1]))
    ending = await asyncio.wait_for(keeper.run(), 30)
    assert ending is Ending.GAVE_UP
    recorded = exits(run)
    assert len(recorded) == keepalive.MAX_FAST_FAILURES + 1
    assert [r["final"] for r in recorded] == [False, False, True]
    assert recorded[-1]["restart_in"] is None


async def test_stop_terms_then_kills_a_worker_that_ignores_sigterm(
    run: RunDir, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    code = (
        "import pathlib, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(600)\n"
    )
    keeper = KeepAlive(run, AGENT, command=worker(code))
    running = asyncio.create_task(keeper.run())
    await asyncio.to_thread(wait_until, ready.exists, 30, "the worker to start")
    pid = keeper.pid
    assert pid is not None
    await asyncio.wait_for(keeper.stop(grace=0.3), 30)
    assert await asyncio.wait_for(running, 30) is Ending.STOPPED
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert exits(run) == []  # a stop is not a crash


async def test_stop_during_the_backoff_restarts_nothing(run: RunDir, tmp_path: Path) -> None:
    keeper = KeepAlive(run, AGENT, command=counting_worker(tmp_path, [1]))  # 0.5 s backoff
    running = asyncio.create_task(keeper.run())
    await asyncio.to_thread(wait_until, lambda: len(exits(run)) == 1, 30, "the first crash")
    await keeper.stop()
    assert await asyncio.wait_for(running, 30) is Ending.STOPPED
    assert (tmp_path / "starts").read_text() == "1"


async def adopted(run: RunDir, code: str, next_codes: list[int], tmp_path: Path) -> Ending:
    """A live "worker" not started by the keeper (as after a supervisor crash) that runs
    ``code`` once told to; a keeper adopts it, and whatever it starts next exits with
    ``next_codes``. Returns how the keeper ended once the adopted one exited."""
    # the worker's command line is what adoption recognises
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; sys.stdin.readline()\n" + code,
        "codeswarm.worker", AGENT, stdin=asyncio.subprocess.PIPE,
    )  # fmt: skip
    run.agent_dir(AGENT).mkdir(parents=True)
    run.worker_pid(AGENT).write_text(f"{proc.pid}\n")
    keeper = KeepAlive(run, AGENT, adopt=True, command=counting_worker(tmp_path, next_codes))
    running = asyncio.create_task(keeper.run())
    await asyncio.to_thread(wait_until, lambda: keeper.pid == proc.pid, 30, "adoption")
    assert proc.stdin is not None
    proc.stdin.write(b"go\n")
    await proc.wait()
    return await asyncio.wait_for(running, 30)


async def test_adopted_worker_that_stopped_on_request_stays_stopped(
    run: RunDir, tmp_path: Path
) -> None:
    """A supervisor that adopted a worker (not its child) learns how it ended from its outbox."""
    outbox = Layout(run.root).outbox(AGENT)
    code = (
        "from codeswarm.mailbox import Writer\n"
        f"with Writer.open({str(outbox)!r}, lock=True) as w:\n"
        f"    w.append('agent.stopped', agent={AGENT!r}, reason='stopped', requested=True)\n"
    )
    assert await adopted(run, code, [1], tmp_path) is Ending.STOPPED
    assert not (tmp_path / "starts").exists()  # nothing started in its place
    assert exits(run) == []


async def test_adopted_worker_that_failed_is_restarted(
    run: RunDir, tmp_path: Path, fast: None
) -> None:
    with Writer.open(Layout(run.root).outbox(AGENT), lock=True) as w:
        w.append("agent.stopped", agent=AGENT, reason="stopped", requested=False)
    # it fails; the one started in its place exits 0
    assert await adopted(run, "sys.exit(1)", [0], tmp_path) is Ending.STOPPED
    assert (tmp_path / "starts").read_text() == "1"
    assert [r["code"] for r in exits(run)] == [None]
