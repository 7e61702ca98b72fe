"""The hooks' decision service (codeswarm.hooks.service): a fleet agent's hooks ask its worker
over a unix socket. The same decisions as a hook deciding by itself, the hook deciding by itself
whenever the service cannot answer, nobody but the agent's own Codex served, and a fast path
that imports nothing of codeswarm."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hookkit import PATCH_X, coord, denied

from codeswarm.core.swarm import RunDir
from codeswarm.hooks import ENTRY, client
from codeswarm.hooks.call import EVENTS
from codeswarm.hooks.service import HookService, socket_path
from swarmkit import Swarm, wait_until

PATCH_NEW = "*** Begin Patch\n*** Add File: src/new.py\n+new\n*** End Patch\n"


def stats(path: Path | str) -> dict[str, int]:
    """The service's counters (any process of the same user may ask)."""
    fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(f"/proc/self/fd/{fd}/hooks.sock")
            s.sendall(b"stats")
            s.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    finally:
        os.close(fd)
    counts: dict[str, int] = json.loads(data)
    return counts


# -- without Codex: the service in this process, the hook a child of it ---------------------------


@pytest.fixture
def agent(repo: Path) -> Iterator[dict[str, Any]]:
    """A fleet agent ``me`` (a peer holds src/x.py) whose hooks' service runs in this process
    (this process stands for the agent's Codex: the hooks are its children)."""
    run = repo.parent / "run"
    agent_dir = RunDir(run).agent_dir("me")
    agent_dir.mkdir(parents=True, mode=0o700)
    with coord(repo) as c:
        c.lease(c.register("peer", lease_s=3600), "src/x.py", note="refactoring x")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CODESWARM_")},
        "CODESWARM_DB": str(repo.parent / "coord.db"),
        "CODESWARM_SCOPE": str(repo),
        "CODESWARM_AGENT_ID": "me",
        "CODESWARM_RUN_DIR": str(run),
    }
    # the worker's store, which the service shares: opened last, and closed (stop()) before
    # this process opens the database again (a second store in one process would drop the
    # first one's locks: see codeswarm.hooks.service._Coords)
    store = coord(repo).store
    service = HookService(str(agent_dir), lambda: env, os.getpid, lambda: store)
    service.start()

    def stop() -> None:
        service.close()
        store.close()

    try:
        yield {"env": env, "service": service, "dir": agent_dir, "stop": stop, "store": store}
    finally:
        stop()


def run_hook(
    repo: Path, env: dict[str, str], patch: str, *flags: str
) -> subprocess.CompletedProcess[str]:
    event = {"session_id": "s-1", "cwd": str(repo), "tool_use_id": "u-1",
             "tool_name": "apply_patch", "tool_input": {"command": patch}}  # fmt: skip
    return subprocess.run(
        [sys.executable, *flags, ENTRY, "codex", "pre-tool-use"],
        input=json.dumps(event), capture_output=True, text=True, env=env, timeout=30, check=True,
    )  # fmt: skip


def test_the_hook_and_the_service_agree_on_names() -> None:
    run = "/r"
    assert client.service_path(run, "a_0") == socket_path(str(RunDir(Path(run)).agent_dir("a_0")))
    assert tuple(EVENTS) == client._EVENTS


def test_the_fast_path_imports_only_the_socket_module(repo: Path, agent: dict[str, Any]) -> None:
    env = {**agent["env"], "PYTHONDONTWRITEBYTECODE": "1"}

    def imported(stderr: str) -> set[str]:
        return {
            line.rsplit("|", 1)[1].strip()
            for line in stderr.splitlines()
            if line.startswith("import time:") and "cumulative" not in line
        }

    floor = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "pass"],
        capture_output=True, text=True, env=env, timeout=30, check=True,
    )  # fmt: skip
    proc = run_hook(repo, env, PATCH_X, "-X", "importtime")
    assert agent["service"].served == 1  # the service decided: a deny naming the holder
    assert "peer#1" in (denied(json.loads(proc.stdout)) or "")
    extra = imported(proc.stderr) - imported(floor.stderr)
    assert extra == {"client", "_socket"}, extra  # client: codeswarm.hooks.client, by its file


def test_the_service_decides_as_the_hook_does(repo: Path, agent: dict[str, Any]) -> None:
    env, service = agent["env"], agent["service"]
    served = json.loads(run_hook(repo, env, PATCH_X).stdout)
    assert service.served == 1
    alone = json.loads(run_hook(repo, {**env, "CODESWARM_RUN_DIR": str(repo)}, PATCH_X).stdout)
    assert service.served == 1  # (no service there: the hook decided by itself)
    assert denied(served) == denied(alone)
    assert "src/x.py is held (exclusive) by peer#1" in (denied(served) or "")
    assert "refactoring x" in (denied(served) or "")
    # auto lease through the service, the audit rows alike
    assert run_hook(repo, env, PATCH_NEW).stdout == ""
    assert service.served == 2
    agent["stop"]()
    with coord(repo) as c:
        assert [(le.path, le.holder) for le in c.leases() if le.path == "src/new.py"] == [
            ("src/new.py", "me#1")
        ]
        rows = [(e.agent, e.subject, e.data["paths"]) for e in c.events(kind="lease.denied")]
    assert rows == [("me#1", "src/x.py", ["src/x.py"])] * 2


def test_the_store_unreachable_is_left_to_the_hook(repo: Path, agent: dict[str, Any]) -> None:
    """The worker's store failing: the service does not answer, the hook tries by itself (on a
    connection of its own) and the fail-open / fail-closed policy applies as before."""
    env = agent["env"]
    agent["stop"]()  # the worker's store, closed: every call on it fails
    service = HookService(str(agent["dir"]), lambda: env, os.getpid, lambda: agent["store"])
    service.start()
    try:
        env["CODESWARM_DB"] = "postgresql://nobody@127.0.0.1:1/none"  # the hook's fails too
        for policy in ("open", "closed"):
            env["CODESWARM_HOOKS_FAIL"] = policy
            via = run_hook(repo, env, PATCH_X)
            alone = run_hook(repo, {**env, "CODESWARM_RUN_DIR": str(repo)}, PATCH_X)
            assert (via.stdout, via.stderr) == (alone.stdout, alone.stderr)
            assert "coordinator unreachable" in via.stdout
        assert "permissionDecision" in via.stdout  # closed: denied
        assert service.served == 0
    finally:
        service.close()


def test_a_stranger_is_refused_and_the_hook_decides_alone(
    repo: Path, agent: dict[str, Any]
) -> None:
    # the service serves another process's children only: this process's hook is a stranger
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        service = HookService(
            str(agent["dir"]), lambda: agent["env"], lambda: other.pid, lambda: agent["store"]
        )
        agent["service"].close()
        service.start()
        try:
            out = json.loads(run_hook(repo, agent["env"], PATCH_X).stdout)
            assert "peer#1" in (denied(out) or "")  # decided all the same, by the hook itself
            assert (service.served, service.refused) == (0, 1)
            assert stats(service.path) == {"served": 0, "refused": 1}
        finally:
            service.close()
    finally:
        other.kill()
        other.wait()


def test_close_returns_at_once_with_the_socket_gone(agent: dict[str, Any]) -> None:
    service = agent["service"]
    os.unlink(service.path)
    service.close()  # (woken without connecting: nothing is left to connect to)
    assert service._thread is not None and not service._thread.is_alive()
    service.close()  # twice: nothing


def test_a_socket_someone_else_put_there_is_not_asked(repo: Path, agent: dict[str, Any]) -> None:
    # a process that is not the hook's ancestor answers "go ahead" on the agent's socket path
    agent["service"].close()
    rogue = subprocess.Popen(
        [sys.executable, "-c", (
            "import os, socket, sys\n"
            "os.chdir(sys.argv[1]); s = socket.socket(socket.AF_UNIX); s.bind('hooks.sock')\n"
            "s.listen(); print('ready', flush=True)\n"
            "while True:\n"
            "    c, _ = s.accept()\n"
            "    try: c.recv(1 << 20); c.sendall(b'\\0')\n"
            "    except OSError: pass\n"
            "    c.close()\n"
        ), str(agent["dir"])],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert rogue.stdout is not None and rogue.stdout.readline() == "ready\n"
        out = json.loads(run_hook(repo, agent["env"], PATCH_X).stdout)
        assert "peer#1" in (denied(out) or "")
    finally:
        rogue.kill()
        rogue.wait()
        if rogue.stdout is not None:
            rogue.stdout.close()


# -- real swarms ------------------------------------------------------------------------------


def make_repo(swarm: Swarm) -> None:
    (swarm.workdir / "src").mkdir()
    for name in ("x.py", "y.py"):
        (swarm.workdir / "src" / name).write_text("a\n")


def patch_update(path: str) -> str:
    return f"*** Begin Patch\n*** Update File: {path}\n@@\n-a\n+b\n*** End Patch\n"


def cli_json(swarm: Swarm, *args: str) -> Any:
    proc = swarm.cli("coord", *args, "--json")
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def reason_of(request: dict[str, Any]) -> str:
    """What the hook's deny told the model (the output of the call it blocked)."""
    return str(request["body"]["input"][-1]["output"])


@pytest.mark.codex
@pytest.mark.slow
def test_a_swarms_hooks_ask_the_service_and_decide_alone_when_it_is_down(swarm: Swarm) -> None:
    make_repo(swarm)
    script = {
        "agents": {
            "0": ["idle"],
            "1": [
                {"when": "first", "patch": patch_update("src/x.py")},
                {"patch": PATCH_NEW},
                {"text": "x held, new made"},
                {"when": "second", "patch": patch_update("src/x.py")},
                {"text": "x still held"},
            ],
        }
    }
    swarm.up(2, script, "--approval-policy", "never", "--sandbox", "workspace-write")
    sock = socket_path(str(RunDir(swarm.run_dir).agent_dir(swarm.agent(1))))
    wait_until(lambda: os.path.exists(sock), what="the hook service's socket")
    cli_json(swarm, "--as", "t_0", "lease", "src/x.py", "--note", "refactoring x")

    before = stats(sock)["served"]
    out = json.loads(swarm.cli("send", "t", "1", "first", "--wait", "--json").stdout)
    assert out["t_1"]["text"] == "x held, new made"
    served = stats(sock)
    assert served["served"] > before and served["refused"] == 0  # Codex's hooks were served
    reqs = [r for r in swarm.model_requests() if r["agent"] == "t_1"]
    via_service = reason_of(reqs[1])
    assert "src/x.py is held (exclusive) by t_0#1" in via_service
    assert "refactoring x" in via_service
    assert (swarm.workdir / "src" / "x.py").read_text() == "a\n"
    assert sorted((le["path"], le["holder"]) for le in cli_json(swarm, "leases")) == [
        ("src/new.py", "t_1#1"), ("src/x.py", "t_0#1")
    ]  # fmt: skip

    os.unlink(sock)  # the service is gone: the hooks decide by themselves, the same way
    out = json.loads(swarm.cli("send", "t", "1", "second", "--wait", "--json").stdout)
    assert out["t_1"]["text"] == "x still held"
    alone = reason_of([r for r in swarm.model_requests() if r["agent"] == "t_1"][-1])

    def steady(text: str) -> str:  # ages and expiry move between the two calls
        return text.split(" for ")[0] + text.split("refactoring x")[1].split(",")[0]

    assert steady(alone) == steady(via_service)
    rows = cli_json(swarm, "events", "--kind", "lease.denied")
    assert [(e["agent"], e["subject"], e["data"]["paths"]) for e in rows] == [
        ("t_1#1", "src/x.py", ["src/x.py"])
    ] * 2


ATTACK = """
import json, os, socket, sys
cwd, result = os.getcwd(), sys.argv[1]
patch = "*** Begin Patch\\n*** Add File: src/stolen.py\\n+x\\n*** End Patch\\n"
event = {"session_id": "s", "cwd": cwd, "tool_use_id": "u", "tool_name": "apply_patch",
         "tool_input": {"command": patch}}
out = {}
for target in sys.argv[2:]:
    step = "chdir"
    try:
        os.chdir(target)
        step = "connect"
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect("hooks.sock")
        step = "send"
        s.sendall(b"\\0".join([b"codex", b"pre-tool-use", cwd.encode(), json.dumps(event).encode()]))
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        out[target] = {"connected": True, "answer": data.decode(errors="replace")}
    except OSError as exc:
        out[target] = {"connected": False, "error": f"{step}: {exc}"}
    finally:
        os.chdir(cwd)
open(result, "w").write(json.dumps(out))
"""


@pytest.mark.codex
@pytest.mark.slow
@pytest.mark.parametrize("sandbox", ["workspace-write", "danger-full-access"])
def test_an_agents_shell_cannot_use_a_hook_service(swarm: Swarm, sandbox: str) -> None:
    """t_1's shell (the model's command) connects to t_0's service and to its own, asking for a
    first edit of src/stolen.py (an auto lease in the service's agent's name). In its sandbox
    it cannot even connect; without one, t_0's service closes the call unanswered (not a
    descendant of t_0's Codex) and counts it; its own service serves it as t_1, never as
    anyone else."""
    make_repo(swarm)
    run = RunDir(swarm.run_dir)
    dirs = [str(run.agent_dir(swarm.agent(rank))) for rank in (0, 1)]
    (swarm.workdir / "attack.py").write_text(ATTACK)
    result = swarm.workdir / "attack.json"
    command = f"{sys.executable} attack.py {result} {' '.join(dirs)}"
    script = {"agents": {"0": ["idle"], "1": [{"exec": command}, {"text": "tried"}]}}
    swarm.up(2, script, "--approval-policy", "never", "--sandbox", sandbox)
    socks = [socket_path(d) for d in dirs]
    wait_until(lambda: all(os.path.exists(s) for s in socks), what="the services' sockets")

    out = json.loads(swarm.cli("send", "t", "1", "attack", "--wait", "--json").stdout)
    assert out["t_1"]["text"] == "tried"
    tried = json.loads(result.read_text())
    peer, own = tried[dirs[0]], tried[dirs[1]]
    if sandbox == "workspace-write":
        assert not peer["connected"] and not own["connected"], tried
        assert peer["error"].startswith("connect:"), tried
        assert cli_json(swarm, "leases") == []
    else:
        assert peer["connected"] and peer["answer"] == "", tried  # closed unanswered
        assert stats(socks[0])["refused"] == 1
        assert own["connected"] and own["answer"] == "\0", tried  # served, as itself
        leases = cli_json(swarm, "leases")
        assert [(le["path"], le["holder"]) for le in leases] == [("src/stolen.py", "t_1#1")]
    assert not (swarm.workdir / "src" / "stolen.py").exists()
