"""The swarm commands say what really happened (issue 11, "Smaller"): an empty log, an approval
a turn waits on (in `status` and in `send --wait`), an approval answered twice or never asked, an
interrupt with nothing to interrupt, the roles a script gives; `exec --help` and `send --help`
look like every other command's help. Real swarms: supervisor, workers, Codex, scripted model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from codeswarm.core.swarm import RunDir
from swarmkit import Swarm, python_env, wait_until

APPROVE_ME = {"agents": {"*": [{"exec": "echo approved > f.txt"}, {"text": "wrote it"}]}}


def lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def inbox(swarm: Swarm, rank: int) -> list[str]:
    path = swarm.run_dir / "mailbox" / "inbox" / f"{swarm.agent(rank)}.jsonl"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.codex
@pytest.mark.slow
def test_an_approval_is_shown_waited_on_answered_once_and_idle_agents_are_not_interrupted(
    swarm: Swarm, tmp_path: Path
) -> None:
    swarm.up(1, APPROVE_ME, "--approval-policy", "untrusted", "--approvals", "forward",
             "--sandbox", "workspace-write")  # fmt: skip

    # an empty worker log: one line saying so, and where it is
    log = swarm.run_dir / "agents" / "t_0" / "worker.log"
    os.truncate(log, 0)
    out = swarm.cli("logs", "t", "0")
    assert lines(out.stdout) == [f"t_0's worker log is empty ({log})"]

    # nothing running: nothing to interrupt (exit 1, one line, nothing sent)
    before = inbox(swarm, 0)
    idle = swarm.cli("interrupt", "t", "0", check=False)
    assert idle.returncode == 1 and idle.stdout == ""
    assert lines(idle.stderr) == ["codeswarm: error: nothing to interrupt: t_0 is idle"]
    assert inbox(swarm, 0) == before

    # send --wait, whose turn then waits for an approval: it says so, with the request id
    err = tmp_path / "send.err"
    with err.open("w") as sink:
        send = subprocess.Popen(
            [sys.executable, "-P", "-m", "codeswarm", "send", "t", "0", "write the file",
             "--wait"],
            stdout=subprocess.PIPE, stderr=sink, text=True, env=swarm.env, cwd=swarm.workdir,
        )  # fmt: skip
    try:
        waiting = wait_until(
            lambda: [ln for ln in lines(err.read_text()) if "waits for approval" in ln],
            what="send --wait to say it waits for an approval",
        )
        (request,) = swarm.status()["agents"][0]["pending_approvals"]
        rid = str(request["request_id"])
        assert waiting == [
            f"t_0 waits for approval #{rid} ({request['command']}): "
            f"codeswarm approve t t_0 {rid} [--decline]"
        ]
        assert not (swarm.workdir / "f.txt").exists()

        # plain status lists it, with the id `approve --help` says is there
        shown = swarm.cli("status", "t").stdout
        assert f"t_0 waits for approval #{rid}" in shown
        assert f"codeswarm approve t t_0 {rid}" in shown
        assert "echo approved" in shown
        assert "status" in swarm.cli("approve", "--help").stdout

        # a request never asked: refused, nothing sent
        before = inbox(swarm, 0)
        unknown = swarm.cli("approve", "t", "0", "999", check=False)
        assert unknown.returncode == 2
        assert lines(unknown.stderr) == [
            f"codeswarm: error: t_0 has no approval request 999; t_0 waits on {rid}"
        ]
        assert inbox(swarm, 0) == before

        answered = swarm.cli("approve", "t", "0", rid)
        assert lines(answered.stdout) == [f"accept sent to t_0 for request {rid}"]
        answers, _ = send.communicate(timeout=120)
        assert send.returncode == 0 and answers.strip() == "t_0: wrote it"
    finally:
        if send.poll() is None:
            send.kill()
        send.communicate()
    assert (swarm.workdir / "f.txt").read_text() == "approved\n"

    # the same answer again: already answered (exit 2), nothing sent
    wait_until(lambda: not swarm.status()["agents"][0]["pending_approvals"], what="resolved")
    before = inbox(swarm, 0)
    again = swarm.cli("approve", "t", "0", rid, check=False)
    assert again.returncode == 2 and again.stdout == ""
    assert lines(again.stderr) == [f"codeswarm: error: request {rid} of t_0 is already answered"]
    assert inbox(swarm, 0) == before
    assert "waits for approval" not in swarm.cli("status", "t").stdout


@pytest.mark.codex
@pytest.mark.slow
def test_interrupt_names_the_idle_agents_and_interrupts_the_busy_one(swarm: Swarm) -> None:
    slow = {"agents": {"0": [{"text": "slow answer", "delay": 60}], "*": ["quick"]}}
    swarm.up(2, slow)
    swarm.cli("send", "t", "0", "take your time")
    wait_until(lambda: swarm.status()["agents"][0]["state"] == "busy", what="t_0 busy")
    out = swarm.cli("interrupt", "t", "all")
    assert lines(out.stdout) == ["interrupt sent to t_0", "nothing to interrupt: t_1 is idle"]
    assert not any("interrupt" in rec for rec in inbox(swarm, 1))
    wait_until(lambda: swarm.status()["agents"][0]["state"] == "idle", what="the interrupt")


@pytest.mark.codex
@pytest.mark.slow
def test_roles_from_the_script_reach_status_the_store_and_the_mcp_identity(
    swarm: Swarm,
) -> None:
    script = {"roles": {"0": "planner", "*": "reviewer"}, "agents": {"*": ["hi"]}}
    swarm.up(3, script)
    st = swarm.status()
    assert [a["role"] for a in st["agents"]] == ["planner", "reviewer", "reviewer"]
    assert "planner" in swarm.cli("status", "t").stdout
    registered = json.loads(swarm.cli("coord", "agents", "--json").stdout)
    roles = {a["id"].split("#")[0]: a["role"] for a in registered}
    assert roles == {"t_0": "planner", "t_1": "reviewer", "t_2": "reviewer"}
    # what the coordination hub acts as for each agent's token (its grant)
    grants = (RunDir(swarm.run_dir).mcp_dir / "tokens").glob("*.json")
    granted = {g["agent"]: g["env"] for g in (json.loads(p.read_text()) for p in grants)}
    for rank, role in enumerate(["planner", "reviewer", "reviewer"]):
        assert granted[swarm.agent(rank)]["CODESWARM_AGENT_ROLE"] == role


def test_script_roles_by_key_and_a_bad_role_refused_before_anything(tmp_path: Path) -> None:
    from codeswarm.mockmodel.script import Script

    script = Script.from_obj({"roles": {"0": "planner", "*": "reviewer"}, "agents": {}})
    assert [script.role_for(f"s_{r}") for r in range(3)] == ["planner", "reviewer", "reviewer"]
    assert Script.from_obj({"agents": {}}).role_for("s_0") is None
    bad = subprocess.run(
        [sys.executable, "-P", "-m", "codeswarm", "up", "-n", "1", "--name", "r",
         "--model-provider", "mock", "--script", str(_script(tmp_path, {"0": "a\nb"}))],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env=python_env(CODESWARM_STATE_DIR=str(tmp_path / "st")),
    )  # fmt: skip
    assert bad.returncode == 2 and "roles" in bad.stderr and len(lines(bad.stderr)) == 1
    assert not (tmp_path / "st" / "runs" / "r").exists()


def _script(tmp_path: Path, roles: dict[str, str]) -> Path:
    path = tmp_path / "roles.json"
    path.write_text(json.dumps({"roles": roles, "agents": {"*": ["hi"]}}))
    return path


@pytest.mark.parametrize("command", ["exec", "send"])
def test_fast_commands_help_looks_like_every_other_commands(command: str, tmp_path: Path) -> None:
    def helped(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-P", "-m", "codeswarm", *args, "--help"],
            capture_output=True, text=True, timeout=60, env=python_env(COLUMNS="100"),
            cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0 and done.stderr == "", done.stderr
        return done.stdout

    typer_help = helped("status")
    fast = helped(command)
    frames = ("╭─ Arguments ─", "╭─ Options ─", r"│ --help +-h +<bool> +Show this message")
    for frame in frames:
        assert re.search(frame, typer_help)
        assert re.search(frame, fast), fast
    assert f"Usage: codeswarm {command} [OPTIONS]" in fast
    assert "usage:" not in fast and "positional arguments" not in fast  # not argparse's
    assert "Exit codes: 0" in fast
    if command == "exec":
        assert "<untrusted|on-request|never>" in fast and "The agent's working" in fast
    else:
        assert "<queue|steer>" in fast and "The swarm." in fast
