"""The orchestrator's tools: delegate work to the swarm's agents and hear back by push.

Registered by :func:`codeswarm.mcp.server.build_server` only for the agent whose role is
``orchestrator`` (``CODESWARM_AGENT_ROLE``). Each tool is a thin layer over the store's
delegation (:mod:`codeswarm.coordination.delegation`): a delegated task's worker is woken by a
message with its instructions as soon as its dependencies are done, and every end of a task
(done, failed, cancelled, needs_review) comes back to the orchestrator as a message that wakes
it, so it never polls. Results are compact (no empty fields, agents' words cut to the store's
report size): the orchestrator's context is the scarcest thing in the swarm.
"""

from __future__ import annotations

import json
import os
import time
from typing import Annotated, Any

from mcp.server.fastmcp.exceptions import ToolError

from codeswarm.coordination import Coord, Task
from codeswarm.coordination.bounds import BUDGET, ID, MAX_IDS, MAX_PATH_INPUT, REPLY_WAIT
from codeswarm.coordination.messages import cut
from codeswarm.coordination.models import (
    BUSY,
    HELD,
    NEEDS_REVIEW,
    ORCHESTRATOR,
    TERMINAL,
    VERDICTS,
    agent_name,
)
from codeswarm.core.errors import CoordInputError
from codeswarm.mcp.identity import Identity
from codeswarm.mcp.server import LONG, READ_ONLY, SHORT, WRITES, CoordServer, CoordTools, arg

ROLE = ORCHESTRATOR
FINISHED_KEY = "run/finished"
"""The kv key ``finish`` writes (with the audit event ``run.finished``)."""
ENDED = frozenset({*TERMINAL, NEEDS_REVIEW})
"""A task's statuses that ``check`` with ``wait`` waits for (its end is reported then)."""
USAGE_PREFIX = "usage/"
"""Where each worker publishes its usage: kv ``usage/<agent>``, JSON (see docs/coordination.md)."""
INSTRUCTIONS = (
    " You are the orchestrator: `delegate` tasks (with `depends_on` for order), and wait: every "
    "task's end comes to you as a message that starts your next turn (never poll). `converse` "
    "asks an agent and returns its answer; `check` and `list` show state; `end` gives a task a "
    "verdict and frees its agent; `finish` ends the run."
)

AgentName = Annotated[str, arg("An agent's name (as `list` shows it).", max_length=SHORT)]


def register(
    mcp: CoordServer, tools: CoordTools, coord: Coord, identity: Identity, cwd: str | None = None
) -> None:
    """Add the orchestrator's tools to ``mcp`` (``cwd``: where relative paths start)."""
    cwd = cwd or os.getcwd()

    def me() -> str:
        return identity.id

    @mcp.tool(annotations=WRITES, structured_output=True)
    async def delegate(
        title: Annotated[str, arg("What to do, one line.", max_length=SHORT)],
        instructions: Annotated[str, arg("The instructions the agent gets.", max_length=LONG)],
        files: Annotated[
            list[str] | None,
            arg("The files it may change (paths relative to the repository).", max_items=MAX_IDS),
        ] = None,
        agent: Annotated[
            str | None, arg("Who does it (absent: the next idle agent).", max_length=SHORT)
        ] = None,
        depends_on: Annotated[
            list[int] | None,
            arg("Tasks that must be done before it starts.", max_items=MAX_IDS, items=ID),
        ] = None,
        budget_tokens: Annotated[
            int | None, arg("The most tokens (input + output) it may spend.", bounds=BUDGET)
        ] = None,
    ) -> dict[str, Any]:
        """Delegate a task to `agent` or the next idle agent. It starts (the agent gets the
        instructions) as soon as every task in `depends_on` is done. Returns {task, agent,
        state: started|waiting|unassigned}; its end comes to you as a message."""
        for path in files or []:
            if len(path) > MAX_PATH_INPUT:
                raise ToolError(f"bad input: a path of {len(path)} characters")
        task, state = await tools.call(
            lambda: coord.delegate(
                me(), title, instructions, agent=agent, files=files or [],
                depends_on=depends_on or [], budget_tokens=budget_tokens, cwd=cwd,
            )
        )  # fmt: skip
        return _compact(
            {"task": task.id, "agent": _name(task.assignee), "state": state,
             "depends_on": task.depends_on}
        )  # fmt: skip

    @mcp.tool(annotations=WRITES, structured_output=True)
    async def converse(
        agent: AgentName,
        message: Annotated[str, arg("What to say or ask.", max_length=LONG)],
        wait: Annotated[
            bool, arg("Wait for the agent's answer (its turn's final message).")
        ] = True,
        timeout: Annotated[  # noqa: ASYNC109 (the store's wait for the reply, in a thread)
            float, arg("Seconds to wait for the answer.", bounds=REPLY_WAIT)
        ] = 600,
    ) -> dict[str, Any]:
        """Send `agent` a message; its final message of the turn this starts is the answer.
        With wait (the default) returns {agent, reply}; without, the answer comes to you as a
        message later. {timed_out: true}: it did not answer in time (it comes later)."""
        name = _agent_arg(agent)
        timeout = REPLY_WAIT.check("timeout", timeout)

        def ask() -> dict[str, Any]:
            if name == agent_name(me()):
                raise ToolError("bad input: converse with another agent, not yourself")
            sent = coord.send(
                name, message, sender=me(), expects_reply=True, awaited=wait
            )  # fmt: skip
            if not wait:
                return {"agent": name, "message": sent.id, "state": "sent"}
            reply = coord.wait_reply(me(), sent.id, timeout)
            if reply is None:
                return {"agent": name, "message": sent.id, "timed_out": True}
            return {"agent": name, "reply": reply.text}

        return await tools.call(ask)

    @mcp.tool(annotations=READ_ONLY, structured_output=True)
    async def check(
        agent: Annotated[
            str | None, arg("An agent's name (give this or task).", max_length=SHORT)
        ] = None,
        task: Annotated[int | None, arg("A task id (give this or agent).", bounds=ID)] = None,
        wait: Annotated[
            float,
            arg(
                "With task: seconds to wait for it to end (done, failed, cancelled or "
                "needs_review) before answering.",
                bounds=REPLY_WAIT,
            ),
        ] = 0,
    ) -> dict[str, Any]:
        """One agent's state (its tasks, leases, usage, last message) or one task's (status,
        agent, result, files changed, tokens), compact. With task and `wait`, answers once the
        task has ended ({timed_out: true}: it had not, in time)."""
        if (agent is None) == (task is None):
            raise ToolError("bad input: give an agent or a task, one of them")
        wait = REPLY_WAIT.check("wait", wait)
        if task is not None:
            return await tools.call(lambda: _await_task(coord, task, wait), as_agent=False)
        if wait:
            raise ToolError("bad input: wait is for a task: give task, not agent")
        name = _agent_arg(agent or "")
        return await tools.call(lambda: _check_agent(coord, name), as_agent=False)

    @mcp.tool(annotations=WRITES, structured_output=True)
    async def end(
        verdict: Annotated[
            str, arg("accepted: the task is done; rejected: it failed.", enum=VERDICTS)
        ],
        agent: Annotated[
            str | None, arg("End this agent's tasks (give this or task).", max_length=SHORT)
        ] = None,
        task: Annotated[int | None, arg("End this task (give this or agent).", bounds=ID)] = None,
        summary: Annotated[str, arg("Why, in a few words.", max_length=LONG)] = "",
    ) -> dict[str, Any]:
        """Give a task (or every task an agent holds) your verdict, release the agent's leases:
        the agent is idle again. Returns {tasks: [{id, status}], released: [paths]}."""
        if (agent is None) == (task is None):
            raise ToolError("bad input: give an agent or a task, one of them")

        def run() -> tuple[list[Task], list[str]]:
            if task is not None:
                ended, released = coord.end_task(task, verdict, summary, by=me())
                return [ended], released
            return coord.end_agent(_agent_arg(agent or ""), verdict, summary, by=me())

        ended, released = await tools.call(run)
        return _compact(
            {"tasks": [{"id": t.id, "status": t.status} for t in ended], "released": released}
        )

    @mcp.tool(name="list", annotations=READ_ONLY, structured_output=True)
    async def list_all() -> dict[str, Any]:
        """Every agent (state, current task, tokens) and every task (status, agent, deps)."""
        return await tools.call(lambda: _board(coord), as_agent=False)

    @mcp.tool(annotations=WRITES, structured_output=True)
    async def finish(
        summary: Annotated[
            str, arg("What was done, for the person who gave the goal.", max_length=LONG)
        ],
    ) -> dict[str, Any]:
        """End the run with a summary of the outcome."""

        def run() -> dict[str, Any]:
            who = me()
            if not summary.strip():
                raise ToolError("bad input: give a summary")
            coord.kv_set(FINISHED_KEY, json.dumps({"summary": summary, "by": who}), by=who)
            coord.report(who, "run.finished", "run", {"summary": summary})
            return {"finished": True}

        return await tools.call(run)


def _agent_arg(agent: str) -> str:
    try:
        return agent_name(agent)
    except CoordInputError as exc:
        raise ToolError(f"bad input: {exc}") from None


def _name(ref: str | None) -> str | None:
    return None if ref is None else agent_name(ref)


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without empty fields."""
    return {k: v for k, v in data.items() if v not in (None, "", [], {})}


def _usage(coord: Coord, name: str) -> dict[str, Any]:
    entry = coord.kv_get(USAGE_PREFIX + name)
    if entry is None:
        return {}
    try:
        found = json.loads(entry.value)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _check_task(coord: Coord, task_id: int) -> dict[str, Any]:
    task = coord.task(task_id)
    report = coord.limits.report
    out: dict[str, Any] = {
        "task": task.id,
        "title": task.title,
        "status": task.status,
        "agent": _name(task.assignee),
        "verdict": task.verdict,
        "result": None if task.result is None else cut(task.result, report),
        "files_changed": task.files_changed,
        "tests_run": task.tests_run,
        "depends_on": task.depends_on,
        "budget_tokens": task.budget_tokens,
    }
    if task.assignee is not None:
        spent = (_usage(coord, agent_name(task.assignee)).get("tasks") or {}).get(str(task.id))
        out["tokens"] = spent
    notes = coord.task_notes(task.id)
    if notes:
        out["last_note"] = cut(notes[-1].text, report)
    return _compact(out)


def _await_task(coord: Coord, task_id: int, wait: float) -> dict[str, Any]:
    """:func:`_check_task`, once the task has ended or ``wait`` seconds have passed (a person's
    session is woken by nothing: it waits inside its turn). Woken by the store's change feed on
    any event about the task, never by polling the tables."""
    deadline = time.monotonic() + wait
    while True:
        since = coord.last_seq()
        found = _check_task(coord, task_id)
        left = deadline - time.monotonic()
        if found["status"] in ENDED or wait <= 0:
            return found
        if left <= 0:
            return {**found, "timed_out": True}
        coord.wait(since=since, timeout=left, subject=str(task_id), limit=1)


def _check_agent(coord: Coord, name: str) -> dict[str, Any]:
    found = coord.agent(name)
    mine = [t for t in coord.tasks(assignee=name)]
    busy = [t for t in mine if t.status in BUSY]
    usage = _usage(coord, name)
    usage.pop("tasks", None)
    last = coord.last_sent(name)
    changed: list[str] = []
    for t in mine:
        changed += [f for f in t.files_changed if f not in changed]
    return _compact(
        {
            "agent": name,
            "role": found.role,
            "status": found.status,
            "state": "busy" if any(t.status in HELD for t in busy) else "idle",
            "tasks": [{"id": t.id, "status": t.status} for t in busy],
            "leases": [x.path for x in coord.leases(holder=name)],
            "usage": usage,
            "last_message": None if last is None else cut(last.text, coord.limits.report),
            "files_changed": changed[:100],
        }
    )


def _board(coord: Coord) -> dict[str, Any]:
    tasks = coord.tasks()
    held: dict[str, int] = {}
    for t in tasks:
        if t.assignee is not None and t.status in HELD:
            held[agent_name(t.assignee)] = t.id
    agents = []
    for a in coord.agents():
        usage = _usage(coord, a.name)
        agents.append(
            _compact(
                {
                    "agent": a.name,
                    "role": a.role,
                    "task": held.get(a.name),
                    "state": "busy" if a.name in held else "idle",
                    "tokens": usage.get("total"),
                }
            )
        )
    return {
        "agents": agents,
        "tasks": [
            _compact(
                {
                    "id": t.id,
                    "title": t.title[:80],
                    "status": t.status,
                    "agent": _name(t.assignee),
                    "depends_on": t.depends_on,
                }
            )
            for t in tasks
        ],
    }
