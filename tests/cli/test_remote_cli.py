"""Steering a swarm over ssh (a real sshd on 127.0.0.1): `send --remote` and `attach --remote`,
with the connection killed mid-stream: every event arrives, none twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from swarmkit import (
    Swarm,
    assert_delivered_once,
    pids_of,
    read_jsonl,
    turns_completed,
    wait_until,
)

pytestmark = [pytest.mark.codex, pytest.mark.slow]


def remote_env(swarm: Swarm, sshd: Any) -> tuple[str, dict[str, str]]:
    d = sshd.dir
    env = {
        **swarm.env,
        "CODESWARM_SSH_ARGS": f"-F /dev/null -i {d}/userkey -o UserKnownHostsFile={d}/known_hosts "
        "-o StrictHostKeyChecking=yes",
    }
    return f"{sshd.url(swarm.state)}?python={sys.executable}", env


def test_remote_send_and_attach_survive_a_dropped_connection(swarm: Swarm, sshd: Any) -> None:
    swarm.up(2, {"agents": {"*": ["one", "two", "three", "four"]}})
    url, env = remote_env(swarm, sshd)
    out = swarm.state.parent / "remote-attach.jsonl"
    out.write_bytes(b"")
    with swarm.attached(out, "--remote", url, "--cursor", "far", env=env, stop=signal.SIGKILL):
        sent = subprocess.run(
            [sys.executable, "-m", "codeswarm", "send", "t", "all", "first", "--remote", url, "--wait", "--json"],
            capture_output=True, text=True, env=env, cwd=swarm.workdir, timeout=120,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert {a: r["text"] for a, r in json.loads(sent.stdout).items()} == {
            "t_0": "one",
            "t_1": "one",
        }
        wait_until(lambda: turns_completed(out) >= 2, what="attach over ssh to see the first turns")
        # kill the far end of the connection: the transport reconnects and resumes
        servers = pids_of("codeswarm.mailbox.serve")
        assert servers
        for pid in servers:
            os.kill(pid, signal.SIGKILL)
        swarm.cli("send", "t", "all", "second", "--wait")
        wait_until(lambda: turns_completed(out) >= 4, what="attach to catch up after the reconnect")
    # the router itself died (SIGKILL): its cursor is saved here
    swarm.cli("send", "t", "all", "third", "--wait")
    with swarm.attached(out, "--remote", url, "--cursor", "far", env=env):
        wait_until(
            lambda: turns_completed(out) >= 6, what="the restarted attach to resume from its cursor"
        )
    assert_delivered_once(read_jsonl(out), {a: ["one", "two", "three"] for a in ("t_0", "t_1")})


def test_remote_bad_url_is_one_line(swarm: Swarm) -> None:
    swarm.up(1, {"agents": {"*": ["hi"]}})
    proc = swarm.cli("send", "t", "0", "x", "--remote", "ssh://nohostpath", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_up_status_down_run_on_the_far_host(swarm: Swarm, sshd: Any, codex_binary: Any) -> None:
    url, env = remote_env(swarm, sshd)
    # the far workspace has its own managed toolchain (ssh forwards no environment)
    prefix = Path(codex_binary.path).parents[2]
    (swarm.state / "tools").mkdir(parents=True, exist_ok=True)
    (swarm.state / "tools" / prefix.name).symlink_to(prefix)
    script = swarm.state.parent / "far-script.json"
    script.write_text(json.dumps({"agents": {"*": ["far away"]}}))

    def cs(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "codeswarm", *args, "--remote", url],
                              capture_output=True, text=True, env=env, cwd=swarm.workdir, timeout=180)  # fmt: skip

    up = cs("up", "-n", "1", "--name", "t", "--cwd", str(swarm.workdir), "--model-provider", "mock",
            "--script", str(script), "--json")  # fmt: skip
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["agents"][0]["state"] == "idle"
    sent = subprocess.run(
        [sys.executable, "-m", "codeswarm", "send", "t", "0", "hello", "--remote", url, "--wait", "--json"],
        capture_output=True, text=True, env=env, cwd=swarm.workdir, timeout=120,
    )  # fmt: skip
    assert json.loads(sent.stdout)["t_0"]["text"] == "far away"
    status = cs("status", "t", "--json")
    assert json.loads(status.stdout)["agents"][0]["turns"] == 1
    down = cs("down", "t")
    assert down.returncode == 0 and "is down" in down.stdout
    assert swarm.processes() == []
    bad = cs("status", "nope")
    assert bad.returncode == 2 and "no swarm 'nope'" in bad.stderr
