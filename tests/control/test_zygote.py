"""Workers forked by the swarm's zygote (codeswarm.worker.zygote, control/launch/forks.py): they
look and behave like ordinary workers (command line, exit codes, restarts, adoption), and a
zygote that dies, or cannot retitle a child, changes nothing but speed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from codeswarm.worker.zygote import worker_argv
from swarmkit import Swarm, python_env, wait_until

SCRIPT = {"agents": {"*": ["one", "two", "three", "four"]}}


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def worker_pid(swarm: Swarm, rank: int) -> int:
    return int((swarm.run_dir / "agents" / swarm.agent(rank) / "worker.pid").read_text())


def zygotes(swarm: Swarm) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "codeswarm.worker.zygote" in cmd and str(swarm.run_dir) in cmd:
                out.append(int(entry.name))
    return out


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def exits(swarm: Swarm, rank: int) -> list[dict[str, object]]:
    return [r for r in swarm.outbox(rank) if r.get("kind") == "worker.exited"]


@pytest.mark.codex
@pytest.mark.slow
def test_forked_workers_are_ordinary_workers(swarm: Swarm) -> None:
    swarm.up(2, SCRIPT)
    (zygote,) = zygotes(swarm)
    supervisor = int((swarm.run_dir / "supervisor.pid").read_text())
    assert parent(zygote) == supervisor
    for rank in (0, 1):
        pid = worker_pid(swarm, rank)
        assert parent(pid) == zygote  # forked, not started
        assert cmdline(pid) == worker_argv(str(swarm.run_dir), swarm.agent(rank))
        assert os.getsid(pid) == pid  # a session of its own, as a started worker has
    out = json.loads(swarm.cli("send", "t", "all", "hello", "--wait", "--json").stdout)
    assert {a: r["text"] for a, r in out.items()} == {"t_0": "one", "t_1": "one"}

    # kill -9 of a forked worker: its exit code is known (as for a started one), it is forked
    # again, and its turn's successor runs
    first = worker_pid(swarm, 0)
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: exits(swarm, 0), what="the exit recorded")
    (record,) = exits(swarm, 0)
    assert record["code"] == -signal.SIGKILL and record["reason"] == "worker killed by SIGKILL"
    wait_until(lambda: worker_pid(swarm, 0) != first and not gone(worker_pid(swarm, 0)),
               what="a new worker")  # fmt: skip
    assert parent(worker_pid(swarm, 0)) == zygote
    out = json.loads(swarm.cli("send", "t", "0", "again", "--wait", "--json").stdout)
    assert out["t_0"]["status"] == "completed"

    # kill -9 of the zygote: the workers live on; a crash after it is restarted the
    # ordinary way (a started worker, the supervisor's child), its exit code unknown
    os.kill(zygote, signal.SIGKILL)
    wait_until(lambda: gone(zygote), what="the zygote gone")
    survivor = worker_pid(swarm, 1)
    assert not gone(survivor)
    out = json.loads(swarm.cli("send", "t", "1", "still there?", "--wait", "--json").stdout)
    assert out["t_1"]["status"] == "completed"
    os.kill(survivor, signal.SIGKILL)
    wait_until(lambda: exits(swarm, 1), what="the exit recorded")
    wait_until(lambda: worker_pid(swarm, 1) != survivor and not gone(worker_pid(swarm, 1)),
               what="a started worker")  # fmt: skip
    restarted = worker_pid(swarm, 1)
    assert parent(restarted) == supervisor
    assert cmdline(restarted) == worker_argv(str(swarm.run_dir), swarm.agent(1))
    out = json.loads(swarm.cli("send", "t", "all", "and now?", "--wait", "--json").stdout)
    assert all(r["status"] == "completed" for r in out.values())
    swarm.cli("down", "t")
    assert not zygotes(swarm)


@pytest.mark.codex
@pytest.mark.slow
def test_turned_off_workers_are_started(swarm: Swarm) -> None:
    swarm.env["CODESWARM_FORK_WORKERS"] = "0"
    swarm.up(1, SCRIPT)
    assert not zygotes(swarm)
    supervisor = int((swarm.run_dir / "supervisor.pid").read_text())
    assert parent(worker_pid(swarm, 0)) == supervisor


# -- the zygote on its own -------------------------------------------------------------------
class Zygote:
    """A zygote for a run directory that holds no swarm: its workers fail at once (exit 2, the
    reason in their log), which is all these tests need of them."""

    def __init__(self, run_dir: Path, room: str) -> None:
        self.run_dir = run_dir
        self.sock, theirs = socket.socketpair()
        with open(run_dir.parent / "zygote.log", "ab") as log:
            self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "codeswarm.worker.zygote", "--run-dir", str(run_dir),
             "--room", room],
            stdin=theirs.fileno(), stderr=log, env=python_env(),
        )  # fmt: skip
        theirs.close()
        self.sock.settimeout(60)
        self.buf = b""

    def ask(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\n")

    def read(self) -> list[str]:
        while b"\n" not in self.buf:
            data = self.sock.recv(4096)
            assert data, "the zygote closed its end"
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode().split()

    def close(self) -> int:
        self.sock.close()
        return self.proc.wait(30)


@pytest.mark.parametrize("room", ["." * 64, "."], ids=["retitled", "exec"])
def test_a_forked_worker_exits_as_a_started_one_would(tmp_path: Path, room: str) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "agents" / "s_0").mkdir(parents=True)
    z = Zygote(run_dir, room)
    try:
        z.ask("fork s_0")
        kind, agent, pid = z.read()
        assert (kind, agent) == ("forked", "s_0")
        assert z.read() == ["exit", pid, "2"]  # bad input: no swarm in the run directory
        log = (run_dir / "agents" / "s_0" / "worker.log").read_text()
        started = subprocess.run(
            worker_argv(str(run_dir), "s_0"), capture_output=True, text=True, env=python_env()
        )
        assert started.returncode == 2
        assert log.strip().splitlines()[-1] == started.stderr.strip().splitlines()[-1]
    finally:
        assert z.close() == 0  # its end closed: the zygote ends


def test_bad_requests_get_an_error_and_change_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    z = Zygote(run_dir, "." * 64)
    try:
        z.ask("hello")
        assert z.read()[:2] == ["error", "-"]
        z.ask("fork ../../etc")
        assert z.read()[:2] == ["error", "-"]
        z.ask("fork a b")
        assert z.read()[:2] == ["error", "-"]
        assert not (run_dir / "agents").exists()
        z.ask("fork s_1")  # no agent directory for its log: an error, the zygote serves on
        assert z.read()[:2] == ["error", "s_1"]
    finally:
        assert z.close() == 0


RETITLE = """
import os, signal, sys
from codeswarm.core.procself import retitle
argv = sys.argv[2:]
pid = os.fork()
if pid == 0:
    ok = retitle(argv) and not retitle(["x" * 100_000])
    print("y" if ok else "n", os.getpid(), flush=True)
    signal.pause()
os.waitpid(pid, 0)
"""


def test_retitle_rewrites_the_command_line_in_a_forked_child() -> None:
    """As the zygote does: a process started with room to spare (its own argument area) forks,
    and the child wears another command line; one that does not fit is refused."""
    argv = [sys.executable, "-P", "-m", "codeswarm.worker", "--run-dir", "/r", "--agent", "a_1"]
    parent = subprocess.Popen(
        [sys.executable, "-c", RETITLE, "." * 200, *argv],
        stdout=subprocess.PIPE, text=True, env=python_env(),
    )  # fmt: skip
    try:
        assert parent.stdout is not None
        ok, pid = parent.stdout.readline().split()
        assert ok == "y"
        got = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert got.rstrip(b"\0").split(b"\0") == [os.fsencode(a) for a in argv]
        assert Path(f"/proc/{parent.pid}/cmdline").read_bytes() != got  # the parent's kept
        os.kill(int(pid), signal.SIGKILL)
        assert parent.wait(30) == 0
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
