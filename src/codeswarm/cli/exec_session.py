"""The work behind ``codeswarm exec``: start the model (when scripted) and Codex, run turns,
render events, answer approvals, handle Ctrl-C (first: interrupt the turn; second: quit)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from codeswarm.codex.doctor import codex_home as user_codex_home
from codeswarm.codex.toolchain import locate
from codeswarm.codex.turn import TurnHandle
from codeswarm.control.translate import EventStamper
from codeswarm.core import events as ev
from codeswarm.core.config import load_config
from codeswarm.core.errors import UsageError
from codeswarm.core.events import Event
from codeswarm.core.paths import state_dir

EXEC_AGENT = "exec_0"


@dataclass
class ExecOptions:
    prompt: str
    cwd: Path
    script: Path | None = None
    model_provider: str | None = None
    model: str | None = None
    approval_policy: str | None = None
    sandbox: str | None = None
    approve: str = "workspace"
    json_out: bool = False
    interactive: bool = False
    raw_overrides: dict[str, str] = field(default_factory=dict)
    model_log: Path | None = None


def _listen_local() -> socket.socket:
    """A listening socket on 127.0.0.1 (a free port) for the scripted model, bound early so that
    Codex can be started, pointed at it, before the server itself is loaded."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


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


async def run_exec(opts: ExecOptions) -> int:
    """Run the session; returns the exit code (0 ok, 1 a turn failed, 130 interrupted).

    Codex boots in about a quarter of a second. It is started first, pointed at a socket bound
    for the scripted model, and the rest of codeswarm (the model server, the renderer) loads
    while it boots; only then does the handshake happen.
    """
    config = load_config()
    binary = locate(config)
    model = opts.model or config.codex.model
    approval_policy = opts.approval_policy or config.codex.approval_policy
    sandbox = opts.sandbox or config.codex.sandbox
    stamper = EventStamper(EXEC_AGENT)
    stderr_log = state_dir() / "logs" / f"exec-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"

    async with contextlib.AsyncExitStack() as stack:
        overrides: dict[str, Any] = {}
        sock: socket.socket | None = None
        script = None
        if opts.script is not None:
            from codeswarm.mockmodel.overrides import codex_overrides
            from codeswarm.mockmodel.script import load_script

            script = load_script(opts.script)  # a bad script fails before anything starts
            sock = stack.enter_context(_listen_local())
            port = sock.getsockname()[1]
            overrides = codex_overrides(f"http://127.0.0.1:{port}/agents/{EXEC_AGENT}/v1")
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="codeswarm-home-")))
        else:
            home = user_codex_home(config)

        approval = _Deferred()
        codex = await AppServer.spawn(
            binary,
            codex_home=home,
            cwd=opts.cwd,
            config=overrides,
            args=[a for k, v in opts.raw_overrides.items() for a in ("-c", f"{k}={v}")],
            approval=approval,
            stderr_log=stderr_log,
            initialize=False,
        )
        stack.push_async_callback(codex.aclose)

        # -- Codex is booting; load and start the rest meanwhile --------------------------------
        if script is not None:
            from codeswarm.mockmodel.server import MockModel

            await stack.enter_async_context(MockModel(script, sock=sock, log_path=opts.model_log))
        from rich.console import Console

        from codeswarm.cli.render import JsonRenderer, TerminalRenderer

        err_console = Console(stderr=True, highlight=False)
        renderer: Callable[[Event], None]
        term: TerminalRenderer | None = None
        if opts.json_out:
            renderer = JsonRenderer()
        else:
            term = TerminalRenderer(Console(highlight=False))
            renderer = term
        approval.policy = _policy(opts, err_console)

        await codex.initialize()
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
            status = await _drive_turn(turn, stamper, renderer)
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
    turn: TurnHandle, stamper: EventStamper, renderer: Callable[[Event], None]
) -> str:
    """Render the turn's events; Ctrl-C interrupts the turn once, a second Ctrl-C quits."""
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

    installed = False
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        installed = True
    try:
        async for msg in turn:
            for event in stamper.events(msg):
                renderer(event)
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)
    assert turn.result is not None
    return turn.result.status


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


__all__ = ["ExecOptions", "UsageError", "run_exec"]
