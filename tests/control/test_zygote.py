"""Workers forked by the swarm's zygote (codeswarm.worker.zygote, control/launch/forks.py): they
look and behave like ordinary workers (command line, exit codes, restarts, adoption), and a
zygote that dies, or cannot retitle a child, changes nothing but speed. It is started only when
a worker is to be forked, runs the installed code (an upgrade makes its children fresh
interpreters), and ends with the supervisor without holding up its event loop. `up` starts the
supervisor, and it the zygote, before it parses its options (control/launch/pending.py): they
import meanwhile, then take the swarm over as ordinarily started ones."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from codeswarm.control.launch import forks as forks_module
from codeswarm.control.launch.forks import Forks, Prestarted, zygote_argv
from codeswarm.control.launch.pending import PendingSupervisor
from codeswarm.control.proc import ForkedChild
from codeswarm.core.entry import module_args, python_module
from codeswarm.core.swarm import RunDir
from codeswarm.worker.mcphub import HubFiles
from codeswarm.worker.mcphub import Pending as HubPending
from codeswarm.worker.zygote import worker_argv
from swarmkit import SRC, Swarm, pids_of, python_env, wait_until

SCRIPT = {"agents": {"*": ["one", "two", "three", "four"]}}


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def worker_pid(swarm: Swarm, rank: int) -> int:
    return int((swarm.run_dir / "agents" / swarm.agent(rank) / "worker.pid").read_text())


def zygotes(swarm: Swarm | Path) -> list[int]:
    run_dir = swarm if isinstance(swarm, Path) else swarm.run_dir
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "codeswarm.worker.zygote" in cmd and str(run_dir) in cmd:
                out.append(int(entry.name))
    return out


PENDING = Path("--run-dir\0-\0")
"""(For :func:`zygotes`: those started before their run directory was known, still waiting.)"""


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

    # kill -9 of the supervisor, `up` again: the new one adopts every worker and starts no
    # zygote, and the hub that lived on with the workers is the swarm's still (the one the new
    # supervisor forked is not needed: it ends); when both workers crash at once, the first
    # fork starts one zygote that forks both
    hub = HubFiles(swarm.run_dir / "mcp").read()["pid"]
    os.kill(supervisor, signal.SIGKILL)
    wait_until(lambda: gone(supervisor), what="the supervisor gone")
    swarm.up(2, SCRIPT)
    adopted = {r: worker_pid(swarm, r) for r in (0, 1)}
    log = swarm.run_dir / "supervisor.log"
    wait_until(lambda: log.read_text().count("adopting running worker") == 2, what="adoption")
    supervisor = int((swarm.run_dir / "supervisor.pid").read_text())
    assert not zygotes(swarm)
    wait_until(lambda: not pids_of("--pending ") and not zombies_of(supervisor), timeout=10,
               what="its pending hub gone, reaped")  # fmt: skip
    assert HubFiles(swarm.run_dir / "mcp").read()["pid"] == hub and not gone(hub)
    for pid in adopted.values():
        os.kill(pid, signal.SIGKILL)
    for r, pid in adopted.items():
        wait_until(lambda: worker_pid(swarm, r) != pid and not gone(worker_pid(swarm, r)),  # noqa: B023
                   what="a forked worker")  # fmt: skip
    (zygote,) = zygotes(swarm)
    assert parent(zygote) == supervisor
    assert [parent(worker_pid(swarm, r)) for r in (0, 1)] == [zygote, zygote]
    out = json.loads(swarm.cli("send", "t", "all", "and after?", "--wait", "--json").stdout)
    assert all(r["status"] == "completed" for r in out.values())
    swarm.cli("down", "t")
    assert not zygotes(swarm)


def fd_target(pid: int, fd: int) -> str:
    return os.readlink(f"/proc/{pid}/fd/{fd}")


def zombies_of(pid: int) -> list[int]:
    """Children of ``pid`` that ended and were not reaped."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and fields[1] == str(pid):
                out.append(int(entry.name))
    return out


def fds_of(pid: int) -> dict[int, str]:
    return {int(fd): fd_target(pid, int(fd)) for fd in os.listdir(f"/proc/{pid}/fd")}


@pytest.mark.codex
def test_up_s_supervisor_and_zygote_started_first_are_ordinary_ones(swarm: Swarm) -> None:
    """Started before `up` parsed its options, they look and act as if started then: the
    ordinary command lines, output to the supervisor's log, the workers forked and adopted as
    ever (test_forked_workers_are_ordinary_workers goes on from there)."""
    swarm.up(2, SCRIPT)
    supervisor = int((swarm.run_dir / "supervisor.pid").read_text())
    (zygote,) = zygotes(swarm)
    assert cmdline(supervisor) == python_module(
        "codeswarm.control.launch.supervisor", "--run-dir", str(swarm.run_dir)
    )
    log = str(swarm.run_dir / "supervisor.log")
    assert (fd_target(supervisor, 0), fd_target(supervisor, 1)) == (os.devnull, log)
    assert fd_target(supervisor, 2) == log and fd_target(zygote, 2) == log
    argv = cmdline(zygote)
    assert argv[:-1] == python_module(
        "codeswarm.worker.zygote", "--run-dir", str(swarm.run_dir), "--room"
    )
    assert len(argv[-1]) > 1000  # the room kept for a run directory not known yet: prestarted
    assert parent(zygote) == supervisor
    assert [parent(worker_pid(swarm, r)) for r in (0, 1)] == [zygote, zygote]
    assert not pids_of("--pending ")  # (both handed over: nothing pending is left)
    out = json.loads(swarm.cli("send", "t", "all", "hello", "--wait", "--json").stdout)
    assert {a: r["text"] for a, r in out.items()} == {"t_0": "one", "t_1": "one"}
    swarm.cli("down", "t")
    assert not zygotes(swarm) and gone(supervisor)


PRESTART = """import time
from codeswarm.control.launch.pending import prestart
prestart(hub=True)
print("ok", flush=True)
time.sleep(60)
"""


def pending_hubs(supervisor: int) -> list[int]:
    """The hubs a pending supervisor forked, not handed a swarm yet."""
    return pids_of(f"codeswarm.mcp.hub --pending {supervisor} ")


def test_a_pending_supervisor_and_what_it_forked_die_with_the_process_that_started_them() -> None:
    """Killed (-9) before it handed the swarm over: the supervisor, its zygote and its hub go at
    once."""
    starter = subprocess.Popen([sys.executable, "-c", PRESTART], stdout=subprocess.PIPE,
                               text=True, env=python_env())  # fmt: skip
    try:
        assert starter.stdout is not None and starter.stdout.readline() == "ok\n"
        (pending,) = wait_until(lambda: pids_of(f"--pending {starter.pid} "), what="it")
        (zygote,) = wait_until(lambda: zygotes(PENDING), what="its zygote")
        (hub,) = wait_until(lambda: pending_hubs(pending), what="its hub")
        assert parent(zygote) == pending and parent(hub) == pending
        # forked from it, they hold nothing of their parent's (the starter's socket, say): as
        # if started with a socket as stdin and their output to /dev/null
        assert cmdline(zygote) == zygote_argv()
        wait_until(lambda: len(os.listdir(f"/proc/{zygote}/fd")) >= 5, what="it serves")
        fds = {int(fd): fd_target(zygote, int(fd)) for fd in os.listdir(f"/proc/{zygote}/fd")}
        assert fds.pop(0).startswith("socket:") and fds.pop(1) == fds.pop(2) == os.devnull
        assert len(fds) == 2 and all(t.startswith("pipe:") for t in fds.values())  # its wake-up
        # the hub: as `up` would start it, with this supervisor's pid (it ends with it)
        assert cmdline(hub) == [sys.executable, *module_args("codeswarm.mcp.hub"), "--pending",
                                str(pending), "." * HubPending.ROOM]  # fmt: skip
        fds = {int(fd): fd_target(hub, int(fd)) for fd in os.listdir(f"/proc/{hub}/fd")}
        assert fds.pop(0).startswith("socket:") and fds.pop(1) == fds.pop(2) == os.devnull
        assert not fds and fds_of(zygote)[0] != fd_target(hub, 0)
        for pid in (zygote, hub):
            assert Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3] == str(pid)
        starter.kill()
        starter.wait()
        wait_until(lambda: gone(pending) and gone(zygote) and gone(hub), timeout=10,
                   what="all three gone")  # fmt: skip
    finally:
        starter.kill()
        starter.wait()
        starter.stdout.close()


def test_a_pending_supervisor_is_not_used_once_the_environment_or_directory_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A supervisor started after the change would have had it: the pending one is told
    nothing and ends (with its zygote); the caller starts one the ordinary way."""
    monkeypatch.setenv("PYTHONPATH", str(SRC))
    run = tmp_path / "run"
    run.mkdir()
    with open(tmp_path / "log", "ab") as log:
        for change in ("env", "cwd"):
            pending = PendingSupervisor(hub=True)
            (zygote,) = wait_until(
                lambda: [z for z in zygotes(PENDING) if parent(z) == pending.proc.pid],  # noqa: B023
                what="its zygote",
            )
            (hub,) = wait_until(lambda: pending_hubs(pending.proc.pid), what="its hub")  # noqa: B023
            if change == "env":
                monkeypatch.setenv("CODESWARM_SOMETHING", "new")
            else:
                monkeypatch.chdir(tmp_path)
            assert not pending.give(run, log.fileno())
            assert pending.proc.wait(30) == 0
            wait_until(lambda: gone(zygote) and gone(hub), timeout=10,  # noqa: B023
                       what="its zygote and hub gone")  # fmt: skip
    assert (tmp_path / "log").read_bytes() == b""


def test_a_pending_supervisor_handed_a_run_speaks_to_its_log(tmp_path: Path) -> None:
    """Handed over, it is the supervisor of that run: here a run directory without a swarm, so
    it says so, in one line, in the log it was given, and ends."""
    env = python_env()
    run = tmp_path / "run"
    run.mkdir()
    with_env = {**os.environ}
    try:
        os.environ.clear()
        os.environ.update(env)
        pending = PendingSupervisor()
        with open(tmp_path / "supervisor.log", "ab") as log:
            assert pending.give(run, log.fileno())
    finally:
        os.environ.clear()
        os.environ.update(with_env)
    assert pending.proc.wait(60) != 0
    said = (tmp_path / "supervisor.log").read_text().strip().splitlines()
    assert said and said[-1].startswith("codeswarm supervisor: ") and "Traceback" not in said[-1]
    wait_until(lambda: not zygotes(PENDING) and not zygotes(run), timeout=10,
               what="its zygote gone")  # fmt: skip


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

    def __init__(
        self, run_dir: Path, room: str, env: dict[str, str] | None = None, log: Path | None = None
    ) -> None:
        self.run_dir = run_dir
        self.log = log or run_dir.parent / "zygote.log"
        self.sock, theirs = socket.socketpair()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "codeswarm.worker.zygote", "--run-dir", str(run_dir),
             "--room", room],
            stdin=theirs.fileno(), stderr=log, env=env or python_env(),
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


NEW_WORKER = """import os, sys
print("new code", os.getpid(), open("/proc/self/cmdline").read().split("\\0")[:-1], flush=True)
sys.exit(7)
"""


def replace(path: Path, text: str) -> None:
    """Write ``path`` as pip and uv do: a new file renamed over the old one."""
    new = path.with_name(path.name + ".new")
    new.write_text(text)
    os.replace(new, path)


def test_after_an_upgrade_children_are_fresh_interpreters(tmp_path: Path) -> None:
    """A zygote loaded from a copy of the package: once the installed package is replaced,
    the next fork runs the new code (the ordinary worker exec'd), not what the zygote loaded;
    the zygote says so once."""
    site = tmp_path / "site"
    shutil.copytree(SRC / "codeswarm", site / "codeswarm",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    run_dir = tmp_path / "run"
    (run_dir / "agents" / "s_0").mkdir(parents=True)
    log = run_dir / "agents" / "s_0" / "worker.log"
    z = Zygote(run_dir, "." * 64, python_env(PYTHONPATH=str(site)))

    def fork() -> tuple[int, int]:
        z.ask("fork s_0")
        kind, agent, pid = z.read()
        assert (kind, agent) == ("forked", "s_0")
        ended = z.read()
        assert ended[:2] == ["exit", pid]
        return int(pid), int(ended[2])

    try:
        assert fork()[1] == 2  # loaded (bad input: no swarm in the run directory)
        # a module replaced, the package's stamp not: the loaded code still runs
        replace(site / "codeswarm" / "worker" / "__main__.py", NEW_WORKER)
        assert fork()[1] == 2 and "new code" not in log.read_text()
        # the package's __init__.py replaced (same text, a new file), as an upgrade does: the
        # child is a fresh interpreter running the new module, under the worker's command line
        replace(
            site / "codeswarm" / "__init__.py", (site / "codeswarm" / "__init__.py").read_text()
        )
        for _ in range(2):
            pid, code = fork()
            assert code == 7
            said = log.read_text().strip().splitlines()[-1]
            assert said == f"new code {pid} {worker_argv(str(run_dir), 's_0')!r}"
    finally:
        assert z.close() == 0
    assert z.log.read_text().count("the installed codeswarm changed") == 1


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


def test_a_zygote_started_before_its_run_is_known_takes_it_once(tmp_path: Path) -> None:
    run_dir = tmp_path / "a run"  # (spaces and all: a home like "/Users/Jane Doe")
    (run_dir / "agents" / "s_0").mkdir(parents=True)
    z = Zygote(Path("-"), "." * 4096, log=tmp_path / "zygote.log")
    try:
        z.ask("fork s_0")
        assert z.read() == ["error", "s_0", "no", "run", "directory", "yet"]
        z.ask("run relative/dir")
        assert z.read()[:2] == ["error", "-"]
        z.ask(f"run {run_dir}")
        assert z.read() == ["run", "ok"]
        argv = cmdline(z.proc.pid)
        assert argv[:-1] == python_module(
            "codeswarm.worker.zygote", "--run-dir", str(run_dir), "--room"
        )
        z.ask(f"run {tmp_path}")  # once only
        assert z.read()[:2] == ["error", "-"]
        z.ask("fork s_0")
        kind, agent, pid = z.read()
        assert (kind, agent) == ("forked", "s_0")
        assert z.read() == ["exit", pid, "2"]  # bad input: no swarm in the run directory
        assert (run_dir / "agents" / "s_0" / "worker.log").read_text()
    finally:
        assert z.close() == 0


# -- the supervisor's end ---------------------------------------------------------------------
async def test_the_first_forks_start_one_zygote_and_closing_ends_it(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    agents = ["s_0", "s_1"]
    for agent in agents:
        run.agent_dir(agent).mkdir(parents=True)
    forks = Forks(run, agents)
    assert not forks.started and not zygotes(run.root)  # not until a fork is asked for
    pids = await asyncio.gather(*(forks.fork(a) for a in agents))
    assert all(pids)
    assert await asyncio.gather(*(forks.wait(p) for p in pids if p)) == [2, 2]  # no swarm
    assert forks.proc is not None and zygotes(run.root) == [forks.proc.pid]  # children gone
    await forks.aclose()
    assert forks.proc.returncode == 0 and not zygotes(run.root)
    assert await forks.fork("s_0") is None  # closed: the caller starts the worker itself
    await forks.aclose()  # twice: nothing more


def _spawned_zygote() -> Prestarted:
    """A zygote waiting for its run directory, as a pending supervisor's fork gives it (a child
    of this process, its end of a socket pair as stdin), started here without forking the test
    process (its threads)."""
    ours, theirs = socket.socketpair()
    argv = zygote_argv()
    pid = os.posix_spawn(argv[0], argv, {**os.environ, **python_env()}, setsid=True,
                         file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 0)])  # fmt: skip
    theirs.close()
    return Prestarted(ForkedChild(pid), ours)


def test_a_forked_child_s_handle_gives_popen_s_answers() -> None:
    """ForkedChild (control/proc.py): what the zygote's keeper asks of it, as of a Popen."""
    argv = [sys.executable, "-c", "import sys, time; time.sleep(float(sys.argv[1])); sys.exit(3)"]
    ended = ForkedChild(os.posix_spawn(argv[0], [*argv, "0"], dict(os.environ)))
    assert ended.wait(30) == 3 and ended.poll() == 3 and ended.returncode == 3
    slow = ForkedChild(os.posix_spawn(argv[0], [*argv, "60"], dict(os.environ)))
    assert slow.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        slow.wait(0.05)
    slow.kill()
    assert slow.wait() == -signal.SIGKILL and slow.poll() == -signal.SIGKILL
    slow.kill()  # ended: nothing
    gone = ForkedChild(os.posix_spawn(argv[0], [*argv, "0"], dict(os.environ)))
    os.waitpid(gone.pid, 0)  # reaped by someone else: Popen's 0
    assert gone.poll() == 0 and gone.wait() == 0


@pytest.mark.parametrize("died", [False, True], ids=["alive", "killed-before"])
async def test_a_zygote_started_first_is_told_the_run_or_replaced_if_it_died(
    tmp_path: Path, died: bool
) -> None:
    """A pending supervisor's zygote (control/launch/pending.py: forked, a child it watches by
    pid, not a Popen): the supervisor tells it the run directory; one killed (-9) before that is
    replaced by a new one, forking as ever."""
    first = _spawned_zygote()
    run = RunDir(tmp_path / "run")
    run.agent_dir("s_0").mkdir(parents=True)
    if died:
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
    forks = Forks(run, ["s_0"], first)
    assert forks.start() and forks.proc is not None
    assert (forks.proc is first.proc) is not died
    pid = await forks.fork("s_0")
    assert pid is not None and await forks.wait(pid) == 2  # (no swarm in the run directory)
    await forks.aclose()
    assert first.proc.poll() is not None and not zygotes(run.root)


async def test_a_zygote_that_does_not_end_is_killed_and_the_loop_runs_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forks_module, "CLOSE_GRACE", 0.5)
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    forks = Forks(run, ["s_0"])
    assert forks.start() and forks.proc is not None
    os.kill(forks.proc.pid, signal.SIGSTOP)  # it cannot see its end close
    ticks_while_it_lived = 0

    async def tick() -> None:
        nonlocal ticks_while_it_lived
        while True:
            assert forks.proc is not None
            ticks_while_it_lived += forks.proc.returncode is None and not gone(forks.proc.pid)
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        await forks.aclose()
    finally:
        ticker.cancel()
    assert forks.proc.returncode == -signal.SIGKILL and not zygotes(run.root)
    assert ticks_while_it_lived > 0  # closing did not block the event loop


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
