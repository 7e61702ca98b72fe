"""The coordination hub in a real swarm (real supervisor, workers and Codex, the scripted model):
every agent's Codex mounts one endpoint per swarm per node by URL, each request acts as the agent
whose token it carries, and no MCP server process runs under any Codex."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from codeswarm.worker.mcphub import INDEXED, TOKEN_ENV, HubFiles, host_name
from swarmkit import Swarm, hub_post, pids_of, wait_until

pytestmark = [pytest.mark.codex]


def hub_files(swarm: Swarm) -> HubFiles:
    return HubFiles(swarm.run_dir / "mcp", host_name())


def codex_pid(swarm: Swarm, rank: int) -> int:
    return int((swarm.run_dir / "agents" / swarm.agent(rank) / "codex.pid").read_text())


def descendants(pid: int) -> dict[int, bytes]:
    """Every live descendant of ``pid``, with its command line."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_bytes()
            except OSError:
                continue
            parent = int(stat[stat.rindex(b")") + 2 :].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    out, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                out[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            todo.append(child)
    return out


def codex_env(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if b"=" in item)


def tool_outputs(swarm: Swarm, agent: str) -> list[str]:
    out = []
    for req in swarm.model_requests():
        if req.get("agent") not in (None, agent):
            continue
        for item in req["body"].get("input", []):
            if item.get("type") == "function_call_output":
                output = item.get("output")
                out.append(output if isinstance(output, str) else json.dumps(output))
    return out


def mcp_calls(swarm: Swarm, rank: int) -> list[dict[str, Any]]:
    return [
        r["msg"]["params"]["item"]
        for r in swarm.outbox(rank)
        if r["kind"] == "codex"
        and r["msg"].get("method") == "item/completed"
        and r["msg"]["params"]["item"].get("type") == "mcpToolCall"
    ]


def call(port: int, token: str | None, tool: str, **arguments: Any) -> tuple[int, Any]:
    return hub_post(port, token, "tools/call", {"name": tool, "arguments": arguments})


def test_tools_act_as_the_token_s_agent_and_nothing_else_gets_in(swarm: Swarm) -> None:
    script = {
        "agents": {
            "0": [
                {"tool": "swarm_status"},
                {"tool": "lease", "arguments": {"path": "src/a.py", "note": "mine"}},
                {"exec": "env > shell-env.txt"},
                "zero done",
            ],
            "1": [{"tool": "lease", "arguments": {"path": "src/a.py"}}, "one done"],
        }
    }
    swarm.up(2, script, "--approval-policy", "never", "--sandbox", "workspace-write")
    files = hub_files(swarm)
    port = files.port()
    assert port is not None
    out = json.loads(swarm.cli("send", "t", "0", "go", "--wait", "--json").stdout)
    assert out["t_0"]["text"] == "zero done"
    out = json.loads(swarm.cli("send", "t", "1", "go", "--wait", "--json").stdout)
    assert out["t_1"]["text"] == "one done"

    # each call acted as its own agent: t_0 holds the lease, t_1 is refused naming t_0
    status, lease = mcp_calls(swarm, 0)[:2]
    assert status["status"] == lease["status"] == "completed"
    assert status["result"]["structuredContent"]["me"].startswith("t_0#")
    assert lease["result"]["structuredContent"]["path"] == "src/a.py"
    (refused,) = mcp_calls(swarm, 1)
    text = json.dumps(refused)
    assert "conflict:" in text and "t_0#" in text

    # every Codex reaches the one hub by URL: no MCP server process under any of them
    for rank in (0, 1):
        under = descendants(codex_pid(swarm, rank))
        assert not [cmd for cmd in under.values() if b"codeswarm.mcp" in cmd], under
    hubs = [p for p in pids_of(str(swarm.run_dir)) if b"codeswarm.mcp.hub" in
            Path(f"/proc/{p}/cmdline").read_bytes()]  # fmt: skip
    assert hubs == [files.read()["pid"]]

    # the token: in Codex's environment, never in the agent's shell
    token = codex_env(codex_pid(swarm, 0))[TOKEN_ENV]
    shell = (swarm.workdir / "shell-env.txt").read_text()
    assert token not in shell and "CODESWARM_" not in shell and "HOME=" in shell

    # no token, a wrong one: 401, nothing runs; the right one acts as its agent
    for bad in (None, "", "0" * 64, token[:-1]):
        assert call(port, bad, "lease", path="src/w.py")[0] == 401
        assert hub_post(port, bad)[0] == 401
    status, body = call(port, token, "leases", path="src/w.py")
    assert status == 200 and body["result"]["structuredContent"] == {"leases": []}
    t_1_token = codex_env(codex_pid(swarm, 1))[TOKEN_ENV]
    assert t_1_token != token
    status, body = call(port, t_1_token, "swarm_status")
    assert status == 200 and body["result"]["structuredContent"]["me"].startswith("t_1#")


def test_the_hub_killed_comes_back_on_its_port_and_the_next_call_works(swarm: Swarm) -> None:
    script = {"agents": {"0": [{"tool": "leases"}, "first", {"tool": "leases"}, "second"]}}
    swarm.up(1, script)
    files = hub_files(swarm)
    out = json.loads(swarm.cli("send", "t", "0", "one", "--wait", "--json").stdout)
    assert out["t_0"]["text"] == "first"
    before = files.read()
    ready = len(swarm.ready_threads(0))
    os.kill(before["pid"], signal.SIGKILL)
    after = wait_until(
        lambda: (r := files.read()).get("pid") not in (None, before["pid"]) and r,
        what="a new hub",
    )
    assert after["port"] == before["port"]
    out = json.loads(swarm.cli("send", "t", "0", "two", "--wait", "--json").stdout)
    assert out["t_0"]["text"] == "second"
    assert [c["status"] for c in mcp_calls(swarm, 0)] == ["completed", "completed"]
    # the same Codex, the same thread: nothing restarted but the hub
    assert len(swarm.ready_threads(0)) == ready


def test_a_new_worker_gets_a_new_token_the_old_one_is_refused_and_the_hub_ends_with_the_swarm(
    swarm: Swarm,
) -> None:
    swarm.up(1, {"agents": {"0": ["hi"]}})
    files = hub_files(swarm)
    pid, port = files.read()["pid"], files.port()
    assert port is not None
    old_codex = codex_pid(swarm, 0)
    old = codex_env(old_codex)[TOKEN_ENV]
    assert call(port, old, "swarm_status")[0] == 200
    worker = int((swarm.run_dir / "agents" / "t_0" / "worker.pid").read_text())
    os.kill(worker, signal.SIGKILL)  # its keeper starts the next generation
    wait_until(lambda: len(swarm.ready_threads(0)) == 2, what="the restarted worker")
    new = codex_env(codex_pid(swarm, 0))[TOKEN_ENV]
    assert new != old and call(port, old, "swarm_status")[0] == 401
    assert call(port, new, "swarm_status")[0] == 200
    assert files.read()["pid"] == pid  # the hub outlived the worker that started it
    swarm.cli("down", "t", "--grace", "5")
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or
               ") Z " in Path(f"/proc/{pid}/stat").read_text(), what="the hub to end")  # fmt: skip
    # no grant and no agent's index left (the directory's mark holds no token)
    assert [p.name for p in (swarm.run_dir / "mcp" / "tokens").iterdir()] == [INDEXED]


def test_a_hub_that_cannot_have_its_port_again_moves_and_every_agent_follows(
    swarm: Swarm,
) -> None:
    script = {"agents": {"*": [{"tool": "leases"}, "first", {"tool": "leases"}, "second"]}}
    swarm.up(2, script)
    files = hub_files(swarm)
    out = json.loads(swarm.cli("send", "t", "all", "one", "--wait", "--json").stdout)
    assert {r["text"] for r in out.values()} == {"first"}
    before = files.read()
    workers = [
        int((swarm.run_dir / "agents" / swarm.agent(r) / "worker.pid").read_text()) for r in (0, 1)
    ]
    for pid in workers:  # nobody restarts the hub until the port is taken
        os.kill(pid, signal.SIGSTOP)
    squatter = socket.socket()
    try:
        os.kill(before["pid"], signal.SIGKILL)
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

        def take_port() -> bool:  # free once the hub's last thread is gone
            try:
                squatter.bind(("127.0.0.1", before["port"]))
            except OSError:
                return False
            return True

        try:
            wait_until(take_port, what="the dead hub's port")
            squatter.listen(1)
        except AssertionError:
            # the port could not be had for 30 s (once in CI, not reproduced since: 160 runs
            # under load). A listener holding it fails the test (the dead hub's socket outlived
            # it); any other socket on it (a connection's end) keeps the new hub off it as well
            # as the squatter, so the test goes on. Either way, say what holds it.
            held = subprocess.run(["ss", "-tanpe", f"sport = :{before['port']}"],
                                  capture_output=True, text=True).stdout  # fmt: skip
            print(f"port {before['port']} still held:\n{held}")
            assert not listening_on(before["port"]), f"the dead hub's socket outlived it: {held}"
    except BaseException:
        squatter.close()
        raise
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
    try:
        after = wait_until(
            lambda: (r := files.read()).get("pid") != before["pid"] and r, what="a new hub"
        )
        assert after["port"] != before["port"]
        out = json.loads(swarm.cli("send", "t", "all", "two", "--wait", "--json").stdout)
        assert {r["text"] for r in out.values()} == {"second"}
        for rank in (0, 1):
            assert [c["status"] for c in mcp_calls(swarm, rank)] == ["completed", "completed"]
            restarts = [r for r in swarm.outbox(rank) if r["kind"] == "agent.restarted"]
            assert [r["reason"] for r in restarts] == [
                f"the coordination hub moved to port {after['port']}"
            ]
    finally:
        squatter.close()


def listening_on(port: int) -> bool:
    """Whether a socket listens on 127.0.0.1:``port`` (/proc/net/tcp: state 0A)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if local == f"0100007F:{port:04X}" and state == "0A":
            return True
    return False


def sdk_loaded(pid: int) -> bool:
    """The MCP SDK (its pydantic core) is loaded in process ``pid``."""
    return b"_pydantic_core" in Path(f"/proc/{pid}/maps").read_bytes()


def test_a_new_swarm_s_hub_mounts_its_agents_before_it_loads_the_sdk(swarm: Swarm) -> None:
    """Answers to a mount are kept in the person's cache per stamp of the code: once a hub of
    this code has been mounted, the next swarm's hub answers every agent's Codex before it
    loads the MCP SDK, and loads it for the first tool call (here: not before, the quiet time
    being long)."""
    swarm.env = {**swarm.env, "CODESWARM_HUB_QUIET_S": "600"}
    script = {"agents": {"*": [{"tool": "swarm_status"}, "looked"]}}
    swarm.up(2, script)  # whatever was kept before, this code's answers are after this one
    swarm.cli("down", "t", "--grace", "5")
    swarm.up(2, script)
    files = hub_files(swarm)
    pid, port = files.read()["pid"], files.port()
    assert port is not None and not sdk_loaded(pid)  # both agents ready: both mounted
    out = json.loads(swarm.cli("send", "t", "0", "look", "--wait", "--json").stdout)
    assert out["t_0"]["text"] == "looked" and sdk_loaded(pid)
    (called,) = mcp_calls(swarm, 0)
    assert called["status"] == "completed" and called["tool"] == "swarm_status"
    token = codex_env(codex_pid(swarm, 1))[TOKEN_ENV]
    assert call(port, token, "swarm_status")[0] == 200


def switches(pid: int) -> int:
    """Context switches of ``pid``'s main thread so far (each wake-up from a sleep is one)."""
    fields = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/task/{pid}/status").read_text().splitlines()
    )
    return int(fields["voluntary_ctxt_switches"]) + int(fields["nonvoluntary_ctxt_switches"])


def test_an_idle_hub_wakes_about_once_a_second(swarm: Swarm) -> None:
    """Its server's housekeeping ticks once a second (uvicorn's own ten times): an idle swarm's
    hub costs next to nothing. Counted, not timed: the main thread's wake-ups over 4 s."""
    swarm.up(1, {"agents": {"0": ["hi"]}})
    pid = hub_files(swarm).read()["pid"]
    wait_until(lambda: sdk_loaded(pid), what="the SDK loaded once the mount went quiet")
    before = switches(pid)
    time.sleep(4)
    woke = switches(pid) - before
    assert 2 <= woke <= 12, woke  # ten times a second would be ≥ 40
    token = codex_env(codex_pid(swarm, 0))[TOKEN_ENV]
    assert call(hub_files(swarm).port() or 0, token, "swarm_status")[0] == 200  # serving


def test_up_starts_the_hub_first_and_it_is_an_ordinary_hub(swarm: Swarm) -> None:
    """`up` starts the supervisor before it parses its options, which forks the hub once it has
    imported its own code (the hub then imports only the rest) and hands it the socket, the
    lock and the log: it then looks and acts as a hub started the ordinary way."""
    swarm.up(1, {"agents": {"0": ["hi"]}})
    files = hub_files(swarm)
    pid, port = files.read()["pid"], files.port()
    assert port is not None
    supervisor = int((swarm.run_dir / "supervisor.pid").read_text())
    assert Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(supervisor)
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
    assert argv[1:6] == ["-P", "-m", "codeswarm.mcp.hub", str(swarm.run_dir), "--fd"]
    assert argv[7] == "--lock-fd" and argv[9:] == ["--host", host_name()]
    assert "--pending" not in argv
    assert Path(f"/proc/{pid}/cwd").resolve() == swarm.run_dir.resolve()
    token = codex_env(codex_pid(swarm, 0))[TOKEN_ENV]
    assert call(port, token, "swarm_status")[0] == 200  # it outlived the `up` that started it
    # what it writes goes to its log, as an ordinarily started hub's does
    assert Path(f"/proc/{pid}/fd/2").resolve() == files.log.resolve()


@pytest.mark.parametrize(
    "args",
    [["up", "-n", "2", "--model-provider", "mock"], ["up", "-n", "nope"]],
    ids=["no-script", "bad-n"],
)
def test_an_up_that_fails_leaves_no_hub(swarm: Swarm, args: list[str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "codeswarm", *args], env=swarm.env, cwd=swarm.workdir,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    wait_until(lambda: not pids_of(f"--pending {proc.pid} "), timeout=10,
               what="the pending supervisor gone with the `up` that started it")  # fmt: skip
    # nor the hub it forked, nor anything else of that `up` (they have its environment)
    wait_until(lambda: not pids_of(swarm.env["CODESWARM_STATE_DIR"]), timeout=10,
               what="the pending hub gone with them")  # fmt: skip


def test_a_pending_hub_dies_with_the_process_that_started_it() -> None:
    """Killed (-9) while its hub still imports: the hub goes too, at once."""
    starter = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom codeswarm.worker.mcphub import prestart\n"
         "prestart()\nprint('ok', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert starter.stdout is not None and starter.stdout.readline() == "ok\n"
        needle = f"--pending {starter.pid} "
        assert len(wait_until(lambda: pids_of(needle), what="the pending hub")) == 1
        starter.kill()
        starter.wait()
        wait_until(lambda: not pids_of(needle), timeout=5, what="the pending hub gone")
    finally:
        starter.kill()
        starter.wait()
        starter.stdout.close()
