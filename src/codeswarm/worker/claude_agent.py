"""The Claude Code side of the worker (docs/runtimes.md): starting an agent's ``claude``.

A Claude agent is the real ``claude`` CLI, one long-lived process per agent in stream-json mode,
one session per agent (its id is the agent's ``thread_id``), behind
:class:`codeswarm.claude.ClaudeSession`, which speaks the Codex app-server's vocabulary. So the
worker drives it as it drives Codex: the same loop, delivery, recovery, budgets and approvals.
What differs is here: the agent's Claude home (:mod:`codeswarm.worker.claude_home`), the
launch, the session opened or resumed, and what the relay writes: the synthesized Codex
notifications as ``codex`` records marked ``"runtime": "claude"``, every raw line of ``claude``
(but the partial-message stream, which the deltas carry) as a ``claude`` record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeswarm.core.atomic import KEEP_MODE, atomic_write
from codeswarm.core.errors import MailboxError
from codeswarm.core.swarm import RunDir, SwarmSpec, mock_anthropic_url
from codeswarm.core.usage import Tokens
from codeswarm.mailbox import Layout, records_backward
from codeswarm.worker import mcphub
from codeswarm.worker.claude_home import (
    ALLOWED_TOOLS,
    claude_env,
    forget_mcp_config,
    prepare_claude_home,
    write_mcp_config,
    write_settings,
)

if TYPE_CHECKING:
    from codeswarm.claude import ClaudeLaunch, ClaudeSession
    from codeswarm.codex.approval import ApprovalPolicy
    from codeswarm.codex.client import AppServer, Thread

HOOK_ENV_PASSED = ("CODESWARM_HOOKS_FAIL", "CODESWARM_HOOKS_SERVICE")
"""The worker's own hook settings, passed on to the hooks' command lines when set."""
RAW_EVENT = "claude/event"

log = logging.getLogger("codeswarm.worker")


class ClaudeAgent:
    """Mixed into the worker: what it needs of the worker is declared here."""

    agent: str
    run_dir: RunDir
    spec: SwarmSpec
    cwd: str
    role: str
    layout: Layout
    state: dict[str, Any]
    codex: AppServer | ClaudeSession | None
    thread: Thread | None
    _generation: int
    _new_thread: bool
    _hub: mcphub.HubKeeper | None
    _hub_port: int
    _hub_token: str
    _claude_pid: int | None

    def emit(self, kind: str, **fields: Any) -> None:
        raise NotImplementedError

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        raise NotImplementedError

    def _save_state(self, **changes: Any) -> None:
        raise NotImplementedError

    def _policy(self) -> ApprovalPolicy:
        raise NotImplementedError

    def _codex_env(self) -> dict[str, str]:
        raise NotImplementedError

    def _relay(self, codex: AppServer | ClaudeSession, generation: int) -> Any:
        raise NotImplementedError

    # -- start ----------------------------------------------------------------------------------
    async def _spawn_claude(self) -> None:
        """Start the agent's ``claude`` on its session (new, or resumed when its transcript
        exists), relay it, open the thread. Raises :class:`CodexError` when it cannot start."""
        from codeswarm.claude import ClaudeSession

        saved = self.state.get("thread_id")
        if isinstance(saved, str):  # what a dead claude of the session left running goes first
            killed = await asyncio.to_thread(end_leftovers, saved)
            if killed:
                log.warning("%s: killed %d process(es) a previous claude of session %s left "
                            "running: %s", self.agent, len(killed), saved, killed)  # fmt: skip
        launch = self._claude_launch(saved if isinstance(saved, str) else str(uuid.uuid4()))
        home = launch.config_dir
        resuming = launch.resuming()
        totals = self._claude_totals(launch.session_id)
        try:
            self.codex = session = await ClaudeSession.spawn(
                launch, self._policy(), totals=totals, started=self._claude_started
            )
        finally:
            self._claude_pid = None  # the session's own pid from now on (or no claude)
            forget_mcp_config(home)  # read at start: the token is not left on disk
        self._generation += 1
        atomic_write(
            self.run_dir.codex_pid(self.agent),
            f"{session.pid}\n".encode(),
            mode=KEEP_MODE,
            durable=False,
        )
        self._spawn(self._relay(session, self._generation), "relay")
        if resuming:
            self.thread = await session.thread_resume(launch.session_id)
            return
        if isinstance(saved, str):  # no transcript: the session never had a turn, or lost it
            self._new_thread = True  # (either way, nothing to continue)
            if totals is not None:
                self.emit("error", message=f"cannot resume session {saved}: its transcript is "
                          "gone; starting it anew under the same id")  # fmt: skip
        self.thread = await session.thread_start(cwd=self.cwd)
        self._save_state(thread_id=self.thread.id)

    def _claude_launch(self, session_id: str) -> ClaudeLaunch:
        """How this agent's ``claude`` starts: its home seeded, its hooks and its mount of the
        coordination hub written, its environment curated."""
        from codeswarm.claude import ClaudeLaunch

        assert self.spec.claude_bin is not None  # set at `up` for a swarm with Claude agents
        home = self.run_dir.claude_home(self.agent)
        seed = Path(self.spec.user_claude_dir) if self.spec.user_claude_dir else None
        prepare_claude_home(home, seed)
        settings = write_settings(home, self._hook_identity(), self.cwd)
        mcp_config = None
        if self.spec.coord and self._hub_token:
            if self._hub is not None:  # where the hub is now (it may have moved)
                self._hub_port = self._hub.files.port() or self._hub_port
            mcp_config = write_mcp_config(home, mcphub.hub_url(self._hub_port), self._hub_token)
        model_env: dict[str, str] = {}
        if self.spec.model_provider == "mock" and self.spec.mock_port is not None:
            from codeswarm.mockmodel.overrides import claude_env as mock_env

            model_env = mock_env(mock_anthropic_url(self.spec, self.agent))
        return ClaudeLaunch(
            binary=Path(self.spec.claude_bin),
            cwd=Path(self.cwd),
            config_dir=home,
            env=claude_env(os.environ, model_env, home, role=self.role),
            session_id=session_id,
            settings=settings,
            mcp_config=mcp_config,
            allowed_tools=ALLOWED_TOOLS if mcp_config is not None else (),
            stderr_log=self.run_dir.codex_log(self.agent),
        )

    def _hook_identity(self) -> dict[str, str]:
        """What the agent's hooks are told on their command line (nothing when the swarm is not
        wired into coordination: no hooks). Never the hub's token: hooks do not need it."""
        if not self.spec.coord:
            return {}
        identity = {k: v for k, v in self._codex_env().items() if k != mcphub.TOKEN_ENV}
        identity.update({k: os.environ[k] for k in HOOK_ENV_PASSED if k in os.environ})
        return identity

    def _claude_totals(self, session_id: str) -> Tokens | None:
        """The session's running token totals as the outbox last said them (a restarted worker
        goes on summing from there), or None when it never reported usage."""
        try:
            records = records_backward(
                self.layout.outbox(self.agent), keep=lambda line: b"tokenUsage/updated" in line
            )
            with contextlib.closing(records):
                for record in records:
                    msg = record.get("msg")
                    total = _session_total(msg, session_id) if isinstance(msg, dict) else None
                    if total is not None:
                        return total
        except MailboxError as exc:
            self.emit("error", message=f"cannot read the outbox back for the token totals: {exc}")
        return None

    def _claude_started(self, pid: int) -> None:
        """The agent's ``claude`` runs (its session and pid are not known yet, but its hooks
        may call the hook service already)."""
        self._claude_pid = pid

    # -- relay ----------------------------------------------------------------------------------
    def _emit_claude(self, msg: dict[str, Any]) -> None:
        """One message of the agent's session into the outbox: a raw ``claude`` line as a
        ``claude`` record, a synthesized notification as a ``codex`` record (marked)."""
        if msg.get("method") == RAW_EVENT:
            self.emit("claude", msg=msg.get("params"))
        else:
            self.emit("codex", msg=msg, runtime="claude")


def end_leftovers(session_id: str) -> list[int]:
    """SIGKILL what a dead ``claude`` of session ``session_id`` left running, and return the
    pids: its tool shells run in sessions of their own (a kill of ``claude``'s group misses
    them), so a command of a turn cut short would go on beside the turn that continues it. They
    are found by the session id ``claude`` gives each of them (``CLAUDE_CODE_SESSION_ID``)."""
    mark = f"CLAUDE_CODE_SESSION_ID={session_id}".encode()
    me, killed = os.getpid(), []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if mark not in f.read().split(b"\0"):
                    continue
            pid = int(name)
            group = os.getpgid(pid)
            if group == pid and group != os.getpgrp():  # a shell leading its own group
                os.killpg(group, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
    return killed


def _session_total(msg: dict[str, Any], session_id: str) -> Tokens | None:
    if msg.get("method") != "thread/tokenUsage/updated":
        return None
    params = msg.get("params")
    if not isinstance(params, dict) or params.get("threadId") != session_id:
        return None
    usage = params.get("tokenUsage")
    total = usage.get("total") if isinstance(usage, dict) else None
    if not isinstance(total, dict):
        return None

    def n(key: str) -> int:
        value = total.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    return Tokens(n("inputTokens"), n("cachedInputTokens"), n("outputTokens"), n("totalTokens"))
