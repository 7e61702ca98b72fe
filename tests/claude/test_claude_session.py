"""``codeswarm.claude.ClaudeSession``: the real Claude Code CLI (2.1.197) as one long-lived
stream-json process behind a Codex facade, the model scripted (the Messages API of
``codeswarm.mockmodel``), offline, with a throwaway config dir. One ``claude`` per test (about
300 MB and a second or two of CPU each).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from codeswarm.claude import ClaudeLaunch, ClaudeSession, turn_id_for
from codeswarm.codex.approval import ApprovalRequest, CallbackPolicy, Decision
from codeswarm.codex.subscription import Message, Subscription
from codeswarm.core.errors import ClaudeExitedError, CodexError, RpcError
from codeswarm.core.usage import Tokens
from codeswarm.mockmodel import MockModel, Script

pytestmark = pytest.mark.slow

AGENT = "s_1"
WAIT = 60.0
"""Seconds any one step may take (a turn takes well under a second here)."""


def usage(inp: int, out: int, cached: int = 0) -> dict[str, int]:
    return {"input_tokens": inp, "output_tokens": out, "cached_input_tokens": cached}


@dataclass
class Rig:
    """A project, a config dir, the scripted model; :meth:`spawn` starts a session there."""

    binary: Path
    tmp: Path
    stack: AsyncExitStack
    model: MockModel
    session_id: str

    def launch(self, **over: Any) -> ClaudeLaunch:
        project = self.tmp / "my_project.v1"  # dots and underscores: the dir name is mangled
        project.mkdir(exist_ok=True)
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.tmp / "home"),
            "LANG": "C.UTF-8",
            **self.model.claude_env(AGENT),
        }
        fields: dict[str, Any] = {
            "binary": self.binary,
            "cwd": project,
            "config_dir": self.tmp / "claude-home",
            "env": env,
            "session_id": self.session_id,
            "stderr_log": self.tmp / "claude.log",
            **over,
        }
        return ClaudeLaunch(**fields)

    async def spawn(self, policy: Any = None, **kw: Any) -> ClaudeSession:
        session = await ClaudeSession.spawn(self.launch(), policy, **kw)
        self.stack.push_async_callback(session.aclose, 1.0)
        return session

    def requests(self) -> list[dict[str, Any]]:
        return self.model.requests_for(AGENT)


async def open_rig(binary: Path, tmp: Path, stack: AsyncExitStack, entries: list[Any]) -> Rig:
    model = await stack.enter_async_context(
        MockModel(Script.from_obj({"agents": {AGENT: entries}}))
    )
    (tmp / "home").mkdir()
    return Rig(binary, tmp, stack, model, str(uuid.uuid4()))


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


async def take(sub: Subscription, until: Callable[[Message], bool]) -> list[Message]:
    """Messages from ``sub`` up to and including the first that ``until`` accepts."""
    out: list[Message] = []
    async with asyncio.timeout(WAIT):
        async for msg in sub:
            out.append(msg)
            if until(msg):
                return out
    raise AssertionError(f"subscription ended first: {out[-3:]}")


async def listed_turns(
    session: ClaudeSession, statuses: list[str], **params: Any
) -> list[dict[str, Any]]:
    """``thread/turns/list``'s turns once their statuses are ``statuses`` (Claude Code writes
    its transcript a moment after it prints the turn's ``result``)."""
    async with asyncio.timeout(WAIT):
        while True:
            turns: list[dict[str, Any]] = (await session.request("thread/turns/list", params))[
                "data"
            ]
            if [t["status"] for t in turns] == statuses:
                return turns
            await asyncio.sleep(0.05)


def method(name: str) -> Callable[[Message], bool]:
    return lambda m: m.get("method") == name


def of(msgs: list[Message], name: str) -> list[dict[str, Any]]:
    return [m["params"] for m in msgs if m.get("method") == name]


async def test_two_turns_stream_deltas_items_and_the_usage_the_model_reported(
    claude_binary: Path, tmp_path: Path, stack: AsyncExitStack
) -> None:
    rig = await open_rig(claude_binary, tmp_path, stack, [
        {"when": "FIRST", "text": "one two three four five six seven", "chunk": 4,
         "usage": usage(100, 7, cached=40)},
        {"when": "SECOND", "exec": "echo from-bash", "usage": usage(200, 5)},
        {"when": "SECOND", "text": "ran it", "usage": usage(210, 3, cached=200)},
    ])  # fmt: skip
    session = await rig.spawn(totals=Tokens(1000, 10, 100, 1100))  # what an earlier run spent
    assert session.thread_id == rig.session_id
    assert not rig.launch().resuming()  # a new session: --session-id
    thread = await session.thread_start(cwd=tmp_path, model="ignored")
    assert thread.id == rig.session_id
    everything = session.subscribe()

    turn = await session.turn_start(thread.id, "FIRST please", clientUserMessageId="rec-1")
    assert turn.turn_id == turn_id_for("rec-1") == str(turn.turn_id)
    result = await asyncio.wait_for(turn.wait(), WAIT)
    assert (result.status, result.text) == ("completed", "one two three four five six seven")
    msgs = await take(everything, method("turn/completed"))
    assert [m["method"] for m in msgs if m["method"] == "turn/started"] == ["turn/started"]
    deltas = of(msgs, "item/agentMessage/delta")
    assert len(deltas) > 1, "streamed in several deltas"
    assert "".join(d["delta"] for d in deltas) == result.text
    (done,) = [p["item"] for p in of(msgs, "item/completed")]
    assert {d["itemId"] for d in deltas} == {done["id"]}
    assert all(d["turnId"] == turn.turn_id and d["threadId"] == thread.id for d in deltas)
    (used,) = of(msgs, "thread/tokenUsage/updated")
    last = {"inputTokens": 100, "cachedInputTokens": 40, "outputTokens": 7,
            "reasoningOutputTokens": 0, "totalTokens": 107}  # fmt: skip
    assert used["tokenUsage"]["last"] == last
    assert used["tokenUsage"]["total"]["inputTokens"] == 1100  # the sum goes on from `totals`
    raw = [m["params"] for m in msgs if m["method"] == "claude/event"]
    assert [r["type"] for r in raw if r["type"] in ("assistant", "result")] == [
        "assistant",
        "result",
    ]
    assert not any(r["type"] == "stream_event" for r in raw)  # the deltas carry those

    turn = await session.turn_start(thread.id, "SECOND please", clientUserMessageId="rec-2")
    with pytest.raises(RpcError):
        await session.turn_steer(thread.id, turn.turn_id, "more")
    result = await asyncio.wait_for(turn.wait(), WAIT)
    assert (result.status, result.text) == ("completed", "ran it")
    (cmd,) = [i for i in result.items if i["type"] == "commandExecution"]
    assert cmd["command"] == "echo from-bash" and cmd["status"] == "completed"
    assert cmd["aggregatedOutput"].strip() == "from-bash" and cmd["exitCode"] == 0
    assert cmd["cwd"] == str(rig.launch().cwd)
    assert result.usage is not None
    assert result.usage["last"]["inputTokens"] == 410
    assert result.usage["last"]["cachedInputTokens"] == 200
    assert result.usage["last"]["outputTokens"] == 8
    assert session.totals == Tokens(1000 + 100 + 410, 10 + 40 + 200, 100 + 7 + 8, 1100 + 107 + 418)

    # the transcript, as thread/turns/list: newest first, found by the client's message id
    turns = await listed_turns(session, ["completed"] * 2, threadId=thread.id, limit=5)
    assert [t["id"] for t in turns] == [turn_id_for("rec-2"), turn_id_for("rec-1")]
    assert [t["items"][0]["clientId"] for t in turns] == ["rec-2", "rec-1"]
    assert turns[0]["items"][-1] == {"type": "agentMessage", "id": turns[0]["items"][-1]["id"],
                                     "text": "ran it"}  # fmt: skip
    with pytest.raises(RpcError) as info:
        await session.request("thread/list", {})
    assert info.value.code == -32601
    everything.close()


async def test_interrupt_mid_turn_ends_it_interrupted_and_the_process_lives_on(
    claude_binary: Path, tmp_path: Path, stack: AsyncExitStack
) -> None:
    rig = await open_rig(claude_binary, tmp_path, stack, [
        {"when": "SLOW", "text": "word " * 60, "chunk": 5, "delta_delay": 0.1,
         "usage": usage(50, 60)},
        {"when": "NEXT", "text": "still here", "usage": usage(60, 2)},
    ])  # fmt: skip
    session = await rig.spawn()
    pid = session.pid
    turn = await session.turn_start(session.thread_id, "SLOW please", clientUserMessageId="r1")
    with pytest.raises(RpcError):  # Claude would merge a second message into this turn
        await session.turn_start(session.thread_id, "too soon", clientUserMessageId="r-x")
    async with asyncio.timeout(WAIT):
        async for msg in turn:
            if msg.get("method") == "item/agentMessage/delta":
                break
    await turn.interrupt()
    result = await asyncio.wait_for(turn.wait(), WAIT)
    assert result.status == "interrupted"
    assert result.usage is not None and result.usage["last"]["inputTokens"] == 50  # streamed
    turn = await session.turn_start(session.thread_id, "NEXT please", clientUserMessageId="r2")
    result = await asyncio.wait_for(turn.wait(), WAIT)
    assert (result.status, result.text, session.pid) == ("completed", "still here", pid)
    await listed_turns(session, ["completed", "interrupted"])


async def test_kill_9_of_claude_mid_turn_then_resume_keeps_the_history(
    claude_binary: Path, tmp_path: Path, stack: AsyncExitStack
) -> None:
    rig = await open_rig(claude_binary, tmp_path, stack, [
        {"when": "LONG", "text": "word " * 200, "chunk": 5, "delta_delay": 0.1},
        {"when": "AFTER", "text": "resumed fine", "usage": usage(70, 2)},
    ])  # fmt: skip
    session = await rig.spawn()
    sub = session.subscribe()
    turn = await session.turn_start(session.thread_id, "LONG please", clientUserMessageId="r-long")
    await take(sub, method("item/agentMessage/delta"))
    assert session.pid is not None
    os.kill(session.pid, signal.SIGKILL)
    with pytest.raises(ClaudeExitedError) as info:
        await take(sub, lambda m: False)
    assert f"claude (pid {session.pid}) exited with code -9" in str(info.value)
    with pytest.raises(CodexError):
        await asyncio.wait_for(turn.wait(), WAIT)
    with pytest.raises(ClaudeExitedError):
        await session.turn_start(session.thread_id, "AFTER", clientUserMessageId="r-x")
    await session.aclose()
    await session.aclose()  # safe twice

    assert rig.launch().resuming()
    assert "--resume" in rig.launch().argv()
    again = await rig.spawn()
    thread = await again.thread_resume(rig.session_id)
    assert thread.id == rig.session_id
    with pytest.raises(RpcError):
        await again.thread_resume(str(uuid.uuid4()))
    listed = await again.request("thread/turns/list", {"threadId": rig.session_id, "limit": 5})
    (cut,) = listed["data"]
    assert cut["id"] == turn_id_for("r-long") and cut["items"][0]["clientId"] == "r-long"
    assert cut["status"] == "inProgress"  # never finished: the worker reports it aborted
    turn = await again.turn_start(thread.id, "AFTER the crash", clientUserMessageId="r-after")
    result = await asyncio.wait_for(turn.wait(), WAIT)
    assert (result.status, result.text) == ("completed", "resumed fine")
    history = str(rig.requests()[-1]["body"]["messages"])
    assert "LONG please" in history and "AFTER the crash" in history


async def test_approvals_reach_the_policy_and_allow_or_deny_the_tool(
    claude_binary: Path, tmp_path: Path, stack: AsyncExitStack
) -> None:
    twice = "python3 -c 'print(8*8)'"
    rig = await open_rig(claude_binary, tmp_path, stack, [
        {"when": "ALLOW", "exec": "python3 -c 'print(6*7)'"},
        {"when": "ALLOW", "text": "allowed"},
        {"when": "SESSION", "exec": twice},
        {"when": "SESSION", "exec": twice},  # allowed for the session: not asked again
        {"when": "SESSION", "text": "ran twice"},
        {"when": "DENY", "exec": "python3 -c 'print(7*7)'"},
        {"when": "DENY", "text": "denied"},
    ])  # fmt: skip
    asked: list[ApprovalRequest] = []
    answers = [Decision.ACCEPT, Decision.ACCEPT_FOR_SESSION, Decision.DECLINE]

    async def decide(request: ApprovalRequest) -> Decision:
        asked.append(request)
        return answers[len(asked) - 1]

    session = await rig.spawn(CallbackPolicy(decide))
    sub = session.subscribe()
    for word in ("ALLOW", "SESSION", "DENY"):
        turn = await session.turn_start(session.thread_id, f"{word} it", clientUserMessageId=word)
        result = await asyncio.wait_for(turn.wait(), WAIT)
        assert result.status == "completed"
    msgs = await take(sub, lambda m: m.get("method") == "turn/completed"
                      and m["params"]["turn"]["id"] == turn_id_for("DENY"))  # fmt: skip
    first, for_session, denied = asked
    assert (first.kind, first.method) == ("command", "item/commandExecution/requestApproval")
    assert first.command == "python3 -c 'print(6*7)'" and first.cwd == str(rig.launch().cwd)
    assert first.thread_id == rig.session_id and first.turn_id == turn_id_for("ALLOW")
    assert (for_session.command, denied.command) == (twice, "python3 -c 'print(7*7)'")
    requests = [m for m in msgs if "id" in m]
    ids = [first.request_id, for_session.request_id, denied.request_id]
    assert [r["id"] for r in requests] == ids
    assert [p["requestId"] for p in of(msgs, "serverRequest/resolved")] == ids
    commands = [p["item"] for p in of(msgs, "item/completed")
                if p["item"]["type"] == "commandExecution"]  # fmt: skip
    assert [c["status"] for c in commands] == ["completed"] * 3 + ["failed"]
    assert [c["aggregatedOutput"].strip() for c in commands[:3]] == ["42", "64", "64"]
    assert "declined by the codeswarm approval policy" in commands[3]["aggregatedOutput"]
    assert "49" not in commands[3]["aggregatedOutput"]


SPAWN_AND_WAIT = """
import asyncio, json, sys
from pathlib import Path
from codeswarm.claude import ClaudeLaunch, ClaudeSession

async def main() -> None:
    fields = json.loads(sys.argv[1])
    for key in ("binary", "cwd", "config_dir"):
        fields[key] = Path(fields[key])
    session = await ClaudeSession.spawn(ClaudeLaunch(**fields))
    await session.turn_start(session.thread_id, "LONG turn", clientUserMessageId="r")
    print(session.pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


GONE_WITHIN = 5.0
"""Seconds for claude to go after its parent (well under the turn's 20 s)."""


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie nobody reaped yet
    except FileNotFoundError:
        return True


async def test_a_kill_9_of_its_parent_takes_claude_with_it(
    claude_binary: Path, tmp_path: Path, stack: AsyncExitStack
) -> None:
    # a turn of 20 s: with stdin closed but no SIGKILL, claude would finish it first
    rig = await open_rig(claude_binary, tmp_path, stack, [
        {"text": "word " * 200, "chunk": 5, "delta_delay": 0.1},
    ])  # fmt: skip
    launch = rig.launch()
    fields = {"binary": str(launch.binary), "cwd": str(launch.cwd),
              "config_dir": str(launch.config_dir), "env": launch.env,
              "session_id": launch.session_id}  # fmt: skip
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SPAWN_AND_WAIT, json.dumps(fields), stdout=asyncio.subprocess.PIPE
    )
    assert parent.stdout is not None
    try:
        line = await asyncio.wait_for(parent.stdout.readline(), WAIT)
        pid = int(line)
        assert not gone(pid)
    finally:
        parent.kill()
        await parent.wait()
    async with asyncio.timeout(GONE_WITHIN):
        while True:
            if gone(pid):
                break
            await asyncio.sleep(0.05)
