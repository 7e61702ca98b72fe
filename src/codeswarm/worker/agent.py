"""The worker: one agent's persistent Codex thread, driven by its inbox, relayed to its outbox.

An agent of the ``claude`` runtime runs the Claude Code CLI instead, behind a facade with the
app-server's surface (:mod:`codeswarm.worker.claude_agent`): everything below holds for both.

One loop owns all decisions, fed by a queue of inputs from small tasks (the inbox follower, the
Codex relay, the running turn, signals), so there is no race between, say, a turn ending and a
message arriving. Outbox records (kinds, in ``docs/events.md``): ``worker.started``,
``agent.ready``, ``codex`` (every raw Codex message, lossless), ``turn.accepted``,
``turn.aborted``, ``turn.recovered``, ``turn.gave_up``, ``agent.restarted``, ``heartbeat``,
``inbox.rejected``, ``error``, ``agent.stopped``, ``budget.warning``, ``budget.exceeded``,
``budget.interrupted``.

Delivery: a message's inbox record is marked done only after Codex accepted its turn (and a
``turn.accepted`` record is in the outbox). The turn carries the record id as its
``clientUserMessageId``; after a crash in between, the resumed thread is checked for it, so a
message is never lost and never run twice. Messages run one turn at a time in the order they
came; one that is refused (``inbox.rejected``) makes way for the next at once. Coordination
messages arrive the same way, through the agent's link to the swarm's store
(:mod:`codeswarm.worker.coordlink`).

Crashes: a turn cut short by the death of the worker or of Codex is resolved after the restart
(reported ``turn.aborted``, or ``turn.recovered`` when Codex had finished it) and, unless the
swarm says otherwise, continued by a follow-up turn (:mod:`codeswarm.worker.recovery`). A dead
MCP server is brought back without losing the thread (:mod:`codeswarm.worker.mcpwatch`). An
inbox that stops being private is no longer read, and that is reported.

An unreachable model: Codex retries forever, so a turn that has done nothing but retry for the
swarm's ``retry_deadline_s`` is given up (``turn.gave_up``, then interrupted;
:mod:`codeswarm.codex.retries`); a Codex without the login its provider needs says so at start
(an ``error`` with ``login_missing``).

Budgets (tokens per agent, per task, per swarm; :mod:`codeswarm.worker.budget`, acted on in
:mod:`codeswarm.worker.spending`): every usage update is counted as the relay receives it; the
first one past a limit interrupts the running turn at once, and no further turn of that scope
starts (its records are refused with the reason).
The agent's usage is published in the store (kv ``usage/<agent>``), where the swarm's is summed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeswarm.codex.account import login_problem
from codeswarm.codex.approval import (
    AcceptAll,
    AcceptWithinWorkspace,
    ApprovalPolicy,
    DeclineAll,
)
from codeswarm.codex.client import AppServer, Thread
from codeswarm.codex.retries import RetryWatch, follow_turn
from codeswarm.codex.toolchain import CodexBinary, describe
from codeswarm.codex.turn import TurnHandle
from codeswarm.core.atomic import KEEP_MODE, atomic_write, atomic_write_json, read_json
from codeswarm.core.errors import (
    CodexError,
    CoordError,
    MailboxError,
    RpcError,
    StorePathError,
    StoreUnavailableError,
)
from codeswarm.core.swarm import (
    RunDir,
    SwarmSpec,
    agent_cwd,
    agent_rank,
    agent_runtime,
    mock_base_url,
    swarm_scope,
)
from codeswarm.hooks.service import HookService  # (here, not per start: the zygote loads it)
from codeswarm.mailbox import Layout, MailRecord, Writer, check_private, records_backward
from codeswarm.mailbox.inotify import InotifyHub
from codeswarm.worker import mcphub, recovery
from codeswarm.worker.approvals import ForwardedApprovals
from codeswarm.worker.budget import Budgets, Ledger, usage_of
from codeswarm.worker.claude_agent import ClaudeAgent
from codeswarm.worker.coordlink import CoordLink
from codeswarm.worker.home import prepare_codex_home
from codeswarm.worker.inbox import Inbox
from codeswarm.worker.mcpwatch import McpKeeper
from codeswarm.worker.spending import Spending
from codeswarm.worker.wiring import (
    MCP_SERVER,
    agent_env,
    install_hooks,
    mcp_overrides,
    role_of,
    shell_overrides,
    without_shell_policy,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from codeswarm.claude import ClaudeSession

log = logging.getLogger("codeswarm.worker")

STOP_GRACE = 10.0
"""On SIGTERM: how long a running turn gets to stop after it was interrupted."""
RESTART_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
"""Delays before restarting a dead Codex, one after another (the last repeats)."""
CODEX_CLOSE_GRACE = 3.0
COORD_JOIN_TIMEOUT = 20.0
"""How long a worker keeps trying to join a busy or unreachable store before it runs
uncoordinated."""
COORD_JOIN_BACKOFF = 0.2
COORD_JOIN_BACKOFF_MAX = 2.0


class Input(enum.Enum):
    RECORD = "record"  # an inbox record
    TURN_DONE = "turn_done"  # the running turn completed
    CODEX_DIED = "codex_died"  # the app-server went away
    COORD_MESSAGE = "coord_message"  # a coordination message for this agent (wakes it)
    MCP_LOST = "mcp_lost"  # the agent's MCP server died (or failed to start)
    STOP = "stop"  # SIGTERM / SIGINT / a shutdown record


@dataclass
class _Event:
    kind: Input
    record: MailRecord | None = None
    detail: str = ""
    generation: int = 0  # MCP_LOST: of which Codex


def task_of(record: MailRecord) -> int | None:
    """The task a record's turn is for (``task_id``: a delegated task's message), if any."""
    task = record.get("task_id")
    return task if isinstance(task, int) and not isinstance(task, bool) else None


class Worker(Spending, ClaudeAgent):
    """Run with ``await Worker(run, agent).run()``; returns the process exit code."""

    def __init__(self, run: RunDir, agent: str) -> None:
        self.run_dir = run
        self.agent = agent
        self.spec: SwarmSpec = run.load_spec()
        self.cwd = agent_cwd(self.spec, run, agent)
        """Where the agent works: the project, or its own worktree (docs/isolation.md)."""
        self.worktree = self.cwd if self.spec.isolation == "worktree" else None
        self.layout = Layout(run.root)
        self.runtime = agent_runtime(self.spec, agent)
        """What drives the agent: ``codex`` or ``claude`` (:mod:`codeswarm.worker.claude_agent`)."""
        self.inputs: asyncio.Queue[_Event] = asyncio.Queue()
        self.codex: AppServer | ClaudeSession | None = None
        """The agent's runtime: its Codex app-server, or its Claude Code session (which offers
        the part of the app-server's surface the worker uses)."""
        self.thread: Thread | None = None
        self.turn: TurnHandle | None = None
        self.queued: collections.deque[MailRecord] = collections.deque()
        self.forwarded = ForwardedApprovals()
        self.outbox: Writer | None = None
        self.inbox: Inbox | None = None
        self.state_path = run.agent_state(agent)
        self.state: dict[str, Any] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._generation = 0  # which Codex process the current watchers belong to
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._turn_task: asyncio.Task[Any] | None = None
        self._turn_record: str | None = None  # the id of what the running turn carries
        self._turn_carries: MailRecord | None = None  # that record (its task, a reply it expects)
        self._held: list[dict[str, Any]] | None = None  # relayed after a turn.accepted (Claude)
        self._recovered: set[str] = set()  # record ids Codex took before a crash (not rerun)
        self._login_missing: str | None = None
        """Why Codex has no usable login (checked at each start), else None: turns are refused."""
        self._new_thread = False  # the old thread could not be resumed: nothing to continue
        self._recycle: str | None = None  # why Codex must be restarted at the next idle moment
        self.mcp = McpKeeper(MCP_SERVER, self._mcp_lost)
        self._hub: mcphub.HubKeeper | None = None  # this node's coordination hub, kept alive
        self._hub_port = 0  # where this agent's Codex reaches it
        self._hub_token = ""  # this worker generation's bearer token (Codex's env only)
        self._claude_pid: int | None = None  # a `claude` started, not yet answering (its hooks)
        self.coord: CoordLink | None = None  # when the swarm is wired and its store reachable
        self.role = role_of(self.spec, agent_rank(agent))
        self.budgets = Budgets(
            agent=self.spec.agent_budget_tokens,
            swarm=self.spec.budget_tokens,
            warn=self.spec.budget_warn,
        )
        self.ledger = Ledger(self.budgets)  # what the agent spent (restored from its state)
        self._usage_changed = asyncio.Event()  # the ledger moved: save and publish it
        self._budget_stopped: set[str] = set()  # turns interrupted for a budget (once each)
        self._others_tasks: set[int] = set()  # tasks of other agents named by records (news)

    # -- outbox ---------------------------------------------------------------------------------
    def emit(self, kind: str, **fields: Any) -> None:
        assert self.outbox is not None
        self.outbox.append(kind, agent=self.agent, **fields)

    def _save_state(self, **changes: Any) -> None:
        self.state.update(changes)
        atomic_write_json(self.state_path, self.state)

    # -- lifecycle ------------------------------------------------------------------------------
    async def run(self) -> int:
        self.layout.create()
        check_private(self.layout.mailbox)
        agent_dir = self.run_dir.agent_dir(self.agent)
        agent_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(agent_dir, 0o700)
        hook_service = self._hook_service() if self.spec.coord else None
        self.outbox = Writer.open(self.layout.outbox(self.agent))
        previous = read_json(self.state_path)
        self.state = previous if isinstance(previous, dict) else {}
        self.ledger = Ledger.restore(self.budgets, self.state.get("budget"))
        restarted = bool(self.state.get("thread_id"))
        atomic_write(
            self.run_dir.worker_pid(self.agent),
            f"{os.getpid()}\n".encode(),
            mode=KEEP_MODE,
            durable=False,
        )  # (read by whoever looks: never half)
        self.emit(
            "worker.started",
            pid=os.getpid(),
            host=socket.gethostname(),
            rank=agent_rank(self.agent),
            node=os.environ.get("SLURMD_NODENAME"),
            restarted=restarted,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        # this process's inotify instance, before its Codex takes two of its own: a user has
        # 128 by default, and a worker left without one polls its inbox (docs/benchmarks.md)
        with contextlib.suppress(OSError):
            InotifyHub.for_loop()
        try:
            if self.spec.coord:
                await self._join_coord()
                await self._mount_hub()
            await self._start_codex(reason="worker restarted" if restarted else None)
            self.inbox = Inbox(self.layout.inbox(self.agent), self.run_dir.inbox_cursor(self.agent))
            if restarted:
                await self._resolve_unfinished()
                await self._next_queued()  # a continuation runs before what the inbox holds
            self._spawn(self._follow_inbox(), "inbox")
            self._spawn(self._heartbeat(), "heartbeat")
            self._spawn(self._keep_usage(), "usage")
            if self.coord is not None:
                self._spawn(self._follow_coord(self.coord), "coord")
            await self._loop()
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self.inbox is not None:
                self.inbox.close()
            if self.codex is not None:
                await self.codex.aclose(CODEX_CLOSE_GRACE)
            if hook_service is not None:
                hook_service.close()
            if self.coord is not None:
                await self.coord.aclose()
            if self._hub is not None:
                self._hub.close()
                mcphub.revoke_agent(self.run_dir.mcp_dir, self.agent)
            # `requested`: a stop on request (a signal, a shutdown record), not a failure; a
            # supervisor that adopted this worker cannot see the exit code and reads this
            self.emit(
                "agent.stopped",
                reason="stopped",
                requested=self._stop_requested.is_set() or self._stopping,
            )
            self.outbox.close()
            with contextlib.suppress(FileNotFoundError):
                self.run_dir.worker_pid(self.agent).unlink()
        return 0

    def _on_signal(self, sig: signal.Signals) -> None:
        self._stop_requested.set()
        self.inputs.put_nowait(_Event(Input.STOP, detail=sig.name))

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"{self.agent}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- Codex ----------------------------------------------------------------------------------
    def _policy(self) -> ApprovalPolicy:
        mode = self.spec.approvals
        if mode == "forward":
            return self.forwarded
        if mode == "all":
            return AcceptAll()
        if mode == "decline":
            return DeclineAll()
        return AcceptWithinWorkspace(Path(self.cwd))

    def _codex_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.spec.model_provider == "mock" and self.spec.mock_port is not None:
            from codeswarm.mockmodel.overrides import codex_overrides

            config.update(codex_overrides(mock_base_url(self.spec, self.agent)))
        elif self.spec.model_provider is not None:
            # the server's own provider, not only the thread's: account/read answers for it
            config["model_provider"] = self.spec.model_provider
        if self.spec.coord:
            if self._hub is not None:  # where the hub is now (it may have moved)
                self._hub_port = self._hub.files.port() or self._hub_port
            config.update(mcp_overrides(self.role, mcphub.hub_url(self._hub_port)))
        from codeswarm.worker.home import plugin_overrides

        home = self.run_dir.codex_home(self.agent)
        # no plugin-marketplace sync per agent, unless the person chose (worker/home.py)
        config.update(plugin_overrides(home, self.spec.config_overrides))
        # nothing of codeswarm's in the agent's shell
        config.update(shell_overrides(home, self.spec.config_overrides))
        return config

    def _codex_env(self) -> dict[str, str]:
        env = {
            "CODESWARM_AGENT_ID": self.agent,
            "CODESWARM_SWARM": self.spec.name,
            "CODESWARM_RUN_DIR": str(self.run_dir.root),
        }
        if self.spec.coord:
            env.update(agent_env(self.spec, self.agent, self.role, self.worktree))
            env[mcphub.TOKEN_ENV] = self._hub_token
        return env

    def _hook_service(self) -> HookService | None:
        """The agent's hook decision service (docs/hooks.md), unless turned off
        (``CODESWARM_HOOKS_SERVICE=0``) or it cannot listen: then the hooks decide by themselves."""
        if os.environ.get("CODESWARM_HOOKS_SERVICE", "1").strip() == "0":
            return None
        home = str(self.run_dir.codex_home(self.agent))
        service = HookService(
            str(self.run_dir.agent_dir(self.agent)),
            lambda: {**os.environ, **self._codex_env(), "CODEX_HOME": home},  # the hooks' own
            self._runtime_pid,
            lambda: self.coord.coord.store if self.coord is not None else None,  # shared
        )
        try:
            service.start()
        except OSError as exc:
            self.emit("error", message=f"hook service not started ({exc}): hooks decide alone")
            return None
        return service

    def _runtime_pid(self) -> int | None:
        """The agent's Codex (or ``claude``) process, for the hook service: only its descendants
        may ask."""
        if self.codex is not None:
            return self.codex.pid
        return self._claude_pid

    def _binary(self) -> CodexBinary:
        found = describe(Path(self.spec.codex_bin), "config")
        return found._replace(env={**found.env, **self.spec.codex_env})

    async def _start_codex(self, reason: str | None) -> None:
        """Start the agent's runtime, Codex or Claude Code (retrying with backoff), handshake,
        start or resume the thread."""
        home = self.run_dir.codex_home(self.agent)
        if self.runtime == "codex":
            seed = Path(self.spec.user_codex_home) if self.spec.user_codex_home else None
            prepare_codex_home(home, seed)
            if self.spec.coord:
                install_hooks(home)
        attempt = 0
        while True:
            try:
                if self.runtime == "claude":
                    await self._spawn_claude()
                else:
                    await self._spawn_codex(home)
                break
            except CodexError as exc:
                delay = RESTART_BACKOFF[min(attempt, len(RESTART_BACKOFF) - 1)]
                attempt += 1
                self.emit("error", message=f"{self.runtime} failed to start: {exc}",
                          retry_in=delay)  # fmt: skip
                if self.codex is not None:
                    await self.codex.aclose(CODEX_CLOSE_GRACE)
                    self.codex = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), delay)
                if self._stop_requested.is_set():
                    raise
        assert self.thread is not None
        self.emit(
            "agent.ready",
            thread_id=self.thread.id,
            model=self.thread.model or (self.spec.model if self.runtime == "codex" else None),
            pid=self.codex.pid if self.codex else None,
            resumed=reason is not None,
        )
        if reason is not None:
            self.emit("agent.restarted", reason=reason, thread_id=self.thread.id)
        if self.spec.coord and isinstance(self.codex, AppServer) and self.codex.pid is not None:
            self._spawn(self._watch_mcp(self._generation), "mcp")

    async def _spawn_codex(self, home: Path) -> None:
        """Start Codex, relay it, trust the hooks, open the thread, check the login."""
        self.mcp.reset()
        self.codex = codex = await AppServer.spawn(
            self._binary(),
            codex_home=home,
            cwd=Path(self.cwd),
            config=self._codex_config(),
            args=[
                a
                for k, v in without_shell_policy(self.spec.config_overrides).items()
                for a in ("-c", f"{k}={v}")
            ],
            env=self._codex_env(),
            approval=self._policy(),
            stderr_log=self.run_dir.codex_log(self.agent),
            seed_home=True,  # the agent's own home: Codex's first-start files copied in
        )
        self._generation += 1
        atomic_write(
            self.run_dir.codex_pid(self.agent),
            f"{codex.pid}\n".encode(),
            mode=KEEP_MODE,
            durable=False,
        )
        # relay first: the subscription must exist before the first request is sent
        self._spawn(self._relay(codex, self._generation), "relay")
        if self.spec.coord:
            # a hook that is not trusted silently never runs; only the agent's own are trusted
            # (the project's .codex/hooks.json is anyone's who can write the project)
            await codex.trust_hooks([self.cwd], within=home)
        await self._open_thread(codex)
        problem = await login_problem(codex, self.spec.user_codex_home or home)
        self._login_missing = problem
        if problem is not None:  # turns would only retry: said now (last), for `status`
            self.emit("error", message=problem, login_missing=True)

    async def _open_thread(self, codex: AppServer) -> None:
        params: dict[str, Any] = {
            "cwd": self.cwd,
            "model": None if self.spec.model_provider == "mock" else self.spec.model,
            "approval_policy": self.spec.approval_policy,
            "sandbox": self.spec.sandbox,
        }
        if self.spec.model_provider not in (None, "mock"):
            params["model_provider"] = self.spec.model_provider
        thread_id = self.state.get("thread_id")
        if isinstance(thread_id, str):
            try:
                resume = {k: v for k, v in params.items() if k != "model_provider"}
                self.thread = await codex.thread_resume(thread_id, **resume)
                return
            except RpcError as exc:
                self.emit("error", message=f"cannot resume thread {thread_id}: {exc.message}; "
                          "starting a new thread")  # fmt: skip
                self._new_thread = True
        self.thread = await codex.thread_start(**params)
        self._save_state(thread_id=self.thread.id)

    async def _relay(self, codex: AppServer | ClaudeSession, generation: int) -> None:
        """Every Codex message to the outbox, in order; report the end of this Codex (for a
        Claude agent: its session's messages, :meth:`ClaudeAgent._emit_claude`)."""
        sub = codex.subscribe()
        try:
            async for msg in sub:
                if self._held is not None and generation == self._generation:
                    self._held.append(msg)  # a turn being started: after its turn.accepted
                else:
                    self._relay_one(msg)
        except CodexError as exc:
            if generation == self._generation:
                self.inputs.put_nowait(_Event(Input.CODEX_DIED, detail=str(exc)))

    def _relay_one(self, msg: dict[str, Any]) -> None:
        if self.runtime == "claude":
            self._emit_claude(msg)
        else:
            self.emit("codex", msg=msg)
        usage = usage_of(msg)
        if usage is not None:
            self._on_usage(usage, time.monotonic_ns())
        if self.spec.coord and self.runtime == "codex":
            self.mcp.observe(msg)

    def _release_held(self) -> None:
        """Relay what was held while a turn was being started (:meth:`_start_turn`)."""
        held, self._held = self._held, None
        for msg in held or ():
            self._relay_one(msg)

    # -- inputs ---------------------------------------------------------------------------------
    async def _follow_inbox(self) -> None:
        """Inbox records into the loop. An inbox that stops being safe to read (it became
        writable by others or another user's, was replaced by a link, ...) is read no more: one
        ``error`` record says why, and the agent goes on without it."""
        assert self.inbox is not None
        try:
            async for record in self.inbox.records():
                self.inputs.put_nowait(_Event(Input.RECORD, record))
        except MailboxError as exc:
            log.error("%s: inbox no longer read: %s", self.agent, exc)
            self.emit("error", message=f"the inbox is no longer read: {exc}", inbox_closed=True)

    async def _follow_coord(self, coord: CoordLink) -> None:
        async for record in coord.messages():
            self.inputs.put_nowait(_Event(Input.COORD_MESSAGE, record))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.spec.heartbeat_s)
            self.emit(
                "heartbeat",
                busy=self.turn is not None,
                queued=len(self.queued),
                approvals=len(self.forwarded),
                ts_mono=time.monotonic(),
            )

    async def _watch_turn(self, turn: TurnHandle, generation: int) -> None:
        """Wait for the turn to end; give it up when it does nothing but retry an unreachable
        model for the swarm's deadline (Codex would retry forever)."""

        async def give_up(reason: str) -> None:
            self.emit("turn.gave_up", turn_id=turn.turn_id, reason=reason)
            with contextlib.suppress(CodexError):
                await turn.interrupt()  # Codex ends it "interrupted"; the record says why

        try:
            watch = RetryWatch(self.spec.retry_deadline_s)
            async for _msg in follow_turn(turn, watch, give_up):
                pass
        except CodexError:
            return  # the relay reports the death of Codex
        if generation == self._generation:
            self.inputs.put_nowait(_Event(Input.TURN_DONE, detail=turn.turn_id))

    # -- the loop -------------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            event = await self.inputs.get()
            if event.kind is Input.STOP:
                await self._stop(event.detail)
                return
            if event.kind is Input.RECORD:
                assert event.record is not None
                await self._on_record(event.record)
            elif event.kind is Input.TURN_DONE:
                if self.turn is not None and self.turn.turn_id == event.detail:
                    await self._turn_ended(self.turn)
                    self.turn = None
                    self._turn_record = None
                if self._recycle is not None and self.turn is None:
                    await self._recycle_codex()
                await self._next_queued()
            elif event.kind is Input.CODEX_DIED:
                await self._restart_codex(event.detail)
            elif event.kind is Input.COORD_MESSAGE:
                assert event.record is not None
                self.queued.append(event.record)
                await self._next_queued()
            elif event.kind is Input.MCP_LOST and event.generation == self._generation:
                await self._on_mcp_lost(event.detail)
            if self._stopping:
                await self._stop("shutdown record")
                return

    async def _on_record(self, record: MailRecord) -> None:
        assert self.inbox is not None
        kind = record.get("kind")
        if kind == "message":
            text = record.get("text")
            if not isinstance(text, str) or not text.strip():
                self._reject(record, "a message needs non-empty 'text'")
                return
            if self.turn is not None and (record.get("mode") or self.spec.message_mode) == "steer":
                await self._steer(record)
            else:
                # behind whatever already waits: a new message never overtakes a queued one
                self.queued.append(record)
                await self._next_queued()
        elif kind == "interrupt":
            target = record.get("turn_id")
            if self.turn is not None and target in (None, self.turn.turn_id) and self.codex:
                with contextlib.suppress(CodexError):
                    await self.turn.interrupt()
            self.inbox.done(record)
        elif kind == "approval":
            ok = self.forwarded.answer(
                record.get("request_id"), str(record.get("decision")), record.get("item_id")
            )
            if not ok:
                self.emit("inbox.rejected", inbox_id=record.get("id"),
                          reason="no pending approval with that request id")  # fmt: skip
            self.inbox.done(record)
        elif kind == "shutdown":
            self.inbox.done(record)
            self._stopping = True
        else:
            self._reject(record, f"unknown record kind {kind!r}")

    def _reject(self, record: MailRecord, reason: str, **extra: Any) -> None:
        assert self.inbox is not None
        self.emit("inbox.rejected", inbox_id=record.get("id"), reason=reason, **extra)
        self.inbox.done(record)

    async def _start_turn(self, record: MailRecord) -> bool:
        """Start the turn that carries ``record``. True when the record is dealt with (its turn
        runs, it was refused, or Codex had taken it before a crash); False when Codex is gone:
        the record is back at the head of the queue, for after the restart."""
        assert self.codex is not None and self.thread is not None and self.inbox is not None
        rid = str(record.get("id"))
        if rid in self._recovered:  # accepted before the crash (_resolve_unfinished said so)
            self._recovered.discard(rid)
            self.inbox.done(record)
            await self._ack_coord(record)
            return True
        # written before the call: the window in which Codex may accept the turn unseen is
        # bounded by this record and turn.accepted (see _resolve_unfinished); mono_ns lets a
        # benchmark on the same machine measure inject latency across processes
        if self._login_missing is not None:
            # Codex reads its login only when it starts: every turn would fail, after retries
            self._reject(record, self._login_missing)
            return True
        task_id = task_of(record)
        if task_id is None and isinstance(record.get("continues"), str):  # a crash cut it short
            task_id = self.ledger.turn_tasks.get(record["continues"])
        task_id = await self._own_task(task_id)
        refused = await self._budget_refusal(task_id)
        if refused is not None:  # a budget of the agent, the swarm or the task is spent
            self._reject(record, refused, budget=True)
            await self._ack_coord(record)
            return True
        extra = {"continues": record["continues"]} if "continues" in record else {}
        self.emit("turn.starting", inbox_id=rid, mono_ns=time.monotonic_ns(), **extra)
        # Claude Code streams a turn before it is known to be taken (in the transcript): what
        # the relay gets meanwhile is written after turn.accepted, as with Codex
        self._held = [] if self.runtime == "claude" else None
        try:
            try:
                turn = await self.codex.turn_start(
                    self.thread.id, str(record["text"]), clientUserMessageId=rid
                )
            except RpcError as exc:
                self._reject(record, f"{self.runtime} refused the turn: {exc.message}")
                return True
            except CodexError:
                self.queued.appendleft(record)  # Codex died: the record waits for the restart
                return False
            self.turn = turn
            self._turn_record = rid
            self._turn_carries = record
            self.ledger.begin_turn(turn.turn_id, task_id)
            self.emit("turn.accepted", inbox_id=rid, inbox_seq=record.get("seq"),
                      turn_id=turn.turn_id, **extra)  # fmt: skip
        finally:
            self._release_held()
        self.inbox.done(record)
        await self._ack_coord(record)
        self._turn_task = self._spawn(self._watch_turn(turn, self._generation), "turn")
        return True

    async def _steer(self, record: MailRecord) -> None:
        assert self.codex is not None and self.thread is not None and self.turn is not None
        assert self.inbox is not None
        try:
            await self.codex.turn_steer(self.thread.id, self.turn.turn_id, str(record["text"]))
        except RpcError:
            self.queued.append(record)  # the turn ended meanwhile: run it as the next turn
            return
        except CodexError:
            self.queued.appendleft(record)
            return
        self.emit("turn.steered", inbox_id=record.get("id"), turn_id=self.turn.turn_id)
        self.inbox.done(record)

    async def _next_queued(self) -> None:
        """While the agent is idle, start the next queued message; one that is refused (or was
        already taken before a crash) makes way for the one after it at once."""
        if self.turn is None and self.queued and self.codex is not None:
            await self._follow_hub()
        while self.turn is None and self.queued and self.codex is not None:
            if not await self._start_turn(self.queued.popleft()):
                return

    async def _restart_codex(self, detail: str) -> None:
        self.forwarded.cancel_all()
        cut: tuple[str, str | None] | None = None
        if self.turn is not None:
            self.emit("turn.aborted", turn_id=self.turn.turn_id, reason=detail)
            cut = (self.turn.turn_id, self._turn_record)
            self.turn.close()
            self.turn = None
            self._turn_record = None
        exited = f"{self.runtime} exited: {detail}"
        self.emit("error", message=exited)
        if self.codex is not None:
            await self.codex.aclose(CODEX_CLOSE_GRACE)
            self.codex = None
        await asyncio.sleep(RESTART_BACKOFF[0])
        await self._start_codex(reason=exited)
        await self._resolve_unfinished(cause=exited)  # a turn/start in flight
        if cut is not None:
            self._continue(cut[0], cut[1], exited)
        await self._next_queued()

    # -- crashes --------------------------------------------------------------------------------
    async def _resolve_unfinished(self, cause: str | None = None) -> None:
        """After a restart: resolve the turn the outbox says was running and never ended
        (:mod:`codeswarm.worker.recovery`). ``cause``: what died, when the worker knows (Codex);
        else the outbox says (the keeper's ``worker.exited``)."""
        assert self.codex is not None and self.thread is not None
        try:
            records = records_backward(self.layout.outbox(self.agent), keep=recovery.worth_parsing)
            with contextlib.closing(records):
                unfinished = recovery.find_unfinished(records)
        except MailboxError as exc:
            self.emit("error", message=f"cannot read the outbox back to resolve a turn: {exc}")
            return
        if unfinished is None:
            return
        turn = None
        with contextlib.suppress(CodexError):  # an old Codex, a new thread, Codex gone: no news
            listed = await self.codex.request(
                "thread/turns/list", {"threadId": self.thread.id, "limit": 5, "itemsView": "full"}
            )
            turn = recovery.find_turn(listed, unfinished)
        turn_id = unfinished.turn_id
        if turn_id is None:
            if turn is None:
                return  # Codex never took it: the record is still ahead of the cursor, it runs
            turn_id = str(turn.get("id"))
            self._recovered.add(unfinished.record_id)
            self.emit("turn.accepted", inbox_id=unfinished.record_id, turn_id=turn_id,
                      recovered=True)  # fmt: skip
        if turn is not None and recovery.really_ended(turn):
            self.emit("turn.recovered", turn_id=turn_id, status=turn.get("status"),
                      error=recovery.turn_error(turn), text=recovery.final_text(turn))  # fmt: skip
            return
        if cause is not None:
            reason = cause
        elif unfinished.stopped:
            reason = "the worker was stopped before the turn ended"
        else:
            reason = f"worker restarted mid-turn: {unfinished.cause}"
        self.emit("turn.aborted", turn_id=turn_id, inbox_id=unfinished.record_id, reason=reason)
        if not unfinished.stopped:
            self._continue(turn_id, unfinished.record_id, cause or unfinished.cause)

    def _continue(self, turn_id: str, record_id: str | None, cause: str) -> None:
        """Queue, first in line, the follow-up turn that continues ``turn_id`` after a crash
        (unless the swarm turned that off, the turn was itself a continuation, or the thread
        that had it is gone)."""
        if not self.spec.resume_interrupted or self._new_thread:
            return
        if record_id is not None and record_id.startswith(recovery.CONTINUE_PREFIX):
            self.emit("error", message=f"turn {turn_id} continued an interrupted turn and was "
                      "interrupted too: not continued again")  # fmt: skip
            return
        self.queued.appendleft(recovery.continuation(turn_id, cause))

    # -- the MCP server -------------------------------------------------------------------------
    async def _mount_hub(self) -> None:
        """Count as one of this node's workers, make sure its coordination hub runs (starting
        it if none does) and grant this worker generation a token (:mod:`.mcphub`)."""
        mcp_dir = self.run_dir.mcp_dir
        env = agent_env(self.spec, self.agent, self.role, self.worktree)
        loop = asyncio.get_running_loop()

        def moved(port: int) -> None:  # the keeper's thread restarted it elsewhere
            loop.call_soon_threadsafe(self._hub_moved, port)

        def mount() -> tuple[mcphub.HubKeeper, int, str]:
            keeper = mcphub.HubKeeper(mcp_dir, moved)
            token, _ = mcphub.grant(mcp_dir, self.agent, env, self.cwd)
            return keeper, mcphub.ensure_hub(mcp_dir), token

        keeper, self._hub_port, self._hub_token = await asyncio.to_thread(mount)
        self._hub = keeper
        keeper.start()

    async def _follow_hub(self) -> None:
        """Before a turn: when this node's hub was restarted on another port (its own could not
        be had again), restart Codex on the new URL first (the thread is resumed)."""
        if self._hub is None:
            return
        port = self._hub.files.port()
        if port is not None and port != self._hub_port:
            self._recycle = f"the coordination hub moved to port {port}"
            await self._recycle_codex()

    def _hub_moved(self, port: int) -> None:
        """This worker's keeper restarted the hub on another port: restart Codex when idle."""
        if port != self._hub_port and self.codex is not None:
            self._restart_when_idle(f"the coordination hub moved to port {port}")

    def _mcp_lost(self, detail: str) -> None:
        self.inputs.put_nowait(_Event(Input.MCP_LOST, detail=detail, generation=self._generation))

    async def _watch_mcp(self, generation: int) -> None:
        detail = await self.mcp.watch()
        if generation == self._generation:
            self._mcp_lost(detail)

    async def _on_mcp_lost(self, detail: str) -> None:
        """Bring the MCP server back: through the app-server if it can, else by restarting Codex
        at the next idle moment (the thread is resumed either way)."""
        if self.codex is None:
            return
        what = f"the MCP server '{MCP_SERVER}' is gone ({detail})"
        if self.mcp.reloading:  # the reload asked for did not bring it back
            self._restart_when_idle(f"{what} after a reload")
            return
        try:
            await self.mcp.reload(self.codex.request)
        except RpcError as exc:
            self._restart_when_idle(f"{what} and the app-server cannot reload it ({exc.message})")
            return
        except CodexError:
            return  # Codex itself died: its restart brings a new server
        self.emit("error", message=f"{what}: restarted through the app-server, thread kept",
                  mcp_restarted=MCP_SERVER)  # fmt: skip
        if self.codex.pid is not None:
            self._spawn(self._watch_mcp(self._generation), "mcp")

    def _restart_when_idle(self, reason: str) -> None:
        self._recycle = reason
        if self.turn is None:
            self.inputs.put_nowait(_Event(Input.TURN_DONE))  # idle now: at once

    async def _recycle_codex(self) -> None:
        """Restart an idle Codex on purpose (not a crash): close it, start a new one, resume."""
        reason, self._recycle = self._recycle or "", None
        what = "Codex" if self.runtime == "codex" else "claude"
        self.emit("error", message=f"{reason}: restarting {what}, the thread is resumed")
        self._generation += 1  # what watches the old Codex is stale from here on
        self.forwarded.cancel_all()
        if self.codex is not None:
            await self.codex.aclose(CODEX_CLOSE_GRACE)
            self.codex = None
        await self._start_codex(reason=reason)

    async def _stop(self, why: str) -> None:
        """Interrupt a running turn, give it STOP_GRACE to end, then return (run() cleans up)."""
        self._stopping = True
        log.info("%s: stopping (%s)", self.agent, why)
        if self.turn is not None and self.codex is not None and self._turn_task is not None:
            # said first: if the turn outlives the grace and we are killed, the next worker
            # reports it cut short by a stop, not a crash, and does not continue it
            self.emit("worker.stopping", reason=why, turn_id=self.turn.turn_id)
            with contextlib.suppress(CodexError, TimeoutError):
                await self.turn.interrupt()
                await asyncio.wait_for(asyncio.shield(self._turn_task), STOP_GRACE)

    # -- coordination -----------------------------------------------------------------------------
    async def _join_coord(self) -> None:
        """Link the agent to the swarm's store before it is ready. A store that is busy or not
        reachable yet (another process holds the write lock, a file system is slow) is tried
        again with backoff for up to :data:`COORD_JOIN_TIMEOUT`; only then does the agent run
        uncoordinated (its hooks still enforce leases, registering on their own)."""
        deadline = time.monotonic() + COORD_JOIN_TIMEOUT
        delay = COORD_JOIN_BACKOFF
        while True:
            try:
                self.coord = await CoordLink.open(
                    self.spec.coord_db,
                    root=swarm_scope(self.spec),  # the project's scope, fixed at `up`
                    agent=self.agent,
                    role=self.role,
                    label=f"swarm {self.spec.name}",
                    report=self._coord_error,
                    report_chars=self.spec.report_chars,
                )
                return
            except StorePathError as exc:  # a bad path does not get better by waiting
                self.emit("error", message=f"coordination unavailable: {exc}")
                return
            except StoreUnavailableError as exc:
                if time.monotonic() + delay > deadline or self._stop_requested.is_set():
                    self.emit("error", message=f"coordination unavailable: {exc}")
                    return
                log.warning("%s: joining the store: %s; again in %.1fs", self.agent, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, COORD_JOIN_BACKOFF_MAX)
            except CoordError as exc:
                self.emit("error", message=f"coordination unavailable: {exc}")
                return

    def _coord_error(self, message: str) -> None:
        self.emit("error", message=message)

    async def _turn_ended(self, turn: TurnHandle) -> None:
        """The turn ended: the store learns what its record asked for (a task turn without a
        report: ``needs_review``; a message expecting a reply: the turn's final message)."""
        record, self._turn_carries = self._turn_carries, None
        if self.coord is not None and record is not None and turn.result is not None:
            task_id = self.ledger.turn_tasks.get(turn.turn_id)
            if task_id is not None and self.ledger.task_over(task_id):
                task_id = None  # failed for its budget (_budget_told), not left for review
            await self.coord.turn_ended(record, task_id, turn.result.text)

    async def _ack_coord(self, record: MailRecord) -> None:
        """The turn carrying a coordination message was accepted: the message is read."""
        if self.coord is not None and "coord_id" in record:
            await self.coord.ack(int(record["coord_id"]))
