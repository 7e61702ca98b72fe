"""What each ``codeswarm coord`` command does: its handler and its entry in :data:`COMMANDS`
(positionals, options, help), and finding the command a line names (:func:`lookup`).

A handler gets the parsed :class:`~.parser.Call` with the store open and returns the result
(a record, a list of them, a dict, or None); :mod:`.render` prints it.
"""

from __future__ import annotations

from codeswarm.cli.coord.parser import (
    FLAG,
    MESSAGE_ID,
    PATH,
    PATHS,
    TASK_ID,
    TASK_IDS,
    TEXT,
    TEXTS,
    Call,
    Command,
    Kind,
)
from codeswarm.coordination import bounds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from codeswarm.cli.coord.parser import Handler


if TYPE_CHECKING:
    from codeswarm.core import errors
else:  # (loaded on the way to an error: ._errors)
    from codeswarm.coordination._errors import errors


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
    return c.leases.lease(
        c.agent,
        c["path"],
        shared=c["shared"],
        ttl=c["ttl"],
        note=c["note"] or "",
        cwd=c.cwd,
        wait=c["wait"] or 0.0,
    )


def _release(c: Call) -> Any:
    if c["all"]:
        if c["path"] is not None:
            raise errors.UsageError("release: give a PATH or --all, not both")
        return c.leases.release_all(c.agent)
    if c["path"] is None:
        raise errors.UsageError("release: missing PATH (or --all)")
    return c.leases.release(c.agent, c["path"], cwd=c.cwd)


def _check(c: Call) -> Any:
    found = c.leases.conflicts(c["path"], agent=c.maybe_agent, shared=c["shared"], cwd=c.cwd)
    if found and not c.as_json:
        lease = found[0]
        raise errors.ConflictError(
            f"{c['path']}: held ({lease.mode}) by {lease.holder} as {lease.path}"
        )
    return found


def _leases(c: Call) -> Any:
    holder = c.agent if c["mine"] else None
    return c.leases.leases(holder=holder, path=c["path"], cwd=c.cwd)


def _task_add(c: Call) -> Any:
    return c.coord.add_task(
        c["title"],
        type="task" if c["type"] is None else c["type"],
        description=c["description"] or "",
        files=c["file"],
        priority=0 if c["priority"] is None else c["priority"],
        depends_on=c["depends_on"],
        key=c["key"],
        parent=c["parent"],
        if_dep_fails="cancel" if c["if_dep_fails"] is None else c["if_dep_fails"],
        by=c.maybe_agent,
        cwd=c.cwd,
    )


def _task_done(c: Call) -> Any:
    return c.coord.complete(
        c.agent,
        c["id"],
        result=c["result"] or "",
        files_changed=c["changed"],
        tests_run=c["tests"],
        cwd=c.cwd,
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
        raise errors.NotFoundError(f"no kv key {c['key']!r}")
    return entry


def _kv_del(c: Call) -> Any:
    c.coord.kv_delete(c["key"], by=c.maybe_agent, expect_version=c["expect_version"])
    return {"deleted": c["key"]}


def _inbox(c: Call) -> Any:
    limit = 100 if c["limit"] is None else c["limit"]
    return c.coord.inbox(c.agent, limit=limit, wait=c["wait"] or 0.0)


def _events(c: Call) -> Any:
    since = 0 if c["since"] is None else c["since"]
    limit = 1000 if c["limit"] is None else c["limit"]
    filters = {"agent": c["agent"], "kind": c["kind"], "limit": limit}
    if c["wait"]:  # 0 (or none): answer at once
        return c.coord.wait(since=since, timeout=c["wait"], **filters)
    return c.coord.events(since=since, **filters)


_TASK_ID = ("id",)
SECONDS_TTL = Kind.number(bounds.TTL)
SECONDS_WAIT = Kind.number(bounds.WAIT)
VERSION = Kind.number(bounds.VERSION)
POSITIONALS = {
    "id": TASK_ID,
    "on": TASK_ID,
    "ids": MESSAGE_ID,
    "path": PATH,
    "expected_version": VERSION,
}
"""How a positional of each name is checked (the rest are text the service checks)."""


def _cmd(
    name: str,
    handler: Handler,
    positionals: tuple[str, ...],
    options: dict[str, Kind | str],
    help: str,
) -> Command:
    return Command(name, handler, positionals, options, help, positional_kinds=POSITIONALS)


COMMANDS: dict[str, Command] = {
    cmd.name: cmd
    for cmd in [
        _cmd("register", _register, ("name",),
             {"--role": TEXT, "--label": TEXT, "--pid": Kind.number(bounds.PID),
              "--lease-s": Kind.number(bounds.LEASE_S)},
             "Register NAME (a new generation if it exists) and print its id NAME#GENERATION."),
        _cmd("heartbeat", lambda c: c.coord.heartbeat(c.agent), (), {},
             "Keep the agent alive for another lease period."),
        _cmd("deregister", lambda c: c.coord.deregister(c.agent), (), {},
             "End the agent: release its leases, reopen its tasks."),
        _cmd("agents", lambda c: c.coord.agents(all=c["all"]), (), {"--all": FLAG},
             "The live agents (--all: also expired and deregistered ones)."),
        _cmd("lease", _lease, ("path",),
             {"--shared": FLAG, "--ttl": SECONDS_TTL, "--note": TEXT, "--wait": SECONDS_WAIT},
             "Lease a file, a directory (trailing /) or a glob. Exit 3 when another agent "
             "holds an overlapping lease (after waiting up to --wait seconds)."),
        _cmd("release", _release, ("path?",), {"--all": FLAG}, "Release a lease."),
        _cmd("renew", lambda c: c.leases.renew(c.agent, c["path"], cwd=c.cwd), ("path?",),
             {}, "Extend the TTL of a lease (default: all of the agent's leases)."),
        _cmd("leases", _leases, (), {"--mine": FLAG, "--path": PATH},
             "The live leases (--path: only those overlapping PATH)."),
        _cmd("check", _check, ("path",), {"--shared": FLAG},
             "Exit 3 if a lease on PATH would conflict with another agent's lease."),
        _cmd("task add", _task_add, ("title",),
             {"--type": TEXT, "--description": TEXT, "--file": PATHS,
              "--priority": Kind.number(bounds.PRIORITY), "--depends-on": TASK_IDS,
              "--key": TEXT, "--parent": TASK_ID, "--if-dep-fails": TEXT},
             "Add a task; --key makes it idempotent; --depends-on ID may repeat."),
        _cmd("task claim", lambda c: c.coord.claim(c.agent, c["id"], version=c["version"]),
             _TASK_ID, {"--version": VERSION},
             "Claim an open task (exit 3 if someone else has it or its version moved)."),
        _cmd("task claim-next", lambda c: c.coord.claim_next(c.agent, type=c["type"]), (),
             {"--type": TEXT}, "Claim the best open task; prints nothing when none is open."),
        _cmd("task start", lambda c: c.coord.start(c.agent, c["id"]), _TASK_ID, {},
             "Mark a claimed task in progress."),
        _cmd("task progress", lambda c: c.coord.progress(c.agent, c["id"], c["note"]),
             ("id", "note"), {}, "Add a progress note."),
        _cmd("task done", _task_done, _TASK_ID,
             {"--result": TEXT, "--changed": PATHS, "--tests": TEXTS},
             "Complete a task (--changed FILE and --tests CMD may repeat)."),
        _cmd("task fail", lambda c: c.coord.fail(c.agent, c["id"], reason=c["reason"] or ""),
             _TASK_ID, {"--reason": TEXT}, "Fail a task; its dependents are cancelled."),
        _cmd("task cancel",
             lambda c: c.coord.cancel(c["id"], by=c.maybe_agent, reason=c["reason"] or ""),
             _TASK_ID, {"--reason": TEXT}, "Cancel a task that has not ended."),
        _cmd("task unclaim", lambda c: c.coord.unclaim(c.agent, c["id"]), _TASK_ID, {},
             "Give a task back (open again)."),
        _cmd("task depend", lambda c: c.coord.add_dependencies(c["id"], c["on"], by=c.maybe_agent),
             ("id", "on..."), {}, "Make a task also wait for others (cycles are refused)."),
        _cmd("task show", _task_show, _TASK_ID, {}, "One task and its progress notes."),
        _cmd("tasks", _tasks, (), {"--status": TEXTS, "--mine": FLAG, "--type": TEXT},
             "The tasks of the scope (--status may repeat)."),
        _cmd("kv get", _kv_get, ("key",), {}, "Print a value (exit 2 if there is none)."),
        _cmd("kv set",
             lambda c: c.coord.kv_set(c["key"], c["value"], by=c.maybe_agent,
                                      expect_version=c["expect_version"]),
             ("key", "value"), {"--expect-version": VERSION}, "Write a value."),
        _cmd("kv cas",
             lambda c: c.coord.kv_set(c["key"], c["value"], by=c.maybe_agent,
                                      expect_version=c["expected_version"]),
             ("key", "expected_version", "value"), {},
             "Write only if the key is at EXPECTED_VERSION (0: absent); exit 3 otherwise."),
        _cmd("kv del", _kv_del, ("key",), {"--expect-version": VERSION}, "Delete a key."),
        _cmd("kv ls", lambda c: c.coord.kv_list(c["prefix"] or ""), ("prefix?",), {},
             "Entries whose key starts with PREFIX."),
        _cmd("send",
             lambda c: c.coord.send(c["to"], c["text"], sender=c.maybe_agent,
                                    reply_to=c["reply_to"]),
             ("to", "text"), {"--reply-to": MESSAGE_ID},
             "Send TEXT to an agent name, or to every agent with '*'."),
        _cmd("inbox", _inbox, (),
             {"--wait": SECONDS_WAIT, "--limit": Kind.number(bounds.INBOX_LIMIT)},
             "Unacknowledged messages (they come back until acked)."),
        _cmd("ack", lambda c: {"acked": c.coord.ack(c.agent, c["ids"])}, ("ids...",), {},
             "Acknowledge messages."),
        _cmd("events", _events, (),
             {"--since": Kind.number(bounds.SEQ), "--agent": TEXT, "--kind": TEXT,
              "--limit": Kind.number(bounds.EVENTS_LIMIT), "--wait": SECONDS_WAIT},
             "The audit log (--kind lease. for a family; --wait blocks for news)."),
    ]
}  # fmt: skip
GROUPS = {"task", "kv"}
LEASE_COMMANDS = frozenset({"lease", "release", "renew", "leases", "check"})
"""The commands whose handlers use :attr:`Call.leases` only: the store is opened as a
:class:`~codeswarm.coordination.leases.LeaseOps` (hooks and agents run these on every step;
the rest of the service stays unloaded)."""


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
        named = repr(" ".join(words[:2]) if name in GROUPS else name)
        raise errors.UsageError(f"unknown command {named}{hint}; see 'codeswarm coord --help'")
    return command, rest
