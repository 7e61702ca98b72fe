"""The REAL Codex CLI (``codex exec --json``) against the scripted model, offline."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from codeswarm.mockmodel import MockModel, Script, to_codex_flags

pytestmark = pytest.mark.codex

EXEC_TIMEOUT = 30.0
PATCH = "*** Begin Patch\n*** Add File: greeting.txt\n+hello from a patch\n*** End Patch\n"


@dataclass
class Run:
    rc: int
    events: list[dict[str, Any]]
    stderr: str
    requests: list[dict[str, Any]]
    workdir: Path

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def items(self, kind: str) -> list[dict[str, Any]]:
        return [e["item"] for e in self.of("item.completed") if e["item"]["type"] == kind]


async def codex_exec(
    codex_bin: Path, tmp_path: Path, script: dict[str, Any], prompt: str = "Do the thing."
) -> Run:
    """Run ``codex exec --json`` once against a fresh scripted model, as agent ``demo_0``."""
    home, workdir = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir()
    workdir.mkdir()
    async with MockModel(Script.from_obj(script), log_path=tmp_path / "model.jsonl") as mm:
        proc = await asyncio.create_subprocess_exec(
            str(codex_bin),
            "exec",
            "--json",
            "--skip-git-repo-check",
            "-C",
            str(workdir),
            "-s",
            "workspace-write",
            *to_codex_flags(mm.codex_config(agent="demo_0")),
            prompt,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "CODEX_HOME": str(home)},
        )
        try:
            async with asyncio.timeout(EXEC_TIMEOUT):
                out, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        events = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
        assert proc.returncode is not None
        return Run(proc.returncode, events, err.decode(), list(mm.requests), workdir)


async def test_text_reply_reports_the_declared_usage(codex_bin: Path, tmp_path: Path) -> None:
    usage = {
        "input_tokens": 1234,
        "output_tokens": 56,
        "cached_input_tokens": 78,
        "reasoning_tokens": 9,
    }
    text = "Hello! This reply was streamed in several small deltas."
    run = await codex_exec(codex_bin, tmp_path, {"agents": {"*": [{"text": text, "usage": usage}]}})
    assert run.rc == 0, run.stderr
    assert [m["text"] for m in run.items("agent_message")] == [text]
    (done,) = run.of("turn.completed")
    assert done["usage"]["input_tokens"] == 1234
    assert done["usage"]["output_tokens"] == 56
    assert done["usage"]["cached_input_tokens"] == 78
    assert done["usage"]["reasoning_output_tokens"] == 9
    # what Codex sent: one request, with its ids in the headers and the prompt in the input
    (request,) = run.requests
    thread_id = run.of("thread.started")[0]["thread_id"]
    assert request["headers"]["thread-id"] == thread_id
    assert request["headers"]["x-codex-turn-metadata"]["thread_id"] == thread_id
    assert request["body"]["model"] == "gpt-5.5"
    assert request["body"]["stream"] is True
    assert request["body"]["input"][-1]["content"][0]["text"] == "Do the thing."


async def test_exec_entry_runs_a_command(codex_bin: Path, tmp_path: Path) -> None:
    script = {"agents": {"demo_0": [{"exec": "echo hi > out.txt"}, {"text": "Wrote out.txt."}]}}
    run = await codex_exec(codex_bin, tmp_path, script)
    assert run.rc == 0, run.stderr
    assert (run.workdir / "out.txt").read_text() == "hi\n"
    (command,) = run.items("command_execution")
    assert "echo hi > out.txt" in command["command"] and command["exit_code"] == 0
    # the second request carries the call and its output, matched by call id
    first, second = run.requests
    assert (first["entry_index"], second["entry_index"]) == (0, 1)
    call, result = second["body"]["input"][-2:]
    assert (call["type"], call["name"]) == ("function_call", "exec_command")
    assert result["type"] == "function_call_output"
    assert result["call_id"] == call["call_id"]


async def test_patch_entry_adds_a_file(codex_bin: Path, tmp_path: Path) -> None:
    script = {"agents": {"0": [{"text": "Adding a file.", "patch": PATCH}, {"text": "Done."}]}}
    run = await codex_exec(codex_bin, tmp_path, script)
    assert run.rc == 0, run.stderr
    assert (run.workdir / "greeting.txt").read_text() == "hello from a patch\n"
    (change,) = run.items("file_change")
    assert change["changes"][0]["kind"] == "add"
    assert [m["text"] for m in run.items("agent_message")] == ["Adding a file.", "Done."]
    assert run.requests[1]["body"]["input"][-1]["type"] == "custom_tool_call_output"


async def test_fail_entry_fails_the_turn(codex_bin: Path, tmp_path: Path) -> None:
    run = await codex_exec(codex_bin, tmp_path, {"agents": {"*": [{"fail": "boom"}]}})
    assert run.rc == 1
    (failed,) = run.of("turn.failed")
    assert "boom" in failed["error"]["message"]
    assert len(run.requests) == 1, "no retries: the scripted failure is seen once"


async def test_cut_entry_is_a_disconnect(codex_bin: Path, tmp_path: Path) -> None:
    script = {"agents": {"*": [{"text": "This answer never finishes streaming.", "cut": True}]}}
    run = await codex_exec(codex_bin, tmp_path, script)
    assert run.rc == 1
    assert "stream disconnected before completion" in run.of("turn.failed")[0]["error"]["message"]


async def test_when_sees_the_prompt_not_codex_context(codex_bin: Path, tmp_path: Path) -> None:
    script = {"agents": {"*": ["in order", {"when": "^Greet the team", "text": "Hello, team!"}]}}
    run = await codex_exec(codex_bin, tmp_path, script, prompt="Greet the team, please.")
    assert run.rc == 0, run.stderr
    assert [m["text"] for m in run.items("agent_message")] == ["Hello, team!"]


async def test_mcp_tool_call_reaches_codex(codex_bin: Path, tmp_path: Path) -> None:
    """No MCP server is mounted here: Codex answers the namespaced call itself, by call id."""
    script = {
        "agents": {"*": [{"tool": "codeswarm/lease_acquire", "arguments": {"path": "a"}}, "ok"]}
    }
    run = await codex_exec(codex_bin, tmp_path, script)
    assert run.rc == 0, run.stderr
    call, result = run.requests[1]["body"]["input"][-2:]
    assert (call["namespace"], call["name"]) == ("mcp__codeswarm", "lease_acquire")
    assert json.loads(call["arguments"]) == {"path": "a"}
    assert (result["type"], result["call_id"]) == ("function_call_output", call["call_id"])
