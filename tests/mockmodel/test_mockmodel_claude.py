"""The REAL Claude Code CLI (``claude -p``, stream-json) against the scripted model's Messages
API, offline, with a throwaway HOME."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from codeswarm.mockmodel import MockModel, Script

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 60.0
_DROPPED = ("CODESWARM_", "ANTHROPIC_", "CLAUDE", "DISABLE_", "IS_SANDBOX")


@dataclass
class Run:
    rc: int
    events: list[dict[str, Any]]
    stderr: str
    requests: list[dict[str, Any]]
    workdir: Path

    @property
    def result(self) -> dict[str, Any]:
        (result,) = [e for e in self.events if e["type"] == "result"]
        return result

    def blocks(self, kind: str) -> list[dict[str, Any]]:
        """The assistant content blocks of ``kind`` Claude Code assembled from the stream."""
        return [
            b
            for e in self.events
            if e["type"] == "assistant"
            for b in e["message"]["content"]
            if b["type"] == kind
        ]

    def tool_results(self) -> list[dict[str, Any]]:
        return [
            b
            for e in self.events
            if e["type"] == "user" and isinstance(e["message"]["content"], list)
            for b in e["message"]["content"]
            if b.get("type") == "tool_result"
        ]


async def claude_p(
    claude: Path, tmp_path: Path, entries: list[Any], *args: str, prompt: str = "Do the thing."
) -> Run:
    """Run ``claude -p`` once against a fresh scripted model, as agent ``demo_0``."""
    home, workdir = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    workdir.mkdir(exist_ok=True)
    script = Script.from_obj({"agents": {"demo_0": entries}})
    async with MockModel(script, log_path=tmp_path / "model.jsonl") as mm:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
        proc = await asyncio.create_subprocess_exec(
            str(claude), "-p", prompt, "--output-format", "stream-json", "--verbose", *args,
            cwd=workdir, env={**env, **mm.claude_env("demo_0"), "HOME": str(home)},
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        events = [json.loads(ln) for ln in out.decode().splitlines() if ln.startswith("{")]
        return Run(proc.returncode or 0, events, err.decode(), mm.requests, workdir)


async def test_text_thinking_and_usage(claude_binary: Path, tmp_path: Path) -> None:
    run = await claude_p(
        claude_binary, tmp_path,
        [{"reasoning": "Think first.", "text": "Hello from the script.",
          "usage": {"input_tokens": 1200, "output_tokens": 34, "cached_input_tokens": 200}}],
    )  # fmt: skip
    assert run.rc == 0, run.stderr
    assert run.result["result"] == "Hello from the script."
    assert [b["thinking"] for b in run.blocks("thinking")] == ["Think first."]
    usage = run.result["usage"]
    assert (usage["input_tokens"], usage["cache_read_input_tokens"]) == (1000, 200)
    assert usage["output_tokens"] == 34
    (request,) = run.requests
    assert request["api"] == "messages" and request["agent"] == "demo_0"
    assert request["path"] == "/agents/demo_0/v1/messages"
    assert request["headers"]["x-claude-code-session-id"] == run.result["session_id"]
    assert request["body"]["stream"] is True and request["body"]["tools"]


async def test_tool_calls_run_in_claude_code(claude_binary: Path, tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "app.py").write_text("x = 1\ny = 2\n")
    patch = (
        "*** Begin Patch\n*** Add File: patched.txt\n+from a patch\n"
        "*** Update File: app.py\n@@\n x = 10\n-y = 2\n+y = 20\n*** End Patch\n"
    )
    entries = [
        {"read": "app.py"},
        {"edit": {"file_path": "app.py", "old_string": "x = 1\n", "new_string": "x = 10\n"}},
        {"write": {"file_path": "new.txt", "content": "written\n"}},
        {"exec": "echo ran > ran.txt"},
        {"patch": patch},
        {"text": "All done."},
    ]
    run = await claude_p(claude_binary, tmp_path, entries, "--permission-mode", "acceptEdits")
    assert run.rc == 0, run.stderr
    assert run.result["result"] == "All done." and run.result["permission_denials"] == []
    assert [b["name"] for b in run.blocks("tool_use")] == [
        "Read", "Edit", "Write", "Bash", "Write", "Edit",
    ]  # fmt: skip
    assert not [r for r in run.tool_results() if r.get("is_error")], run.tool_results()
    work = run.workdir
    assert (work / "app.py").read_text() == "x = 10\ny = 20\n"
    assert (work / "new.txt").read_text() == "written\n"
    assert (work / "ran.txt").read_text() == "ran\n"
    assert (work / "patched.txt").read_text() == "from a patch\n"
    # one request per round trip: the patch's two calls came in one answer
    assert [r["entry_index"] for r in run.requests] == [0, 1, 2, 3, 4, 5]
    # each follow-up carries the result of the call before it
    last = run.requests[-1]["body"]["messages"][-1]["content"]
    assert [b["type"] for b in last if b["type"] == "tool_result"] == ["tool_result"] * 2


@pytest.mark.parametrize(
    ("entries", "rc", "result", "requests"),
    [
        ([{"http_status": 400, "body": {"type": "error",
           "error": {"type": "invalid_request_error", "message": "fake bad"}}}],
         1, "API Error: 400 fake bad", 1),
        ([{"text": "partial", "fail": "boom"}, "unused"], 1, "API Error: boom", 1),
        ([{"text": "one two three four five six", "cut": True}, "again"], 0, "again", 2),
    ],
)  # fmt: skip
async def test_failures_as_claude_code_sees_them(
    claude_binary: Path, tmp_path: Path, entries: list[Any], rc: int, result: str, requests: int
) -> None:
    run = await claude_p(claude_binary, tmp_path, entries)
    assert run.rc == rc, run.stderr
    assert run.result["result"] == result
    assert run.result["is_error"] is (rc != 0)
    assert len(run.requests) == requests
    if requests == 2:  # a cut stream is sent again, without streaming
        assert run.requests[1]["body"].get("stream") is not True
