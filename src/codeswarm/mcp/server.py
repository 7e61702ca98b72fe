"""The ``codeswarm mcp`` server: the coordination store as a few MCP tools for an agent.

Every agent's Codex mounts it (stdio, ``required = true``, tools pre-approved: they only touch
the coordination store). Tools return small structured results; a refusal (a held lease, a lost
claim, bad input, arguments that do not fit the tool's schema) is a tool error (``isError``)
whose text starts with what kind it is (``conflict:``, ``bad input:``, ``fenced:``, ``error:``)
and says the rest in one line: the model reads it and can correct itself. What is not a call of
one of our tools is a JSON-RPC error (:mod:`codeswarm.mcp.wire`; an unknown tool: -32602).
Read-only tools are annotated ``readOnlyHint``.

Every parameter's schema has a description, and its bounds (``minimum``/``maximum``,
``maxLength``, ``maxItems``) and choices (``enum``) from the one table of bounds
(:mod:`codeswarm.coordination.bounds`), which the service enforces with its own words; an
argument the tool does not take is refused (``additionalProperties: false``), not ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Annotated, Any, TypeVar, cast

from mcp import types
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.fastmcp.tools import Tool
from mcp.shared.exceptions import McpError
from mcp.types import ToolAnnotations
from pydantic import Field, ValidationError

from codeswarm import __version__
from codeswarm.coordination import Coord, Lease, Message, Task
from codeswarm.coordination.bounds import (
    ID,
    INBOX_LIMIT,
    MAX_IDS,
    MAX_PATH_INPUT,
    MCP_WAIT,
    PRIORITY,
    TTL,
    VERSION,
    Range,
)
from codeswarm.coordination.messages import cut
from codeswarm.coordination.models import TASK_STATUSES, agent_name
from codeswarm.core.errors import (
    CodeswarmError,
    ConflictError,
    FencedError,
    UsageError,
    run_guarded,
)
from codeswarm.mcp.identity import Identity
from codeswarm.mcp.shape import shape_of
from codeswarm.mcp.store import StoreLater
from codeswarm.mcp.wire import stdio_transport

T = TypeVar("T")

SERVER_NAME = "codeswarm"
INSTRUCTIONS = (
    "Coordination with the other agents working in this repository. Before editing a file, "
    "take a lease on it (or its directory) with `lease`; release it when done. Take work with "
    "`task_claim` and report with `task_update`. Read `inbox` and `ack` what you handled. "
    "`swarm_status` shows who is here, what they hold, and what is open."
)
READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
WRITES = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
UPDATE_STATUSES = ("in_progress", "done", "failed", "open", "cancelled")
"""What ``task_update`` may set a task to."""
SHORT = 512
"""Bytes of a title, a note, a key or a task type (docs/coordination.md, "Bounds")."""
LONG = 64 * 1024
"""Bytes of a description, a result, a message, a kv value."""


def arg(
    description: str,
    *,
    bounds: Range | None = None,
    enum: tuple[str, ...] | None = None,
    max_length: int | None = None,
    max_items: int | None = None,
    items: Range | None = None,
) -> Any:
    """A tool parameter's schema: its description, and the bounds and choices the service
    enforces, declared so that a client (and the model) sees them. Declared only: the service
    checks every value (its refusal names the bound), so the schema and the check cannot differ
    in what they say."""
    extra: dict[str, Any] = {}
    if bounds is not None:
        extra["minimum"], extra["maximum"] = _number(bounds.lo), _number(bounds.hi)
    if enum is not None:
        extra["enum"] = list(enum)
    if max_length is not None:
        extra["maxLength"] = max_length
    if max_items is not None:
        extra["maxItems"] = max_items
    if items is not None:
        extra["items"] = {"type": "integer", "minimum": _number(items.lo),
                          "maximum": _number(items.hi)}  # fmt: skip

    def schema(out: dict[str, Any]) -> None:
        if extra.get("enum") and "anyOf" in out:  # `str | None`: one of the choices, or absent
            del out["anyOf"]
            out["type"] = "string"
        out.update(extra)

    return Field(description=description, json_schema_extra=schema)


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


LeasePath = Annotated[str, arg("A file, a directory (trailing /) or a glob, relative to the "
                           "repository root (or absolute inside it).",
                           max_length=MAX_PATH_INPUT)]  # fmt: skip
TaskId = Annotated[int, arg("A task id.", bounds=ID)]


_TOOLS: dict[tuple[Any, ...], Tool] = {}
"""Tool descriptions by what they are built from (:meth:`CoordServer.add_tool`)."""


class CoordServer(FastMCP[Any]):
    """FastMCP with our boundary: stdio framed by :func:`~codeswarm.mcp.wire.stdio_transport`
    (JSON-RPC error codes for what is not a message), an unknown tool answered with -32602
    (MCP: a protocol error), and every tool error's text starting with its kind (FastMCP would
    put "Error executing tool NAME: " first, and a multi-line pydantic report for arguments
    that do not fit the schema)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mcp_server.version = __version__  # serverInfo: codeswarm's, not the SDK's
        handlers = self._mcp_server.request_handlers
        answer = handlers[types.CallToolRequest]

        async def call_tool_request(req: types.CallToolRequest) -> types.ServerResult:
            if req.params.name not in {tool.name for tool in await self.list_tools()}:
                raise McpError(
                    types.ErrorData(
                        code=types.INVALID_PARAMS, message=f"Unknown tool: {req.params.name[:100]}"
                    )
                )
            return await answer(req)

        handlers[types.CallToolRequest] = call_tool_request

    def add_tool(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[types.Icon] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
    ) -> None:
        """As FastMCP's, with the tool's description (its argument model and JSON schema: ≈ 1 ms
        of pydantic each) built once per process for every server whose tool is the same
        function (the same code, defaults and options: each agent's server in the hub has
        its own closures of the same tools) and shared; only the function differs."""
        key = (fn.__code__, repr(fn.__defaults__), repr(fn.__kwdefaults__), name, title,
               description, repr(annotations), repr(icons), repr(meta), structured_output)  # fmt: skip
        template = _TOOLS.get(key)
        if template is None:
            template = _TOOLS[key] = Tool.from_function(
                fn, name=name, title=title, description=description, annotations=annotations,
                icons=icons, meta=meta, structured_output=structured_output,
            )  # fmt: skip
        tools = self._tool_manager._tools
        if template.name not in tools:  # FastMCP keeps the first of a name, as here
            tools[template.name] = template.model_copy(update={"fn": fn})

    async def list_tools(self) -> list[types.Tool]:
        tools = await super().list_tools()
        for tool in tools:  # an argument a tool does not take is refused: say so in its schema
            tool.inputSchema = {**tool.inputSchema, "additionalProperties": False}
        return tools

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            known = tool.parameters.get("properties") or {}
            unknown = [key for key in arguments if key not in known]
            if unknown:
                takes = ", ".join(known) or "no arguments"
                raise ToolError(
                    f"bad input: {name} takes no argument {_one_line(unknown[0])[:100]!r}"
                    f" (it takes: {takes})"
                )
        try:
            return await super().call_tool(name, arguments)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ToolError):  # ours, already "kind: reason"
                raise cause from None
            if isinstance(cause, ValidationError):  # the arguments; the tool did not run
                raise ToolError(f"bad input: {_arguments(cause)}") from None
            raise ToolError(f"error: {_one_line(str(cause or exc))}") from None

    async def run_stdio_async(self) -> None:
        async with stdio_transport() as (read_stream, write_stream):
            await self._mcp_server.run(
                read_stream, write_stream, self._mcp_server.create_initialization_options()
            )


def _arguments(exc: ValidationError) -> str:
    """A pydantic report on a tool's arguments, in one line: ``ttl: Input should be ...``."""
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(x) for x in err["loc"]) or "arguments"
        given = "" if err["type"] == "missing" else f", not {_shown(err.get('input'))}"
        parts.append(f"{where}: {err['msg']}{given}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:1000]


def _shown(value: Any) -> str:
    """A wrong value, short: the model sees what it sent."""
    text = repr(value)
    return _one_line(text if len(text) <= 40 else text[:37] + "...")


def _lease(lease: Lease) -> dict[str, Any]:
    out: dict[str, Any] = {"path": lease.path, "mode": lease.mode, "token": lease.token}
    if lease.holder:
        out["holder"] = lease.holder
    if lease.note:
        out["note"] = lease.note
    if lease.expires_at is not None:
        out["expires_at"] = round(lease.expires_at, 3)
    return out


def _task(task: Task, cap: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": task.id,
        "title": task.title,
        "status": task.status,
        "priority": task.priority,
        "version": task.version,
    }
    for key in ("assignee", "description", "files", "depends_on", "result"):
        value = getattr(task, key)
        if value:
            out[key] = cut(value, cap) if cap is not None and isinstance(value, str) else value
    if task.type != "task":
        out["type"] = task.type
    return out


def _message(m: Message, cap: int | None = None) -> dict[str, Any]:
    text = m.text if cap is None else cut(m.text, cap)
    out: dict[str, Any] = {"id": m.id, "from": m.sender, "text": text}
    if m.to == "*":
        out["broadcast"] = True
    if m.reply_to is not None:
        out["reply_to"] = m.reply_to
    return out


class CoordTools:
    """The tool implementations, bound to one store and one identity."""

    def __init__(self, coord: Coord, identity: Identity) -> None:
        self.coord = coord
        self.me = identity

    async def call(self, fn: Callable[[], T], *, as_agent: bool = True) -> T:
        """Run ``fn`` in a worker thread; translate codeswarm errors into one-line tool errors.
        An identity that was fenced while idle (not pinned) registers afresh once."""
        try:
            return await asyncio.to_thread(fn)
        except FencedError as exc:
            if as_agent and self.me.pinned is None:
                await asyncio.to_thread(self.me.renew)
                try:
                    return await asyncio.to_thread(fn)
                except CodeswarmError as again:
                    raise _tool_error(again) from again
            raise _tool_error(exc) from exc
        except CodeswarmError as exc:
            raise _tool_error(exc) from exc


def _tool_error(exc: CodeswarmError) -> ToolError:
    if isinstance(exc, FencedError):
        kind = "fenced"
    elif isinstance(exc, ConflictError):
        kind = "conflict"
    elif isinstance(exc, UsageError):
        kind = "bad input"
    else:
        kind = "error"
    return ToolError(f"{kind}: {exc}")


def build_server(
    coord: Coord,
    identity: Identity,
    *,
    heartbeat: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> CoordServer:
    """The FastMCP server with every tool registered (``submit`` too for an agent in a
    worktree swarm: ``CODESWARM_ISOLATION=worktree`` and ``CODESWARM_WORKTREE`` in ``env``).
    ``cwd``: where the agent's relative paths start (default: this process's, which Codex
    starts in the agent's directory); the hub (:mod:`codeswarm.mcp.hub`) passes each agent's.
    What it offers is decided by :func:`shape_of` alone."""
    env = os.environ if env is None else env
    shape = shape_of(identity, env)
    tools = CoordTools(coord, identity)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastMCP[Any]) -> AsyncIterator[None]:
        task = asyncio.create_task(_keep_alive(identity)) if heartbeat else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    orchestrating = shape.orchestrator
    instructions = INSTRUCTIONS
    if orchestrating:  # its tools: only for the agent with that role (mcp/orchestrator.py)
        from codeswarm.mcp import gateway, orchestrator

        # a person's session as the orchestrator (gateway mode): nothing wakes it, it waits
        instructions += gateway.INSTRUCTIONS if shape.personal else orchestrator.INSTRUCTIONS
    mcp = CoordServer(SERVER_NAME, instructions=instructions, lifespan=lifespan)
    cwd = cwd or os.getcwd()

    def task_out(t: Task) -> dict[str, Any]:
        """A task as a tool returns it; for the orchestrator, agents' words (a result, a
        description) cut to the swarm's ``report_chars``: its context is the scarcest."""
        return _task(t, coord.limits.report if orchestrating else None)

    def message_out(m: Message) -> dict[str, Any]:
        return _message(m, coord.limits.report if orchestrating else None)

    @mcp.tool(annotations=READ_ONLY, structured_output=True)
    async def swarm_status() -> dict[str, Any]:
        """Who you are, who else is here, the leases, your tasks, open tasks, unread messages."""

        def run() -> dict[str, Any]:
            me = identity.id
            name = agent_name(me)
            leases = coord.leases()
            open_tasks = coord.tasks(status="open")
            return {
                "me": me,
                "agents": [
                    {"id": a.id, "role": a.role} if a.role else {"id": a.id} for a in coord.agents()
                ],
                "leases": [_lease(x) for x in leases],
                "my_tasks": [
                    task_out(t)
                    for t in coord.tasks(status=["claimed", "in_progress"], assignee=name)
                ],
                "open_tasks": [task_out(t) for t in open_tasks[:10]],
                "open_task_count": len(open_tasks),
                "unread_messages": len(coord.inbox(me)),
            }

        return await tools.call(run)

    @mcp.tool(annotations=WRITES, structured_output=True)
    async def lease(
        path: LeasePath,
        shared: Annotated[
            bool,
            arg("Shared (readers) instead of exclusive: shared leases do not exclude each other."),
        ] = False,
        ttl: Annotated[
            float | None,
            arg("Seconds the lease lasts unless renewed (absent: while you live).", bounds=TTL),
        ] = None,
        note: Annotated[
            str, arg("Why you hold it, for the others (one line).", max_length=SHORT)
        ] = "",
        wait: Annotated[
            float, arg("Seconds to wait for a held lease to be released.", bounds=MCP_WAIT)
        ] = 0,
    ) -> dict[str, Any]:
        """Lease a file, a directory (trailing /) or a glob before changing it. Exclusive unless
        shared. Fails with "conflict:" naming the holder when another agent holds it; `wait`
        seconds (max 60) to wait for it; `ttl` seconds (1 to 604800) it lasts unless renewed.
        Taking it again renews it."""
        return _lease(
            await tools.call(
                lambda: coord.lease(
                    identity.id, path, shared=shared, ttl=ttl, note=note, cwd=cwd,
                    wait=MCP_WAIT.check("wait", wait),
                )
            )
        )  # fmt: skip

    @mcp.tool(annotations=WRITES, structured_output=True)
    async def release(
        path: Annotated[str, arg("The path exactly as leased.", max_length=MAX_PATH_INPUT)] = "",
        all: Annotated[bool, arg("Release every lease you hold.")] = False,
    ) -> dict[str, Any]:
        """Release your lease on `path` (exactly as leased), or every lease with all=true."""
        if all:
            gone = await tools.call(lambda: coord.release_all(identity.id))
        elif path:
            gone = [await tools.call(lambda: coord.release(identity.id, path, cwd=cwd))]
        else:
            raise ToolError("bad input: give a path, or all=true")
        return {"released": [x.path for x in gone]}

    @mcp.tool(annotations=READ_ONLY, structured_output=True)
    async def leases(
        path: Annotated[
            str, arg("Only leases overlapping this path (absent: all).", max_length=MAX_PATH_INPUT)
        ] = "",
    ) -> dict[str, Any]:
        """The live leases (only those overlapping `path` when given)."""
        found = await tools.call(lambda: coord.leases(path=path or None, cwd=cwd), as_agent=False)
        return {"leases": [_lease(x) for x in found]}

    @mcp.tool(annotations=WRITES, structured_output=True)
    async def task_add(
        title: Annotated[str, arg("What to do, one line.", max_length=SHORT)],
        description: Annotated[str, arg("The details.", max_length=LONG)] = "",
        files: Annotated[list[str] | None, arg("The files it touches.", max_items=MAX_IDS)] = None,
        priority: Annotated[int, arg("Higher is taken first by task_claim.", bounds=PRIORITY)] = 0,
        depends_on: Annotated[
            list[int] | None,
            arg("Ids of tasks that must be done first.", max_items=MAX_IDS, items=ID),
        ] = None,
        type: Annotated[
            str, arg("A kind of task (free text: task, review, ...).", max_length=SHORT)
        ] = "task",
        key: Annotated[
            str | None,
            arg("An idempotency key: the same key gives the same task.", max_length=SHORT),
        ] = None,
    ) -> dict[str, Any]:
        """Add a task (blocked until `depends_on` are done). `key` makes it idempotent."""
        task = await tools.call(
            lambda: coord.add_task(
                title, description=description, files=files or [], priority=priority,
                depends_on=depends_on or [], type=type, key=key, by=identity.id, cwd=cwd,
            )
        )  # fmt: skip
        return task_out(task)

    @mcp.tool(annotations=WRITES, structured_output=True)
    async def task_claim(
        id: Annotated[
            int | None, arg("The task to claim (absent: the best open one).", bounds=ID)
        ] = None,
        type: Annotated[
            str | None, arg("Without id: only tasks of this type.", max_length=SHORT)
        ] = None,
    ) -> dict[str, Any]:
        """Claim task `id`, or (without id) the best open task (of `type`). Returns
        {"task": null} when nothing is open; "conflict:" when someone else has it."""
        if id is not None:
            task: Task | None = await tools.call(lambda: coord.claim(identity.id, id))
        else:
            task = await tools.call(lambda: coord.claim_next(identity.id, type=type))
        return {"task": None if task is None else task_out(task)}

    @mcp.tool(annotations=WRITES, structured_output=True)
    async def task_update(
        id: TaskId,
        status: Annotated[
            str | None,
            arg("The task's new status (absent: only a progress note).", enum=UPDATE_STATUSES),
        ] = None,
        note: Annotated[str, arg("A progress note.", max_length=LONG)] = "",
        result: Annotated[
            str, arg("With done: what was done; with failed or cancelled: why.", max_length=LONG)
        ] = "",
        files_changed: Annotated[
            list[str] | None, arg("With done: the files you changed.", max_items=MAX_IDS)
        ] = None,
        tests_run: Annotated[
            list[str] | None, arg("With done: the tests you ran.", max_items=MAX_IDS)
        ] = None,
    ) -> dict[str, Any]:
        """Report on a task you hold. status: "in_progress", "done" (with result,
        files_changed, tests_run), "failed" (result = why), "open" (give it back) or
        "cancelled"; or only a progress `note`."""

        def run() -> Task:
            me = identity.id
            if note:
                coord.progress(me, id, note)
            if status == "in_progress":
                return coord.start(me, id)
            if status == "done":
                return coord.complete(
                    me, id, result=result, files_changed=files_changed or [],
                    tests_run=tests_run or [], cwd=cwd,
                )  # fmt: skip
            if status == "failed":
                return coord.fail(me, id, reason=result)
            if status == "open":
                return coord.unclaim(me, id)
            if status == "cancelled":
                return coord.cancel(id, by=me, reason=result)
            if status:
                raise UsageError(
                    f"unknown status {status!r} (in_progress, done, failed, open, cancelled)"
                )
            if not note:
                raise UsageError("give a status or a note")
            return coord.task(id)

        return task_out(await tools.call(run))

    @mcp.tool(annotations=READ_ONLY, structured_output=True)
    async def tasks(
        status: Annotated[
            str | None, arg("Only tasks in this status (absent: all).", enum=TASK_STATUSES)
        ] = None,
        mine: Annotated[bool, arg("Only the tasks you hold.")] = False,
    ) -> dict[str, Any]:
        """Tasks (filtered by status: open, claimed, in_progress, blocked, done, failed,
        cancelled; mine=true: the ones you hold)."""

        def run() -> list[Task]:
            who = identity.id if mine else None
            return coord.tasks(status=status or None, assignee=who)

        return {"tasks": [task_out(t) for t in await tools.call(run, as_agent=mine)]}

    @mcp.tool(annotations=WRITES, structured_output=True)
    async def send(
        to: Annotated[str, arg('An agent\'s name, or "*" for everyone.', max_length=SHORT)],
        text: Annotated[str, arg("The message.", max_length=LONG)],
        reply_to: Annotated[
            int | None, arg("The id of the message this answers.", bounds=ID)
        ] = None,
    ) -> dict[str, Any]:
        """Send a message to an agent (by name), or to everyone with to="*"."""
        msg = await tools.call(lambda: coord.send(to, text, sender=identity.id, reply_to=reply_to))
        return {"id": msg.id, "to": msg.to}

    @mcp.tool(annotations=READ_ONLY, structured_output=True)
    async def inbox(
        wait: Annotated[
            float, arg("Seconds to wait for a message when there is none.", bounds=MCP_WAIT)
        ] = 0,
        limit: Annotated[int, arg("At most this many messages.", bounds=INBOX_LIMIT)] = 20,
    ) -> dict[str, Any]:
        """Your unacknowledged messages, oldest first; they come back until you `ack` them.
        `wait` seconds (max 60) to wait for one; at most `limit` (1 to 1000)."""
        found = await tools.call(
            lambda: coord.inbox(identity.id, limit=limit, wait=MCP_WAIT.check("wait", wait))
        )
        return {"messages": [message_out(m) for m in found]}

    @mcp.tool(annotations=WRITES, structured_output=True)
    async def ack(
        ids: Annotated[
            list[int], arg("The ids of the messages handled.", max_items=MAX_IDS, items=ID)
        ],
    ) -> dict[str, Any]:
        """Acknowledge messages you have handled (they stop coming back)."""
        return {"acked": await tools.call(lambda: coord.ack(identity.id, ids))}

    @mcp.tool(annotations=READ_ONLY, structured_output=True)
    async def kv_get(
        key: Annotated[str, arg("The key (one line).", max_length=SHORT)],
    ) -> dict[str, Any]:
        """A shared value and its version (version 0: no such key)."""
        entry = await tools.call(lambda: coord.kv_get(key), as_agent=False)
        if entry is None:
            return {"key": key, "value": None, "version": 0}
        return {"key": key, "value": entry.value, "version": entry.version}

    @mcp.tool(annotations=WRITES, structured_output=True)
    async def kv_set(
        key: Annotated[str, arg("The key (one line).", max_length=SHORT)],
        value: Annotated[str, arg("The value.", max_length=LONG)],
        expect_version: Annotated[
            int | None,
            arg(
                "Set only if the key is still at this version (0: must not exist).", bounds=VERSION
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Set a shared value; with expect_version (0: must not exist) only if it is still at
        that version ("conflict:" otherwise)."""
        entry = await tools.call(
            lambda: coord.kv_set(key, value, by=identity.id, expect_version=expect_version)
        )
        return {"key": key, "version": entry.version}

    if shape.submit:
        _register_submit(mcp, tools, identity, env["CODESWARM_WORKTREE"])
    if orchestrating:
        orchestrator.register(mcp, tools, coord, identity, cwd=cwd)
    return mcp


def _register_submit(
    mcp: CoordServer, tools: CoordTools, identity: Identity, worktree: str
) -> None:
    """The merge queue's ``submit`` (docs/isolation.md): the agent's worktree is
    ``<run>/worktrees/<agent>``, so its run directory is two levels up."""

    @mcp.tool(annotations=WRITES, structured_output=True)
    async def submit(
        summary: Annotated[
            str,
            arg(
                "What your change does, one line or a short paragraph (the commit message "
                "of your uncommitted work).",
                max_length=4000,
            ),
        ],
    ) -> dict[str, Any]:
        """Submit your branch to the merge queue when your work is done: your uncommitted work
        is committed first (the summary as its message), then the queue merges your branch
        into the target, runs the project's check, and tells you by message if it was
        rejected (conflicting files, or the check's output): then fix and submit again.
        Returns {"queued": id, "position": n}."""
        from pathlib import Path

        from codeswarm.control.merge.submit import submit as do_submit
        from codeswarm.core.swarm import RunDir

        def run() -> dict[str, Any]:
            tree = Path(worktree)
            run_dir = RunDir(tree.parent.parent)
            return do_submit(run_dir, run_dir.load_spec(), identity.name, summary).as_json()

        return await tools.call(run, as_agent=False)


async def _keep_alive(identity: Identity) -> None:
    """Heartbeat while this server runs (Codex stops it when the thread ends): the agent lives
    exactly as long as its Codex thread, without the model having to think about it."""
    interval = max(0.5, identity.lease_s / 3)
    while True:
        await asyncio.sleep(interval)
        agent = identity.known
        if agent is None:
            continue
        with contextlib.suppress(CodeswarmError):
            await asyncio.to_thread(identity.coord.heartbeat, agent)


def serve(env: Mapping[str, str] | None = None) -> None:
    """Run the server on stdio until the client closes it."""
    import sys

    env = os.environ if env is None else env
    worktree = env.get("CODESWARM_WORKTREE") or None  # docs/isolation.md
    scope = env.get("CODESWARM_SCOPE") or None
    store = StoreLater(
        env.get("CODESWARM_DB") or None, worktree or scope, scope if worktree else None
    )
    try:
        store.get()
    except CodeswarmError as exc:
        print(f"codeswarm mcp: {exc} (serving anyway: each tool call says so)", file=sys.stderr)
    coord = cast(Coord, store)
    try:
        build_server(coord, Identity(coord, env), env=env).run("stdio")
    finally:
        store.close()


def run() -> int:
    """:func:`serve` under the one exit-code policy (:func:`codeswarm.core.errors.run_guarded`):
    ``python -m codeswarm.mcp`` and ``codeswarm mcp``."""

    def serve_until_closed() -> int:
        serve()
        return 0

    return run_guarded(serve_until_closed)
