"""One Claude Code agent: the real ``claude`` CLI in stream-json mode behind a Codex facade.

:class:`ClaudeSession` offers the part of :class:`codeswarm.codex.AppServer`'s surface the worker
uses (``subscribe``, ``thread_start``/``thread_resume``, ``turn_start`` → a
:class:`~codeswarm.codex.turn.TurnHandle`, ``request("thread/turns/list")``, ``aclose``, ``pid``),
and turns Claude's stdout lines into Codex notifications (:mod:`.codexview`). Every raw line but
the ``stream_event`` partials also reaches subscribers as ``{"method": "claude/event", "params":
<line>}``.

Verified against the real CLI 2.1.197 (see also :mod:`.launch`):

- An ``initialize`` ``control_request`` is answered (``commands, agents, models, account,
  pid``…) before any user message: that answer is "started".
- A user line is taken at once: the turn's first line (``system/init``, or a SessionStart hook's)
  follows within milliseconds; the transcript gets it about 0.1 s later (a ``kill -9`` before
  that loses it: not accepted until then). The replayed user message arrives only with the
  model's first answer, so it is not what acceptance waits for. A line's ``uuid`` is
  kept in the transcript: a turn's id is that uuid, ``uuid5`` of the client's message id, and a
  small side file (``<config dir>/codeswarm-turns/<session>.jsonl``) maps it back to the client
  id for ``thread/turns/list``.
- Messages written while a turn runs are merged into one turn: so one turn at a time here, and
  ``turn_steer`` always refuses (the worker queues the message).
- Interrupt: ``control_request`` ``interrupt``; the turn ends with ``result``
  ``error_during_execution`` (``terminal_reason`` ``aborted_streaming`` / ``aborted_tools``) and
  the process lives on.
- ``--permission-prompt-tool stdio``: ``control_request`` ``can_use_tool`` (``tool_name``,
  ``input``, ``tool_use_id``, ``description``, ``decision_reason``), answered ``{"behavior":
  "allow", "updatedInput": …}`` or ``{"behavior": "deny", "message": …}``; it comes after the
  ``assistant`` line carrying the ``tool_use``.
- An API error fails the turn (``result`` ``is_error``), and the process lives on; a retried
  one shows as ``system/api_retry`` lines.
- The process is started with ``PR_SET_PDEATHSIG=SIGKILL``: once stdin closes, ``claude`` would
  otherwise finish its turn alone after a ``kill -9`` of the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import enum
import logging
import os
import signal
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import orjson

from codeswarm.claude.codexview import View, turns_from_transcript
from codeswarm.claude.launch import ClaudeLaunch
from codeswarm.codex.approval import (
    ApprovalPolicy,
    ApprovalRequest,
    Decision,
    DeclineAll,
    build_request,
)
from codeswarm.codex.client import Thread
from codeswarm.codex.launch import popen_piped
from codeswarm.codex.subscription import Message, Predicate, Subscription
from codeswarm.codex.transport import STDIN_CLOSE_GRACE, ProcessTransport
from codeswarm.codex.turn import TurnHandle, message_thread_id
from codeswarm.core.errors import (
    ClaudeExitedError,
    ClosedError,
    CodexError,
    ProcessExitedError,
    ProtocolError,
    RpcError,
)
from codeswarm.core.resource import AsyncResource
from codeswarm.core.usage import Tokens

log = logging.getLogger("codeswarm.claude")

START_TIMEOUT = 60.0
"""Seconds ``claude`` may take to answer ``initialize`` (about half a second here)."""
TURN_ID_NAMESPACE = uuid.UUID("6f0c3c1e-93a1-4d0e-9b53-6b2f3a3f1c16")
"""``uuid5(this, client message id)`` is a turn's id and its user message's transcript uuid."""
PERSIST_TIMEOUT = 10.0
"""Seconds :meth:`ClaudeSession.turn_start` waits for the user message to reach the transcript."""
PERSIST_POLL = 0.02
METHOD_NOT_FOUND = -32601
INVALID_REQUEST = -32600
DECLINED = "declined by the codeswarm approval policy"
PR_SET_PDEATHSIG = 1


class State(enum.Enum):
    OPEN = "open"  # reading and writing
    LOST = "lost"  # claude went away; every call raises ClaudeExitedError
    CLOSED = "closed"  # closed by us; every call raises ClosedError


def turn_id_for(client_id: str | None) -> str:
    """The turn id (and user message uuid) for a message with this client id."""
    return str(uuid.uuid5(TURN_ID_NAMESPACE, client_id) if client_id else uuid.uuid4())


def _die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn``: the child gets SIGKILL when the thread that started it exits (so start
    it from the event loop's thread, which lives as long as the worker)."""
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def start(launch: ClaudeLaunch) -> subprocess.Popen[bytes]:
    """Start ``claude`` for ``launch`` in its own process group, stdio piped, dying with us.
    Raises :class:`UsageError` when the program cannot be started."""
    launch.config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return popen_piped(launch.argv(), launch.process_env(), launch.cwd, _die_with_parent())


def permission_answer(decision: Decision, request: dict[str, Any]) -> dict[str, Any]:
    """The answer to a ``can_use_tool`` request: allow (with its input unchanged; for the
    session, with Claude's own suggested rules kept for the session), or deny (and stop the turn,
    for :attr:`Decision.CANCEL`)."""
    if decision in (Decision.ACCEPT, Decision.ACCEPT_FOR_SESSION):
        given = request.get("input")
        answer: dict[str, Any] = {
            "behavior": "allow",
            "updatedInput": given if isinstance(given, dict) else {},
        }
        suggested = request.get("permission_suggestions")
        if decision is Decision.ACCEPT_FOR_SESSION and isinstance(suggested, list):
            rules = [{**s, "destination": "session"} for s in suggested if isinstance(s, dict)]
            if rules:
                answer["updatedPermissions"] = rules
        return answer
    answer = {"behavior": "deny", "message": DECLINED}
    if decision is Decision.CANCEL:
        answer["interrupt"] = True
    return answer


class ClaudeSession(AsyncResource):
    """One ``claude`` process and its session; see the module docstring. Use :meth:`spawn`."""

    def __init__(
        self,
        transport: ProcessTransport,
        launch: ClaudeLaunch,
        approval: ApprovalPolicy | None = None,
        totals: Tokens | None = None,
    ) -> None:
        self.launch = launch
        self.transport = transport
        self.approval: ApprovalPolicy = approval if approval is not None else DeclineAll()
        self.view = View(launch.session_id, totals, str(launch.cwd))
        self.server_info: dict[str, Any] = {}
        """``initialize``'s answer (``models``, ``account``, ``pid``, …)."""
        self._state = State.OPEN
        self._error: BaseException | None = None
        self._subs: list[Subscription] = []
        self._control: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._turn: str | None = None
        self._accepted: asyncio.Future[None] | None = None
        self._approvals: dict[str, asyncio.Task[None]] = {}
        self._lost = asyncio.Event()
        self._reader = asyncio.create_task(self._read_loop(), name=f"claude-{transport.pid}")

    @classmethod
    async def spawn(
        cls,
        launch: ClaudeLaunch,
        approval: ApprovalPolicy | None = None,
        *,
        totals: Tokens | None = None,
        started: Callable[[int], None] | None = None,
    ) -> ClaudeSession:
        """Start ``claude`` and wait for its answer to ``initialize``. ``totals``: the session's
        usage so far (what :attr:`totals` said before a restart). ``started``: called with its
        pid as soon as it runs (before it answers: its hooks may call already). Raises
        :class:`UsageError` if it cannot start, a :class:`CodexError` if it dies or does not
        answer."""
        popen = start(launch)
        if started is not None:
            started(popen.pid)
        try:
            transport = await ProcessTransport.adopt(popen, stderr_log=launch.stderr_log)
        except BaseException:
            popen.kill()
            popen.wait()
            raise
        session = cls(transport, launch, approval, totals)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                session.server_info = await session._control_request("initialize")
        except TimeoutError:
            await session.aclose(0)
            raise ProtocolError(
                f"claude did not answer initialize in {START_TIMEOUT:.0f}s"
            ) from None
        except BaseException:
            await session.aclose(0)
            raise
        return session

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.transport.pid

    @property
    def thread_id(self) -> str:
        """The session id: the agent's thread id."""
        return self.launch.session_id

    @property
    def totals(self) -> Tokens:
        """The session's running usage total (keep it across restarts: ``spawn(totals=…)``)."""
        return self.view.totals

    @property
    def state(self) -> State:
        return self._state

    async def aclose(self, grace: float = STDIN_CLOSE_GRACE) -> None:
        """Close stdin, wait ``grace``, SIGTERM, SIGKILL (the whole group). Safe to call twice."""
        if self._state is State.OPEN:
            self._end(ClosedError("claude session closed by us"), State.CLOSED)
        await self.transport.aclose(grace)
        if not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def wait_lost(self) -> BaseException | None:
        """Wait until the session ends; returns why."""
        await self._lost.wait()
        return self._error

    def _check_open(self) -> None:
        if self._state is not State.OPEN:
            assert self._error is not None
            raise self._error

    def _end(self, exc: BaseException, state: State) -> None:
        self._state = state
        self._error = exc
        for fut in self._control.values():
            if not fut.done():
                fut.set_exception(exc)
        self._control.clear()
        if self._accepted is not None and not self._accepted.done():
            self._accepted.set_exception(exc)
        for task in self._approvals.values():
            task.cancel()
        self._approvals.clear()
        for sub in self._subs:
            sub._finish(exc if state is State.LOST else None)
        self._subs.clear()
        self._lost.set()

    # -- subscribers ----------------------------------------------------------------------------
    def subscribe(
        self, predicate: Predicate | None = None, *, requests: bool = True
    ) -> Subscription:
        """Every message from now on, in order (as :meth:`AppServer.subscribe`); iteration raises
        :class:`ClaudeExitedError` once ``claude`` is gone and everything buffered was read."""
        sub = Subscription(predicate, self._unsubscribe, requests=requests)
        if self._state is State.OPEN:
            self._subs.append(sub)
        else:
            sub._finish(self._error if self._state is State.LOST else None)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def _publish(self, msg: Message) -> None:
        request = "id" in msg
        for sub in self._subs:
            if request and not sub.requests:
                continue
            if sub.predicate is None or sub.predicate(msg):
                sub._push(msg)

    # -- the wire -------------------------------------------------------------------------------
    async def _send(self, obj: dict[str, Any]) -> None:
        self._check_open()
        try:
            await self.transport.send(orjson.dumps(obj) + b"\n")
        except CodexError as exc:
            raise _as_claude(exc) from exc

    async def _control_request(self, subtype: str, **fields: Any) -> dict[str, Any]:
        self._check_open()
        self._next_id += 1
        rid = f"codeswarm-{self._next_id}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._control[rid] = fut
        try:
            await self._send(
                {
                    "type": "control_request",
                    "request_id": rid,
                    "request": {"subtype": subtype, **fields},
                }
            )
            return await fut
        finally:
            self._control.pop(rid, None)

    async def _read_loop(self) -> None:
        buf = b""
        try:
            while True:
                chunk = await self.transport.receive()
                if not chunk:
                    break
                lines = (buf + chunk).split(b"\n")
                buf = lines.pop()
                for line in lines:
                    if line.strip():
                        self._dispatch(line)
        except asyncio.CancelledError:
            raise
        except Exception:  # a transport failure: the peer is gone
            log.debug("claude read loop failed", exc_info=True)
        if self._state is State.OPEN:
            lost = await self.transport.wait_lost()
            self._end(_as_claude(lost), State.LOST)

    def _dispatch(self, line: bytes) -> None:
        try:
            raw = orjson.loads(line)
        except orjson.JSONDecodeError:
            log.warning("claude wrote a line that is not JSON: %r", line[:200])
            return
        if type(raw) is not dict:
            return
        kind = raw.get("type")
        if kind == "control_response":
            self._on_control_response(raw)
            return
        if kind == "control_request":
            self._on_control_request(raw)
            return
        if kind == "control_cancel_request":
            self._withdraw(str(raw.get("request_id")))
            return
        if self._accepted is not None and not self._accepted.done() and self._turn is not None:
            for msg in self.view.begin(self._turn):
                self._publish(msg)
            self._accepted.set_result(None)
        if kind != "stream_event":
            self._publish({"method": "claude/event", "params": raw})
        for msg in self.view.events(raw):
            if msg.get("method") == "turn/completed":
                self._turn = None
            self._publish(msg)

    def _on_control_response(self, raw: dict[str, Any]) -> None:
        response = raw.get("response")
        if not isinstance(response, dict):
            return
        fut = self._control.get(str(response.get("request_id")))
        if fut is None or fut.done():
            return
        if response.get("subtype") == "error":
            fut.set_exception(RpcError("control", INVALID_REQUEST, str(response.get("error"))))
        else:
            body = response.get("response")
            fut.set_result(body if isinstance(body, dict) else {})

    def _on_control_request(self, raw: dict[str, Any]) -> None:
        rid = str(raw.get("request_id"))
        request = raw.get("request")
        request = request if isinstance(request, dict) else {}
        if request.get("subtype") != "can_use_tool":
            # hook callbacks, SDK MCP servers: none registered, so never expected
            task = asyncio.create_task(self._reply_error(rid, request.get("subtype")))
            self._approvals[rid] = task
            task.add_done_callback(lambda _t: self._approvals.pop(rid, None))
            return
        msgs = self.view.approval(rid, request)
        for msg in msgs:
            self._publish(msg)
        approval = build_request(msgs[-1], self.view.items)
        assert approval is not None  # View.approval gives approval methods only
        task = asyncio.create_task(self._answer(rid, approval, request), name=f"approval-{rid}")
        self._approvals[rid] = task
        task.add_done_callback(lambda _t: self._approvals.pop(rid, None))

    async def _reply_error(self, rid: str, subtype: Any) -> None:
        with contextlib.suppress(CodexError):
            await self._send(
                {
                    "type": "control_response",
                    "response": {
                        "subtype": "error",
                        "request_id": rid,
                        "error": f"not supported: {subtype}",
                    },
                }
            )

    async def _answer(self, rid: str, approval: ApprovalRequest, request: dict[str, Any]) -> None:
        try:
            decision = await self.approval.decide(approval)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("approval policy failed on %s: %s", rid, exc, exc_info=True)
            decision = Decision.DECLINE
        answer = permission_answer(decision, request)
        with contextlib.suppress(CodexError):
            await self._send(
                {
                    "type": "control_response",
                    "response": {"subtype": "success", "request_id": rid, "response": answer},
                }
            )
            self._publish(self.view.resolved(rid))

    def _withdraw(self, rid: str) -> None:
        """Claude no longer waits for this approval (the turn was interrupted)."""
        task = self._approvals.pop(rid, None)
        if task is not None:
            task.cancel()
            self._publish(self.view.resolved(rid))

    # -- the Codex surface ------------------------------------------------------------------------
    def _thread(self) -> Thread:
        path = str(self.launch.transcript_path())
        raw = {"thread": {"id": self.thread_id, "path": path}, "model": self.launch.model}
        return Thread(self.thread_id, path, self.launch.model, raw)

    async def thread_start(self, **settings: Any) -> Thread:
        """The session's thread (settings are the launch's: ignored here)."""
        self._check_open()
        return self._thread()

    async def thread_resume(self, thread_id: str, **settings: Any) -> Thread:
        """The session's thread, if ``thread_id`` is it; else :class:`RpcError` (the session to
        resume is chosen at launch)."""
        self._check_open()
        if thread_id != self.thread_id:
            raise RpcError(
                "thread/resume",
                INVALID_REQUEST,
                f"this claude runs session {self.thread_id}, not {thread_id}",
            )
        return self._thread()

    async def turn_start(
        self,
        thread_id: str,
        text: str,
        *,
        clientUserMessageId: str | None = None,
        **_ignored: Any,
    ) -> TurnHandle:
        """Send ``text`` as the next user message; return once Claude has taken it (its turn's
        first line) and written it to the transcript (so a resumed session has it). The turn id is ``uuid5`` of ``clientUserMessageId`` (random without one),
        the uuid of the message in the transcript. Raises :class:`RpcError` while a turn runs
        (Claude would merge the two), :class:`ClaudeExitedError` if ``claude`` is gone."""
        self._check_open()
        if thread_id != self.thread_id:
            raise RpcError("turn/start", INVALID_REQUEST, f"unknown thread {thread_id}")
        if self._turn is not None:
            raise RpcError("turn/start", INVALID_REQUEST, "a turn is already running")
        turn_id = turn_id_for(clientUserMessageId)
        if clientUserMessageId is not None:
            await asyncio.to_thread(self._remember, turn_id, clientUserMessageId)
        sub = self.subscribe(lambda m: message_thread_id(m) == self.thread_id)
        transcript = self.launch.transcript_path()
        offset = transcript.stat().st_size if transcript.exists() else 0
        self._turn = turn_id
        accepted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._accepted = accepted
        line = {
            "type": "user",
            "uuid": turn_id,
            "session_id": self.thread_id,
            "parent_tool_use_id": None,
            "message": {"role": "user", "content": text},
        }
        try:
            await self._send(line)
            await accepted
            await self._wait_persisted(turn_id, offset)
        except BaseException:
            sub.close()
            if not accepted.done():
                accepted.cancel()  # nobody waits for it any more
            if self._turn == turn_id and self._state is State.OPEN:
                self._turn = None
            raise

        async def interrupt() -> None:
            await self.turn_interrupt(thread_id, turn_id)

        return TurnHandle(thread_id, turn_id, sub, interrupt)

    async def _wait_persisted(self, turn_id: str, offset: int) -> None:
        """Until the transcript holds the user message ``turn_id`` (past ``offset``), the turn
        has ended, or :data:`PERSIST_TIMEOUT` passed. Claude Code writes the message about 0.1 s
        after taking it: a ``kill -9`` before that loses it, so it is not accepted before."""
        needle = turn_id.encode()
        path = self.launch.transcript_path()
        deadline = asyncio.get_running_loop().time() + PERSIST_TIMEOUT
        while True:
            self._check_open()
            if not path.exists():
                path = self.launch.transcript_path()
            found, offset = _scan(path, needle, offset)
            if found or self._turn != turn_id:
                return
            if asyncio.get_running_loop().time() > deadline:
                log.warning("turn %s: not in %s after %.0fs", turn_id, path, PERSIST_TIMEOUT)
                return
            await asyncio.sleep(PERSIST_POLL)

    async def turn_steer(self, thread_id: str, turn_id: str, text: str) -> NoReturn:
        """Claude Code cannot add to a running turn (it merges the next message into one new
        turn): always :class:`RpcError`, so the message waits for the next turn."""
        raise RpcError("turn/steer", INVALID_REQUEST, "claude cannot steer a running turn")

    async def turn_interrupt(self, thread_id: str, turn_id: str) -> None:
        """Stop the running turn (it completes ``interrupted``); nothing when none runs."""
        if self._turn is None or turn_id != self._turn:
            return
        await self._control_request("interrupt")

    async def request(self, method: str, params: Any = None) -> Any:
        """``thread/turns/list`` (from the transcript: ``{"data": [...]}`` newest first, at most
        ``params["limit"]``); any other method: :class:`RpcError` ``-32601``."""
        self._check_open()
        if method != "thread/turns/list":
            raise RpcError(method, METHOD_NOT_FOUND, f"method not found: {method}")
        p = params if isinstance(params, dict) else {}
        if p.get("threadId", self.thread_id) != self.thread_id:
            raise RpcError(method, INVALID_REQUEST, f"unknown thread {p.get('threadId')}")
        limit = p.get("limit")
        data = await asyncio.to_thread(self._turns)
        if isinstance(limit, int) and limit > 0:
            data = data[:limit]
        return {"data": data, "nextCursor": None}

    # -- the side file: which client id each turn carried ---------------------------------------
    def _side_file(self) -> Path:
        return self.launch.config_dir / "codeswarm-turns" / f"{self.thread_id}.jsonl"

    def _remember(self, turn_id: str, client_id: str) -> None:
        path = self._side_file()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(path, "ab") as f:
            f.write(orjson.dumps({"uuid": turn_id, "clientId": client_id}) + b"\n")

    def _turns(self) -> list[dict[str, Any]]:
        client_ids = dict(_read_jsonl(self._side_file(), "uuid", "clientId"))
        return turns_from_transcript(_entries(self.launch.transcript_path()), client_ids)


def _as_claude(exc: CodexError) -> CodexError:
    """The transport's "process exited" error, naming claude rather than codex."""
    if isinstance(exc, ProcessExitedError) and not isinstance(exc, ClaudeExitedError):
        return ClaudeExitedError(exc.pid, exc.returncode, exc.detail)
    return exc


def _scan(path: Path, needle: bytes, offset: int) -> tuple[bool, int]:
    """Whether ``needle`` is in ``path`` past ``offset``; and where to look from next time."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return False, offset
    if needle in data:
        return True, offset + len(data)
    return False, max(offset, offset + len(data) - len(needle))


def _entries(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return out
    for line in data.splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):
            entry = orjson.loads(line)
            if isinstance(entry, dict):
                out.append(entry)
    return out


def _read_jsonl(path: Path, key: str, value: str) -> list[tuple[str, str]]:
    pairs = []
    for entry in _entries(path):
        k, v = entry.get(key), entry.get(value)
        if isinstance(k, str) and isinstance(v, str):
            pairs.append((k, v))
    return pairs
