"""OpenClaw drives a swarm, for real: the pinned ``openclaw`` npm package, offline in a
loopback-only network namespace, with the scripted model as its model provider (Chat
Completions). A person's message makes the OpenClaw agent read the codeswarm skill (installed by
``codeswarm install openclaw``), bring up a local swarm (the real Codex, a second script), send it
a message and wait, report the swarm's answer and tokens, and bring the swarm down. Then the
swarm's own records are checked against what OpenClaw was told, and nothing may be left running
in the namespace."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openclaw_local import OpenClaw, Sandbox, Unavailable, person_env, wait_for_line

from codeswarm.mockmodel.overrides import OPENCLAW_MODEL, openclaw_models
from swarmkit import need, read_jsonl

pytestmark = [pytest.mark.slow, pytest.mark.codex]

SKILL_LOCATION = "~/.openclaw/skills/codeswarm/SKILL.md"
PORT = 18999  # any port: nothing else listens in a fresh network namespace
AGENT = "oc"  # the OpenClaw agent's name in the scripted model's URL
SWARM = "hello"
QUESTION = "What is the answer?"
ANSWER = "Forty-two, says the swarm."
USAGE = {"input_tokens": 1200, "cached_input_tokens": 200, "output_tokens": 34}
TOTAL = 1234  # input + output, as status counts it
PERSON = (
    f"Use codeswarm: start a one-agent swarm named {SWARM} on my repository, ask it "
    f"'{QUESTION}', tell me its answer and the tokens it used, then stop it."
)
FINAL = (
    f"The swarm's agent {SWARM}_0 answered: {ANSWER} It used 1200 input tokens (200 cached), "
    f"34 output tokens, {TOTAL} in total. The swarm is down again."
)


def exec_entry(command: str, repo: Path) -> dict[str, Any]:
    """OpenClaw's ``exec`` tool, as the skill says to call it (a long yield: one call)."""
    call = {"command": command, "workdir": str(repo), "yieldMs": 120000}
    return {
        "call": {"name": "exec", "input": call},
        "usage": {"input_tokens": 900, "output_tokens": 40},
    }


def openclaw_script(repo: Path, swarm_script: Path) -> dict[str, Any]:
    """What the OpenClaw agent's model does on the person's message, one entry per request."""
    up = (
        f"codeswarm up --name {SWARM} -n 1 --cwd {shlex.quote(str(repo))} --json "
        f"--model-provider mock --script {shlex.quote(str(swarm_script))}"
    )
    ask = (
        f"codeswarm send {SWARM} all {shlex.quote(QUESTION)} --wait --json && "
        f"codeswarm status {SWARM} --json"
    )
    return {
        "agents": {
            AGENT: [
                # the <location> OpenClaw lists the installed skill at (HOME as ~)
                {"read": SKILL_LOCATION, "usage": {"input_tokens": 800, "output_tokens": 20}},
                exec_entry(up, repo),
                exec_entry(ask, repo),
                exec_entry(f"codeswarm down {SWARM}", repo),
                {"text": FINAL, "usage": {"input_tokens": 1000, "output_tokens": 60}},
            ]
        }
    }


def openclaw_config(root: Path) -> dict[str, Any]:
    return {
        "update": {"checkOnStart": False},
        "logging": {"file": str(root / "openclaw.log")},
        "agents": {
            "defaults": {"workspace": str(root / "workspace"), "model": {"primary": OPENCLAW_MODEL}}
        },
        "models": openclaw_models(f"http://127.0.0.1:{PORT}/agents/{AGENT}/v1"),
    }


def tool_results(request: dict[str, Any]) -> list[str]:
    """The tool results (as text) a Chat Completions request carries, oldest first."""
    out = []
    for message in request["body"]["messages"]:
        if message.get("role") != "tool":
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
        out.append(str(content))
    return out


def json_lines(output: str) -> list[Any]:
    """The JSON documents among an exec's output lines (stderr's warnings come along)."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_openclaw_reads_the_skill_and_runs_a_swarm(
    openclaw: OpenClaw, codex_bin: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "workspace").mkdir()
    env = person_env(tmp_path, openclaw.bin_dir)
    state = tmp_path / "state"
    env.update(
        CODESWARM_STATE_DIR=str(state),
        CODESWARM_CODEX_BIN=str(codex_bin),
        CODEX_HOME=str(tmp_path / "user-codex-home"),
    )
    # the skill, put where OpenClaw finds skills by the command under test
    done = subprocess.run(
        [sys.executable, "-P", "-m", "codeswarm", "install", "openclaw"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    skill = tmp_path / "home" / ".openclaw" / "skills" / "codeswarm" / "SKILL.md"
    assert skill.is_file()

    swarm_script = tmp_path / "swarm.json"
    swarm_script.write_text(json.dumps({"agents": {"*": [{"text": ANSWER, "usage": USAGE}]}}))
    script = tmp_path / "openclaw-script.json"
    script.write_text(json.dumps(openclaw_script(repo, swarm_script)))
    config = tmp_path / "openclaw.json"
    config.write_text(json.dumps(openclaw_config(tmp_path)))
    model_log = tmp_path / "openclaw-model.jsonl"

    try:
        box = Sandbox(tmp_path)
    except Unavailable as exc:
        need(str(exc))
    try:
        model = box.popen(
            [sys.executable, "-P", "-m", "codeswarm", "mock-model", "serve", "--script",
             str(script), "--port", str(PORT), "--log", str(model_log)],
            cwd=tmp_path, env=env,
        )  # fmt: skip
        listening = wait_for_line(model, "press Ctrl-C", timeout=60)
        assert listening and model.poll() is None, "the scripted model did not start"
        ran = box.run(
            openclaw.argv("agent", "exec", PERSON, "--config", str(config), "--cwd", str(repo),
                          "--json", "--timeout", "300"),
            cwd=repo, env=env, timeout=420,
        )  # fmt: skip
        model.send_signal(signal.SIGINT)
        model.communicate(timeout=60)
        left = box.pids()
    finally:
        killed = box.close()
    assert ran.returncode == 0, (
        f"openclaw agent exec: {ran.returncode}\n{ran.stdout}\n{ran.stderr[-3000:]}"
    )
    result = json.loads(ran.stdout)
    # the swarm was brought down: nothing of it, or of OpenClaw, is left running
    assert left == [] and killed == [], f"left running in the namespace: {left or killed}"

    # OpenClaw told the person the swarm's answer and its tokens
    assert result["ok"] is True and result["status"] == "ok", result
    assert ANSWER in result["final"] and str(TOTAL) in result["final"]

    # what OpenClaw's model saw: the skill offered, then read; the swarm's JSON came back
    requests = read_jsonl(model_log)
    assert [r["agent"] for r in requests] == [AGENT] * 5
    assert [r["entry_index"] for r in requests] == [0, 1, 2, 3, 4]
    system = requests[0]["body"]["messages"][0]["content"]
    offered = re.search(r"<name>codeswarm</name>.*?<location>(.*?)</location>", system, re.S)
    assert offered is not None, "the skill is not in OpenClaw's system prompt"
    assert offered[1] == SKILL_LOCATION
    assert Path(SKILL_LOCATION.replace("~", env["HOME"], 1)) == skill
    results = tool_results(requests[-1])
    assert len(results) == 4, results
    read, up, ask, down = results
    assert "codeswarm send NAME TARGET 'MESSAGE' --wait --json" in read  # the skill's text
    (up_json,) = json_lines(up)
    assert up_json["swarm"] == SWARM and [a["id"] for a in up_json["agents"]] == [f"{SWARM}_0"]
    sent, told = json_lines(ask)
    assert sent[f"{SWARM}_0"]["status"] == "completed" and sent[f"{SWARM}_0"]["text"] == ANSWER
    assert told["tokens"]["total"] == TOTAL
    assert f"swarm {SWARM} is down" in down

    # the swarm's own records agree
    run_dir = state / "runs" / SWARM
    swarm_requests = read_jsonl(run_dir / "model-requests.jsonl")
    assert len(swarm_requests) == 1 and QUESTION in json.dumps(swarm_requests[0]["body"]["input"])
    inbox = read_jsonl(run_dir / "mailbox" / "inbox" / f"{SWARM}_0.jsonl")
    assert [r["text"] for r in inbox if r.get("kind") == "message"] == [QUESTION]
    status = subprocess.run(
        [sys.executable, "-P", "-m", "codeswarm", "status", SWARM, "--json"],
        env=env, cwd=repo, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    (agent,) = json.loads(status.stdout)["agents"]
    assert agent["state"] == "stopped" and agent["turns"] == 1
    assert agent["last_message"] == ANSWER
    assert agent["tokens"] == {"input": 1200, "cached_input": 200, "output": 34, "total": TOTAL}
