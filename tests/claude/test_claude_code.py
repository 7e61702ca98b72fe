"""The real Claude Code CLI in a personal session that joins the swarm: hooks and MCP server
installed by ``codeswarm install claude``, the model scripted (the Messages API of
``codeswarm.mockmodel``), offline, with a throwaway HOME.

Claude Code runs as ``claude -p PROMPT --output-format stream-json --verbose`` (one turn; the
session ends when the turn does, so SessionEnd runs at exit).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from codeswarm.coordination import Coord
from codeswarm.coordination.target import resolve_url
from codeswarm.mockmodel import MockModel, Script

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 120.0
"""Seconds one ``claude -p`` may take (about 2 s here)."""
ALPHA = "alpha\nbeta\n"


@dataclass
class Run:
    """One finished ``claude -p``: its stdout events, exit code, stderr, and the model requests."""

    events: list[dict[str, Any]]
    returncode: int
    stderr: str
    requests: list[dict[str, Any]]

    @property
    def result(self) -> dict[str, Any]:
        (result,) = [e for e in self.events if e["type"] == "result"]
        return result

    @property
    def init(self) -> dict[str, Any]:
        return next(e for e in self.events if e.get("subtype") == "init")

    def tool_results(self) -> dict[str, dict[str, Any]]:
        """tool_use id -> its tool_result block, as Claude Code reported them."""
        out = {}
        for e in self.events:
            if e["type"] != "user" or not isinstance(e["message"]["content"], list):
                continue
            for block in e["message"]["content"]:
                if block.get("type") == "tool_result":
                    out[block["tool_use_id"]] = block
        return out

    def tool_uses(self) -> list[dict[str, Any]]:
        return [
            block
            for e in self.events
            if e["type"] == "assistant"
            for block in e["message"]["content"]
            if block["type"] == "tool_use"
        ]

    def result_of(self, name: str) -> dict[str, Any]:
        """The tool_result of the (only) call of tool ``name``."""
        (use,) = [u for u in self.tool_uses() if u["name"] == name]
        return self.tool_results()[use["id"]]


def text_of(block: dict[str, Any]) -> str:
    content = block["content"]
    if isinstance(content, str):
        return content
    return "\n".join(c.get("text", "") for c in content if isinstance(c, dict))


class Session:
    """A project, a throwaway HOME (and state, config), codeswarm installed into Claude Code,
    and the scripted model; :meth:`claude` runs the real CLI there."""

    def __init__(self, binary: Path, tmp: Path, stack: AsyncExitStack) -> None:
        self.binary = binary
        self.tmp = tmp
        self.stack = stack
        self.project = tmp / "project"
        self.home = tmp / "home"
        self.project.mkdir()
        self.home.mkdir()
        subprocess.run(["git", "init", "-q", str(self.project)], check=True)
        (self.project / "a.txt").write_text(ALPHA)
        (self.project / "b.txt").write_text(ALPHA)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)},
            "HOME": str(self.home),
            "XDG_STATE_HOME": str(tmp / "state"),
            "XDG_CONFIG_HOME": str(tmp / "config"),
            "XDG_RUNTIME_DIR": str(tmp / "runtime"),
            # Claude Code (≥ 2.1.144) starts a `-p` turn after ≈ 2 s whether or not its MCP
            # servers have connected; `codeswarm mcp` needs ≈ 0.9 s alone on a slow day here
            # and more beside Claude's own start, so the first turn could go without the
            # tools these tests are about. Blocking start-up (bounded by MCP_TIMEOUT) makes
            # them test codeswarm, not that race (docs/hooks.md).
            "MCP_CONNECTION_NONBLOCKING": "false",
        }
        self.model: MockModel | None = None

    def install(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-P", "-m", "codeswarm", "install", "claude", *args],
            capture_output=True, text=True, env={**self.env, **env}, cwd=self.project,
            timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc

    @contextmanager
    def coord(self) -> Iterator[Coord]:
        """The project's coordination store, found as the hooks find it (same environment)."""
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)
        try:
            url = resolve_url(start=self.project)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        with Coord.open(url, root=str(self.project)) as coord:
            yield coord

    async def claude(
        self, prompt: str, entries: list[Any], *args: str, agent: str = "c_0", **env: str
    ) -> Run:
        self.model = mm = await self.stack.enter_async_context(
            MockModel(Script.from_obj({"agents": {agent: entries}}))
        )
        argv = [str(self.binary), "-p", prompt, "--output-format", "stream-json", "--verbose"]
        proc = await asyncio.create_subprocess_exec(
            *argv, *args, cwd=self.project, env={**self.env, **mm.claude_env(agent), **env},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        events = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
        run = Run(events, proc.returncode or 0, err.decode(), mm.requests_for(agent))
        assert run.returncode == 0, (run.stderr, events[-1:])
        return run


_DROPPED = ("CODESWARM_", "ANTHROPIC_", "CLAUDE", "XDG_", "DISABLE_", "IS_SANDBOX")


@pytest.fixture
async def session(claude_binary: Path, tmp_path: Path) -> AsyncIterator[Session]:
    async with AsyncExitStack() as stack:
        yield Session(claude_binary, tmp_path, stack)


def hold(s: Session, path: str, holder: str = "peer", note: str = "refactoring") -> str:
    """Register ``holder`` and lease ``path`` for it; returns the holder's agent ref."""
    with s.coord() as coord:
        ref = coord.register(holder, role="implementer").id
        coord.lease(ref, path, note=note)
    return str(ref)


async def test_held_file_edit_and_write_are_denied_naming_the_holder(session: Session) -> None:
    session.install()
    peer = hold(session, "a.txt")
    script = [
        {"read": "a.txt"},
        {"edit": {"file_path": "a.txt", "old_string": "beta", "new_string": "BETA"}},
        {"write": {"file_path": "a.txt", "content": "overwritten\n"}},
        {"text": "I could not change a.txt."},
    ]
    # acceptEdits: without codeswarm's hook Claude Code would let both through
    run = await session.claude("change a.txt", script, "--permission-mode", "acceptEdits")
    assert (session.project / "a.txt").read_text() == ALPHA
    for tool in ("Edit", "Write"):
        result = run.result_of(tool)
        assert result.get("is_error") is True, result
        reason = text_of(result)
        assert "a.txt is held (exclusive) by " + peer in reason, reason
        assert "note: 'refactoring'" in reason
    denied = [d["tool_name"] for d in run.result["permission_denials"]]
    assert denied == ["Edit", "Write"]
    # the model saw the reason: the request after each call carries it
    last = run.requests[-1]["body"]["messages"][-1]["content"]
    assert any(
        "held (exclusive) by " + peer in text_of(b) for b in last if b["type"] == "tool_result"
    )
    with session.coord() as coord:
        kinds = [(e.kind, e.subject) for e in coord.events() if e.kind == "lease.denied"]
        assert kinds == [("lease.denied", "a.txt")] * 2
        assert [le.path for le in coord.leases()] == ["a.txt"]  # still the peer's, alone


async def test_free_files_are_auto_leased_and_released_at_session_end(session: Session) -> None:
    session.install()
    script = [
        {"read": "b.txt"},
        {"edit": {"file_path": "b.txt", "old_string": "beta", "new_string": "BETA"}},
        {"write": {"file_path": "c.txt", "content": "new\n"}},
        {"tool": "swarm_status"},
        {"text": "Done."},
    ]
    run = await session.claude(
        "change b.txt and add c.txt", script, "--permission-mode", "acceptEdits",
        "--allowedTools", "mcp__codeswarm__swarm_status",
    )  # fmt: skip
    assert (session.project / "b.txt").read_text() == "alpha\nBETA\n"
    assert (session.project / "c.txt").read_text() == "new\n"
    assert run.result["permission_denials"] == []
    # during the session: the MCP server's picture shows both files leased by the session
    status = json.loads(text_of(run.result_of("mcp__codeswarm__swarm_status")))
    held = {le["path"]: le["holder"] for le in status["leases"]}
    assert set(held) == {"b.txt", "c.txt"}, status
    hooks_agent = held["b.txt"]
    assert hooks_agent.startswith("claude-")
    # one session, one agent: the MCP server acts as the agent whose hooks took the leases
    assert status["me"] == hooks_agent, (status["me"], hooks_agent)
    # after the session (SessionEnd at the end of -p): nothing held, the session is gone
    with session.coord() as coord:
        assert coord.leases() == []
        assert [a.id for a in coord.agents()] == []
        taken = [e.subject for e in coord.events() if e.kind == "lease.acquired"]
        assert sorted(taken) == ["b.txt", "c.txt"]


async def test_swarm_command_passes_the_permission_check_and_knows_the_session(
    session: Session,
) -> None:
    session.install()
    peer = hold(session, "a.txt", note="the parser")
    script = [{"tool": "swarm_status"}, {"text": "Here is the swarm."}]
    run = await session.claude("/swarm", script)  # default permission mode: no flags
    assert "swarm" in run.init["slash_commands"]
    # the command's body reached the model in place of "/swarm"
    first = json.dumps(run.requests[0]["body"]["messages"])
    assert "<command-name>/swarm</command-name>" in first
    assert "Call the `swarm_status` tool" in first
    # its allowed-tools let the MCP call through (-p denies MCP tools otherwise)
    assert run.result["permission_denials"] == []
    result = run.result_of("mcp__codeswarm__swarm_status")
    assert result.get("is_error") is not True, result
    status = json.loads(text_of(result))
    assert {(le["path"], le["holder"], le["note"]) for le in status["leases"]} == {
        ("a.txt", peer, "the parser")
    }
    # the session's identity: the agent its SessionStart hook registered (the one that is not
    # the peer), not a stranger of the MCP server's own
    agents = {a["id"] for a in status["agents"]}
    assert agents == {peer, status["me"]}, status
    assert status["me"].startswith("claude-")
    assert run.result["result"] == "Here is the swarm."


async def test_claude_config_dir_is_honoured(session: Session) -> None:
    config_dir = session.tmp / "claude-config"
    session.env["CLAUDE_CONFIG_DIR"] = str(config_dir)
    printed = session.install().stdout
    for name in ("settings.json", ".claude.json", "commands/swarm.md"):
        assert (config_dir / name).is_file(), printed
        assert str(config_dir / name) in printed
    assert not (session.home / ".claude").exists()
    assert not (session.home / ".claude.json").exists()
    run = await session.claude("hello", ["Hi."])
    servers = {s["name"]: s["status"] for s in run.init["mcp_servers"]}
    assert servers.get("codeswarm") == "connected", run.init["mcp_servers"]
    assert "swarm" in run.init["slash_commands"]
    # the SessionStart hook ran (it primes the model with the swarm's picture)
    assert "You are agent claude-" in json.dumps(run.requests[0]["body"])
    # and Claude Code kept its own state there too, not in HOME
    assert not (session.home / ".claude").exists()
    # uninstall takes it all out of the same place: what did not exist is gone again, and of
    # the .claude.json Claude Code has written to since, only codeswarm's server is taken out
    session.install("--uninstall")
    assert not (config_dir / "commands" / "swarm.md").exists()
    assert not (config_dir / "settings.json").exists()
    state = json.loads((config_dir / ".claude.json").read_text())
    assert "codeswarm" not in state.get("mcpServers", {}) and state.get("firstStartTime")


async def test_persistent_session_holds_its_leases_until_stdin_closes(session: Session) -> None:
    """A long-lived session (stream-json on stdin): what it edited stays leased between turns,
    seen from outside; closing its stdin ends the session, and SessionEnd releases them."""
    session.install()
    mm = await session.stack.enter_async_context(
        MockModel(Script.from_obj({"agents": {"c_0": [
            {"read": "b.txt"},
            {"edit": {"file_path": "b.txt", "old_string": "beta", "new_string": "BETA"}},
            {"text": "Edited b.txt."},
        ]}}))
    )  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        str(session.binary), "-p", "--input-format", "stream-json", "--output-format",
        "stream-json", "--verbose", "--permission-mode", "acceptEdits",
        cwd=session.project, env={**session.env, **mm.claude_env("c_0")},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        turn = {"type": "user", "message": {"role": "user", "content": "edit b.txt"}}
        proc.stdin.write(json.dumps(turn).encode() + b"\n")
        await proc.stdin.drain()
        async with asyncio.timeout(RUN_TIMEOUT):
            while True:
                line = await proc.stdout.readline()
                assert line, "claude ended before the turn's result"
                event = json.loads(line)
                if event["type"] == "result":
                    break
        assert event["result"] == "Edited b.txt." and not event["is_error"]
        assert (session.project / "b.txt").read_text() == "alpha\nBETA\n"
        with session.coord() as coord:  # the session is alive, between turns
            (lease,) = coord.leases()
            (agent,) = coord.agents()
            assert lease.path == "b.txt" and lease.holder == agent.id
            assert agent.id.startswith("claude-") and agent.status == "active"
        proc.stdin.close()
        async with asyncio.timeout(RUN_TIMEOUT):
            await proc.communicate()
        assert proc.returncode == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    with session.coord() as coord:
        assert coord.leases() == [] and coord.agents() == []
