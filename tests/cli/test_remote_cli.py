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

from swarmkit import Swarm, pids_of, wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow]


def remote_env(swarm: Swarm, sshd: Any) -> tuple[str, dict[str, str]]:
    d = sshd.dir
    env = {
        **swarm.env,
        "CODESWARM_SSH_ARGS": f"-F /dev/null -i {d}/userkey -o UserKnownHostsFile={d}/known_hosts "
        "-o StrictHostKeyChecking=yes",
    }
    return f"{sshd.url(swarm.state)}?python={sys.executable}", env


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def attach(swarm: Swarm, url: str, env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    with out.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "codeswarm", "attach", "t", "--remote", url, "--json", "--cursor", "far"],
            stdout=sink, stderr=subprocess.DEVNULL, env=env, cwd=swarm.workdir,
        )  # fmt: skip


def completed(path: Path) -> int:
    return sum(e["type"] == "turn.completed" for e in events(path))


def test_remote_send_and_attach_survive_a_dropped_connection(swarm: Swarm, sshd: Any) -> None:
    swarm.up(2, {"agents": {"*": ["one", "two", "three", "four"]}})
    url, env = remote_env(swarm, sshd)
    out = swarm.state.parent / "remote-attach.jsonl"
    out.write_bytes(b"")
    proc = attach(swarm, url, env, out)
    try:
        sent = subprocess.run(
            [sys.executable, "-m", "codeswarm", "send", "t", "all", "first", "--remote", url, "--wait", "--json"],
            capture_output=True, text=True, env=env, cwd=swarm.workdir, timeout=120,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert {a: r["text"] for a, r in json.loads(sent.stdout).items()} == {
            "t_0": "one",
            "t_1": "one",
        }
        wait_until(lambda: completed(out) >= 2, what="attach over ssh to see the first turns")
        # kill the far end of the connection: the transport reconnects and resumes
        servers = pids_of("codeswarm.mailbox.serve")
        assert servers
        for pid in servers:
            os.kill(pid, signal.SIGKILL)
        swarm.cli("send", "t", "all", "second", "--wait")
        wait_until(lambda: completed(out) >= 4, what="attach to catch up after the reconnect")
    finally:
        proc.send_signal(signal.SIGKILL)  # and the router itself dies: its cursor is saved here
        proc.wait()
    swarm.cli("send", "t", "all", "third", "--wait")
    proc = attach(swarm, url, env, out)
    try:
        wait_until(
            lambda: completed(out) >= 6, what="the restarted attach to resume from its cursor"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    got = events(out)
    keys = [(e["agent"], e["seq"]) for e in got]
    assert len(keys) == len(set(keys)), "an event arrived twice"
    for agent in ("t_0", "t_1"):
        seqs = [e["seq"] for e in got if e["agent"] == agent]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"a gap for {agent}"
        texts = [e["text"] for e in got if e["agent"] == agent and e["type"] == "message.completed"]
        assert texts == ["one", "two", "three"]


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
