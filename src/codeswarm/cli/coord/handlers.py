"""What each ``codeswarm coord`` command does: its handler and its entry in :data:`COMMANDS`
(positionals, options, help), and finding the command a line names (:func:`lookup`).

A handler gets the parsed :class:`~.parser.Call` with the store open and returns the result
(a record, a list of them, a dict, or None); :mod:`.render` prints it.
"""

from __future__ import annotations

import os

from codeswarm.cli.coord.parser import Call, Command
from codeswarm.coordination.models import record_id
from codeswarm.core.errors import ConflictError, NotFoundError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _register(c: Call) -> Any:
    from codeswarm.coordination import DEFAULT_LEASE_S

    return c.coord.register(
        c["name"],
        role=c["role"] or "",
        label=c["label"] or "",
        pid=c["pid"],
        lease_s=c["lease_s"] if c["lease_s"] is not None else DEFAULT_LEASE_S,
    )


def _lease(c: Call) -> Any:
    return c.coord.lease(
        c.agent,
        c["path"],
        shared=c["shared"],
        ttl=c["ttl"],
        note=c["note"] or "",
        cwd=os.getcwd(),
        wait=c["wait"] or 0.0,
    )


def _release(c: Call) -> Any:
    if c["all"]:
        if c["path"] is not None:
            raise UsageError("release: give a PATH or --all, not both")
        return c.coord.release_all(c.agent)
    if c["path"] is None:
        raise UsageError("release: missing PATH (or --all)")
    return c.coord.release(c.agent, c["path"], cwd=os.getcwd())


def _check(c: Call) -> Any:
    found = c.coord.conflicts(c["path"], agent=c.maybe_agent, shared=c["shared"], cwd=os.getcwd())
    if found and not c.as_json:
        lease = found[0]
        raise ConflictError(f"{c['path']}: held ({lease.mode}) by {lease.holder} as {lease.path}")
    return found


def _leases(c: Call) -> Any:
    holder = c.agent if c["mine"] else None
    return c.coord.leases(holder=holder, path=c["path"], cwd=os.getcwd())


def _task_add(c: Call) -> Any:
    return c.coord.add_task(
        c["title"],
        type=c["type"] or "task",
        description=c["description"] or "",
        files=c["file"],
        priority=c["priority"] or 0,
        depends_on=c["depends_on"],
        key=c["key"],
        parent=c["parent"],
        if_dep_fails=c["if_dep_fails"] or "cancel",
        by=c.maybe_agent,
        cwd=os.getcwd(),
    )


def _task_done(c: Call) -> Any:
    return c.coord.complete(
        c.agent,
        c["id"],
        result=c["result"] or "",
        files_changed=c["changed"],
        tests_run=c["tests"],
        cwd=os.getcwd(),
    )


def _task_show(c: Call) -> Any:
    task = c.coord.task(c["id"])
    notes = c.coord.task_notes(task.id)
    out = task.to_dict()
    out["notes"] = [n.to_dict() for n in notes]
    return out


def _tasks(c: Call) -> Any:
    return c.coord.tasks(
        status=c["status"] or None, assignee=c.agent if c["mine"] else None, type=c["type"]
    )


def _kv_get(c: Call) -> Any:
    entry = c.coord.kv_get(c["key"])
    if entry is None:
        raise NotFoundError(f"no kv key {c['key']!r}")
    return entry


def _kv_cas(c: Call) -> Any:
    try:
        expected = int(c["expected_version"])
    except ValueError:
        raise UsageError(
            f"kv cas: EXPECTED_VERSION must be a number, not {c['expected_version']!r}"
        ) from None
    return c.coord.kv_set(c["key"], c["value"], by=c.maybe_agent, expect_version=expected)


def _kv_del(c: Call) -> Any:
    c.coord.kv_delete(c["key"], by=c.maybe_agent, expect_version=c["expect_version"])
    return {"deleted": c["key"]}


def _events(c: Call) -> Any:
    since = c["since"] or 0
    filters = {"agent": c["agent"], "kind": c["kind"], "limit": c["limit"] or 1000}
    if c["wait"]:
        return c.coord.wait(since=since, timeout=c["wait"], **filters)
    return c.coord.events(since=since, **filters)


_TASK_ID = ("id",)
COMMANDS: dict[str, Command] = {
    cmd.name: cmd
    for cmd in [
        Command("register", _register, ("name",),
                {"--role": "str", "--label": "str", "--pid": "int", "--lease-s": "float"},
                "Register NAME (a new generation if it exists) and print its id NAME#GENERATION."),
        Command("heartbeat", lambda c: c.coord.heartbeat(c.agent), (), {},
                "Keep the agent alive for another lease period."),
        Command("deregister", lambda c: c.coord.deregister(c.agent), (), {},
                "End the agent: release its leases, reopen its tasks."),
        Command("agents", lambda c: c.coord.agents(all=c["all"]), (), {"--all": "flag"},
                "The live agents (--all: also expired and deregistered ones)."),
        Command("lease", _lease, ("path",),
                {"--shared": "flag", "--ttl": "float", "--note": "str", "--wait": "float"},
                "Lease a file, a directory (trailing /) or a glob. Exit 3 when another agent "
                "holds an overlapping lease (after waiting up to --wait seconds)."),
        Command("release", _release, ("path?",), {"--all": "flag"}, "Release a lease."),
        Command("renew", lambda c: c.coord.renew(c.agent, c["path"], cwd=os.getcwd()), ("path?",),
                {}, "Extend the TTL of a lease (default: all of the agent's leases)."),
        Command("leases", _leases, (), {"--mine": "flag", "--path": "str"},
                "The live leases (--path: only those overlapping PATH)."),
        Command("check", _check, ("path",), {"--shared": "flag"},
                "Exit 3 if a lease on PATH would conflict with another agent's lease."),
        Command("task add", _task_add, ("title",),
                {"--type": "str", "--description": "str", "--file": "list", "--priority": "int",
                 "--depends-on": "list", "--key": "str", "--parent": "int",
                 "--if-dep-fails": "str"},
                "Add a task; --key makes it idempotent; --depends-on ID may repeat."),
        Command("task claim", lambda c: c.coord.claim(c.agent, c["id"], version=c["version"]),
                _TASK_ID, {"--version": "int"},
                "Claim an open task (exit 3 if someone else has it or its version moved)."),
        Command("task claim-next", lambda c: c.coord.claim_next(c.agent, type=c["type"]), (),
                {"--type": "str"}, "Claim the best open task; prints nothing when none is open."),
        Command("task start", lambda c: c.coord.start(c.agent, c["id"]), _TASK_ID, {},
                "Mark a claimed task in progress."),
        Command("task progress", lambda c: c.coord.progress(c.agent, c["id"], c["note"]),
                ("id", "note"), {}, "Add a progress note."),
        Command("task done", _task_done, _TASK_ID,
                {"--result": "str", "--changed": "list", "--tests": "list"},
                "Complete a task (--changed FILE and --tests CMD may repeat)."),
        Command("task fail", lambda c: c.coord.fail(c.agent, c["id"], reason=c["reason"] or ""),
                _TASK_ID, {"--reason": "str"}, "Fail a task; its dependents are cancelled."),
        Command("task cancel",
                lambda c: c.coord.cancel(c["id"], by=c.maybe_agent, reason=c["reason"] or ""),
                _TASK_ID, {"--reason": "str"}, "Cancel a task that has not ended."),
        Command("task unclaim", lambda c: c.coord.unclaim(c.agent, c["id"]), _TASK_ID, {},
                "Give a task back (open again)."),
        Command("task depend",
                lambda c: c.coord.add_dependencies(c["id"], [record_id("task", v) for v in c["on"]], by=c.maybe_agent),
                ("id", "on..."), {}, "Make a task also wait for others (cycles are refused)."),
        Command("task show", _task_show, _TASK_ID, {}, "One task and its progress notes."),
        Command("tasks", _tasks, (), {"--status": "list", "--mine": "flag", "--type": "str"},
                "The tasks of the scope (--status may repeat)."),
        Command("kv get", _kv_get, ("key",), {}, "Print a value (exit 2 if there is none)."),
        Command("kv set",
                lambda c: c.coord.kv_set(c["key"], c["value"], by=c.maybe_agent,
                                         expect_version=c["expect_version"]),
                ("key", "value"), {"--expect-version": "int"}, "Write a value."),
        Command("kv cas", _kv_cas, ("key", "expected_version", "value"), {},
                "Write only if the key is at EXPECTED_VERSION (0: absent); exit 3 otherwise."),
        Command("kv del", _kv_del, ("key",), {"--expect-version": "int"}, "Delete a key."),
        Command("kv ls", lambda c: c.coord.kv_list(c["prefix"] or ""), ("prefix?",), {},
                "Entries whose key starts with PREFIX."),
        Command("send",
                lambda c: c.coord.send(c["to"], c["text"], sender=c.maybe_agent,
                                       reply_to=c["reply_to"]),
                ("to", "text"), {"--reply-to": "int"},
                "Send TEXT to an agent name, or to every agent with '*'."),
        Command("inbox", lambda c: c.coord.inbox(c.agent, limit=c["limit"] or 100,
                                                 wait=c["wait"] or 0.0),
                (), {"--wait": "float", "--limit": "int"},
                "Unacknowledged messages (they come back until acked)."),
        Command("ack", lambda c: {"acked": c.coord.ack(c.agent, [record_id("message", v) for v in c["ids"]])}, ("ids...",), {},
                "Acknowledge messages."),
        Command("events", _events, (),
                {"--since": "int", "--agent": "str", "--kind": "str", "--limit": "int",
                 "--wait": "float"},
                "The audit log (--kind lease. for a family; --wait blocks for news)."),
    ]
}  # fmt: skip
GROUPS = {"task", "kv"}


def lookup(words: list[str]) -> tuple[Command, list[str]]:
    """The command ``words`` names (one word, or two for a group: ``task add``) and its own
    arguments after the name."""
    name = words[0]
    rest = words[1:]
    if name in GROUPS and rest and not rest[0].startswith("-"):
        name = f"{name} {rest[0]}"
        rest = rest[1:]
    command = COMMANDS.get(name)
    if command is None:
        hint = " (task add|claim|...; kv get|set|...)" if name in GROUPS else ""
        raise UsageError(f"unknown command {' '.join(words[:2]) if name in GROUPS else name!r}"
                         f"{hint}; see 'codeswarm coord --help'")  # fmt: skip
    return command, rest
