"""The work behind ``codeswarm exec``: start the model (when scripted) and Codex, run turns,
render events, answer approvals, handle Ctrl-C (first: interrupt the turn; second: quit)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from codeswarm.cli.exec.launch import EXEC_AGENT, ExecOptions, Launched
from codeswarm.codex.account import login_problem, start_failure
from codeswarm.codex.approval import (
    AcceptAll,
    AcceptWithinWorkspace,
    ApprovalPolicy,
    ApprovalRequest,
    CallbackPolicy,
    Decision,
    DeclineAll,
)
from codeswarm.codex.client import AppServer
from codeswarm.codex.retries import RetryWatch, follow_turn
from codeswarm.codex.turn import TurnHandle
from codeswarm.control.events.translate import EventStamper
from codeswarm.core import events as ev
from codeswarm.core.config import load_config
from codeswarm.core.errors import CodeswarmError, ProcessExitedError
from codeswarm.core.events import Event
from codeswarm.core.paths import ensure_state_dir


def _ask_policy(console: Any) -> ApprovalPolicy:
    lock = asyncio.Lock()

    async def ask(request: ApprovalRequest) -> Decision:
        async with lock:  # one question at a time
            console.print(
                f"[bold yellow]? approve: {request.summary()}[/] [dim][y/a/n/c][/] ", end=""
            )
            answer = await asyncio.to_thread(sys.stdin.readline)
        choice = answer.strip().lower()[:1]
        return {
            "y": Decision.ACCEPT,
            "a": Decision.ACCEPT_FOR_SESSION,
            "c": Decision.CANCEL,
        }.get(choice, Decision.DECLINE)

    return CallbackPolicy(ask)


async def run_exec(opts: ExecOptions, launched: Launched) -> int:
    """Run the session on an already started Codex; returns the exit code (0 ok, 1 a turn
    failed, 130 interrupted). Everything is cleaned up, whatever happens."""
    try:
        return await _run(opts, launched)
    finally:
        launched.cleanup()


async def _run(opts: ExecOptions, launched: Launched) -> int:
    config = load_config()  # validated now; Codex has been booting meanwhile
    model = opts.model or config.codex.model
    approval_policy = opts.approval_policy or config.codex.approval_policy
    sandbox = opts.sandbox or config.codex.sandbox
    deadline = opts.retry_deadline or config.codex.retry_deadline
    stamper = EventStamper(EXEC_AGENT)
    stderr_log = (
        ensure_state_dir() / "logs" / f"exec-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    )

    async with contextlib.AsyncExitStack() as stack:
        approval = _Deferred()
        codex = await AppServer.adopt(
            launched.popen, approval=approval, stderr_log=stderr_log, initialize=False
        )
        stack.push_async_callback(codex.aclose)
        if opts.script is not None:
            from codeswarm.mockmodel.script import load_script
            from codeswarm.mockmodel.server import MockModel

            script = load_script(opts.script)
            await stack.enter_async_context(
                MockModel(script, sock=launched.sock, log_path=opts.model_log)
            )
        from rich.console import Console

        from codeswarm.cli.exec.render import JsonRenderer, TerminalRenderer

        err_console = Console(stderr=True, highlight=False)
        renderer: Callable[[Event], None]
        term: TerminalRenderer | None = None
        if opts.json_out:
            renderer = JsonRenderer()
        else:
            term = TerminalRenderer(Console(highlight=False))
            renderer = term
        approval.policy = _policy(opts, err_console)

        try:
            await codex.initialize()
        except ProcessExitedError as exc:  # Codex refused its settings: its own words
            why = start_failure(codex)
            if why is None:
                raise
            raise CodeswarmError(f"codex cannot start: {why}") from exc
        if opts.script is None:  # without a login every turn would only retry: say so now
            problem = await login_problem(codex, launched.codex_home)
            if problem is not None:
                raise CodeswarmError(problem)
        thread = await codex.thread_start(
            cwd=opts.cwd,
            model=model,
            model_provider=opts.model_provider,
            approval_policy=approval_policy,
            sandbox=sandbox,
        )
        renderer(
            stamper.stamp(
                {"type": ev.AGENT_READY, "thread_id": thread.id, "model": thread.model or model}
            )
        )
        rc = 0
        prompt: str | None = opts.prompt
        while prompt is not None:
            turn = await codex.turn_start(thread.id, prompt)
            status = await _drive_turn(turn, stamper, renderer, RetryWatch(deadline))
            if term is not None:
                term.usage_line()
            rc = {"completed": 0, "interrupted": 130}.get(status, 1)
            prompt = await _next_prompt(err_console) if opts.interactive else None
        return rc
    raise AssertionError("unreachable")  # pragma: no cover


class _Deferred:
    """An approval policy chosen after Codex was started (no request can come before a turn)."""

    policy: ApprovalPolicy = DeclineAll()

    async def decide(self, request: ApprovalRequest) -> Decision:
        return await self.policy.decide(request)


def _policy(opts: ExecOptions, console: Any) -> ApprovalPolicy:
    if opts.approve == "ask":
        return _ask_policy(console)
    if opts.approve == "all":
        return AcceptAll()
    if opts.approve == "decline":
        return DeclineAll()
    return AcceptWithinWorkspace(opts.cwd)


async def _drive_turn(
    turn: TurnHandle, stamper: EventStamper, renderer: Callable[[Event], None], watch: RetryWatch
) -> str:
    """Render the turn's events; Ctrl-C interrupts the turn once, a second Ctrl-C quits. A turn
    that only retried an unreachable model for the deadline is interrupted and comes back
    ``failed``, its cause said in one error event."""
    loop = asyncio.get_running_loop()
    presses = 0
    main = asyncio.current_task()
    interrupting: set[asyncio.Task[None]] = set()

    def on_sigint() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            task = loop.create_task(turn.interrupt())
            interrupting.add(task)
            task.add_done_callback(interrupting.discard)
        elif main is not None:
            main.cancel()

    gave_up: list[str] = []

    async def give_up(reason: str) -> None:
        gave_up.append(reason)
        renderer(stamper.stamp({"type": ev.ERROR, "turn_id": turn.turn_id, "message": reason,
                                "will_retry": False, "gave_up": True}))  # fmt: skip
        await turn.interrupt()

    installed = False
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        installed = True
    try:
        async for msg in follow_turn(turn, watch, give_up):
            for event in stamper.events(msg):
                if gave_up and event["type"] == ev.TURN_COMPLETED and presses == 0:
                    event.update(status="failed", error=gave_up[0])  # interrupted by us: why
                renderer(event)
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)
    assert turn.result is not None
    return "failed" if gave_up and presses == 0 else turn.result.status


async def _next_prompt(console: Any) -> str | None:
    while True:
        console.print("[bold]›[/] ", end="")  # noqa: RUF001
        line: str = await asyncio.to_thread(sys.stdin.readline)
        if not line:  # EOF
            return None
        text = line.strip()
        if text in ("/exit", "/quit"):
            return None
        if text:
            return text


__all__ = ["run_exec"]
