"""The local launch backend's supervisor: one detached process per swarm that keeps its workers
(and the scripted model, when used) alive.

``python -m codeswarm.control.launch.supervisor --run-dir DIR``. It holds an exclusive lock on
``supervisor.pid`` for its whole life (a second one refuses to start; a stale pid file is never
mistaken for a live supervisor). A worker that exits unasked is restarted with exponential
backoff; the exit is recorded in that agent's outbox (``worker.exited``: the worker is dead, so
the supervisor is then the outbox's only writer). After ``MAX_FAST_FAILURES`` failures in a row
without a stable run the agent is given up (``final: true``).

If the supervisor itself dies, the workers keep running (each in its own session); a new
supervisor adopts the live ones and watches them through pidfds.

SIGTERM: stop. Workers get SIGTERM (they interrupt their turn and close Codex), then
``DOWN_GRACE`` seconds, then SIGKILL for their whole process group; leftover Codex processes are
killed too; the scripted model stops last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import IO

from codeswarm.core.swarm import RunDir, SwarmSpec
from codeswarm.mailbox import Layout, Writer

log = logging.getLogger("codeswarm.supervisor")

DOWN_GRACE = 10.0
"""How long workers get to stop after SIGTERM before they are killed."""
BACKOFF_BASE = 0.5
BACKOFF_MAX = 30.0
STABLE_AFTER = 60.0
"""A worker that ran this long resets the failure count."""
MAX_FAST_FAILURES = 8
MODEL_RESTART_DELAY = 0.5


class PidLock:
    """``supervisor.pid``, locked for as long as the supervisor lives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            os.close(self._fd)
            self._fd = None


def running_pid(path: Path) -> int | None:
    """The pid of the live process holding the lock on ``path``, or ``None``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 64).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def process_matches(pid: int, *needles: str) -> bool:
    """Whether ``pid`` is alive and its command line contains every needle (guards pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return all(n in cmdline for n in needles)


def kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def wait_pid(pid: int) -> None:
    """Wait for a process that is not our child to exit (pidfd on Linux, else polling)."""
    loop = asyncio.get_running_loop()
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):
        while process_matches(pid):  # noqa: ASYNC110 (no pidfd: nothing to wait on but time)
            await asyncio.sleep(0.2)
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


class Supervisor:
    def __init__(self, run: RunDir) -> None:
        self.run = run
        self.spec: SwarmSpec = run.load_spec()
        self.layout = Layout(run.root)
        self.stopping = asyncio.Event()
        self.workers: dict[str, int] = {}  # agent -> pid of the live worker
        self.model_pid: int | None = None

    def _log_file(self, path: Path) -> IO[bytes]:
        return open(path, "ab")

    async def run_forever(self) -> int:
        lock = PidLock(self.run.supervisor_pid)
        if not lock.acquire():
            log.error("another supervisor is running for %s", self.run.root)
            return 2
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        tasks: list[asyncio.Task[None]] = []
        try:
            if self.spec.model_provider == "mock":
                tasks.append(asyncio.create_task(self._keep_model()))
            for agent in self.run.agents(self.spec):
                tasks.append(asyncio.create_task(self._keep_worker(agent)))
            for t in tasks:
                t.add_done_callback(self._report_crash)
            await self.stopping.wait()
            log.info("stopping %d workers", len(self.workers))
            await self._stop_workers()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._stop_model()
            lock.release()
        return 0

    def _report_crash(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("a supervision task failed", exc_info=task.exception())

    # -- workers --------------------------------------------------------------------------------
    def _adoptable(self, agent: str) -> int | None:
        pid = _pid_in(self.run.worker_pid(agent))
        return pid if pid is not None and process_matches(pid, "codeswarm.worker", agent) else None

    async def _keep_worker(self, agent: str) -> None:
        failures = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            adopted = self._adoptable(agent)
            if adopted is not None:
                log.info("%s: adopting running worker pid %d", agent, adopted)
                self.workers[agent] = adopted
                await wait_pid(adopted)
                code: int | None = None
            else:
                proc = await self._start_worker(agent)
                self.workers[agent] = proc.pid
                code = await proc.wait()
            self.workers.pop(agent, None)
            if self.stopping.is_set():
                return
            failures = 1 if time.monotonic() - started > STABLE_AFTER else failures + 1
            final = failures > MAX_FAST_FAILURES
            delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (failures - 1))
            reason = (
                f"worker exited with code {code}"
                if code is None or code >= 0
                else f"worker killed by {signal.Signals(-code).name}"
            )
            log.warning(
                "%s: %s; %s", agent, reason, "giving up" if final else f"restart in {delay}s"
            )
            self._record_exit(agent, code, reason, None if final else delay, final)
            if final:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    async def _start_worker(self, agent: str) -> asyncio.subprocess.Process:
        agent_dir = self.run.agent_dir(agent)
        agent_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(agent_dir, 0o700)
        logf = self._log_file(self.run.worker_log(agent))
        try:
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "codeswarm.worker",
                "--run-dir",
                str(self.run.root),
                "--agent",
                agent,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                start_new_session=True,
            )
        finally:
            logf.close()

    def _record_exit(
        self, agent: str, code: int | None, reason: str, delay: float | None, final: bool
    ) -> None:
        try:
            with Writer.open(self.layout.outbox(agent), lock=True) as out:
                out.append(
                    "worker.exited",
                    agent=agent,
                    code=code,
                    reason=reason,
                    restart_in=delay,
                    final=final,
                )
        except OSError:
            log.exception("%s: could not record the exit", agent)

    async def _stop_workers(self) -> None:
        pids = dict(self.workers)
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        waits = [asyncio.create_task(wait_pid(pid)) for pid in pids.values()]
        if waits:
            _done, pending = await asyncio.wait(waits, timeout=DOWN_GRACE)
            for t in pending:
                t.cancel()
        for agent, pid in pids.items():
            if process_matches(pid):
                log.warning(
                    "%s: worker pid %d ignored SIGTERM for %.0fs: SIGKILL", agent, pid, DOWN_GRACE
                )
                kill_group(pid, signal.SIGKILL)
        kill_leftover_codex(self.run)

    # -- the scripted model ---------------------------------------------------------------------
    async def _keep_model(self) -> None:
        assert self.spec.script is not None and self.spec.mock_port is not None
        pidfile = self.run.root / "model.pid"
        while not self.stopping.is_set():
            adopted = _pid_in(pidfile)
            if adopted is not None and process_matches(adopted, "mock-model", str(self.run.root)):
                log.info("adopting the running scripted model, pid %d", adopted)
                self.model_pid = adopted
                await wait_pid(adopted)
            else:
                logf = self._log_file(self.run.root / "model.log")
                try:
                    proc = await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "codeswarm", "mock-model", "serve",
                        "--script", self.spec.script, "--port", str(self.spec.mock_port),
                        "--log", str(self.run.root / "model-requests.jsonl"),
                        stdin=asyncio.subprocess.DEVNULL, stdout=logf, stderr=logf,
                        start_new_session=True,
                    )  # fmt: skip
                finally:
                    logf.close()
                self.model_pid = proc.pid
                pidfile.write_text(f"{proc.pid}\n")
                code = await proc.wait()
                log.warning("scripted model exited with code %s", code)
            if self.stopping.is_set():
                return
            await asyncio.sleep(MODEL_RESTART_DELAY)

    async def _stop_model(self) -> None:
        pid = self.model_pid
        if pid is None or not process_matches(pid, "mock-model"):
            return
        kill_group(pid, signal.SIGTERM)
        waiter = asyncio.create_task(wait_pid(pid))
        _done, pending = await asyncio.wait([waiter], timeout=5)
        if pending:
            waiter.cancel()
            kill_group(pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            (self.run.root / "model.pid").unlink()


def _pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def kill_leftover_codex(run: RunDir) -> list[int]:
    """SIGKILL the process group of every agent's Codex that is still alive; returns the pids."""
    killed = []
    for pidfile in run.agents_dir.glob("*/codex.pid"):  # RunDir.codex_pid
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            continue
        if process_matches(pid, "app-server"):
            kill_group(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m codeswarm.control.launch.supervisor")
    p.add_argument("--run-dir", type=Path, required=True)
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s supervisor %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    return asyncio.run(Supervisor(RunDir(args.run_dir.resolve())).run_forever())


if __name__ == "__main__":
    sys.exit(main())
