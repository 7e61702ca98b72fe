"""``codeswarm coord …``: the coordination store from the shell (a fast command).

Dispatched by :mod:`codeswarm.cli` before Typer, Rich or Click load, and parsed by hand (argparse
alone costs ~5 ms): agents and hooks run it on every step, so its whole start-to-exit time is
about twice a bare ``python -c pass``. Only :mod:`codeswarm.coord` and :mod:`codeswarm.core`
are imported.

Exit codes: 0 ok; 3 conflict (lease held, claim lost, compare-and-set mismatch, stale agent);
2 bad input (unknown flag, bad path, unknown id, too large); 1 any other failure (database
unreachable, ...). Errors are one line on stderr; ``CODESWARM_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import os
import sys

from codeswarm.core.errors import CodeswarmError, ConflictError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from codeswarm.coord import Coord

    Handler = Callable[["Call"], Any]

OK, FAILED, BAD_INPUT, CONFLICT = 0, 1, 2, 3

GLOBAL_HELP = """\
usage: codeswarm coord [--json] [--as AGENT] [--db URL] [--scope DIR] COMMAND ...

The coordination store every agent shares (docs/coordination.md).

agents:   register NAME · heartbeat · deregister · agents [--all]
leases:   lease PATH · release PATH|--all · renew [PATH] · leases · check PATH
tasks:    task add|claim|claim-next|start|progress|done|fail|cancel|unclaim|depend|show · tasks
kv:       kv get|set|cas|del|ls
messages: send TO TEXT · inbox · ack ID...
audit:    events

options (anywhere on the line):
  --json        print JSON
  --as AGENT    act as AGENT (name#generation, or a name); default $CODESWARM_AGENT_ID
  --db URL      the database; default $CODESWARM_DB, [coord] db, .codeswarm/coord.db
  --scope DIR   the scope root; default $CODESWARM_SCOPE, the project root

exit codes: 0 ok, 3 conflict, 2 bad input, 1 other failure.
'codeswarm coord COMMAND --help' shows a command's options.
"""

_GLOBAL_VALUES = {"--as": "agent", "--db": "db", "--scope": "scope"}


class Call:
    """One parsed command line: positionals, options, and the open store."""

    def __init__(self, args: dict[str, Any], *, as_json: bool, agent: str | None) -> None:
        self.args = args
        self.as_json = as_json
        self._agent = agent
        self.coord: Coord

    def __getitem__(self, key: str) -> Any:
        return self.args[key]

    @property
    def agent(self) -> str:
        if not self._agent:
            raise UsageError(
                "no agent: pass --as AGENT or set CODESWARM_AGENT_ID "
                "('codeswarm coord register NAME' prints one)"
            )
        return self._agent

    @property
    def maybe_agent(self) -> str | None:
        return self._agent or None


class Command:
    """A subcommand: its positionals (``name``, ``name?`` optional, ``name...`` one or more,
    ``name*`` any number) and options (``flag``, ``str``, ``int``, ``float``, ``list``)."""

    def __init__(
        self,
        name: str,
        handler: Handler,
        positionals: tuple[str, ...] = (),
        options: dict[str, str] | None = None,
        help: str = "",
    ) -> None:
        self.name = name
        self.handler = handler
        self.positionals = positionals
        self.options = options or {}
        self.help = help

    def usage(self) -> str:
        pos = " ".join(p.upper() for p in self.positionals)
        opts = " ".join(
            f"[{o}]" if kind == "flag" else f"[{o} {kind.upper()}]"
            for o, kind in self.options.items()
        )
        return f"usage: codeswarm coord {self.name} {pos} {opts}".rstrip() + f"\n\n{self.help}\n"

    def parse(self, argv: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for opt, kind in self.options.items():
            out[_key(opt)] = [] if kind == "list" else (False if kind == "flag" else None)
        rest: list[str] = []
        i = 0
        while i < len(argv):
            arg = argv[i]
            i += 1
            if arg == "--":
                rest += argv[i:]
                break
            if not arg.startswith("--") or arg == "-":
                rest.append(arg)
                continue
            opt, eq, value = arg.partition("=")
            found = self.options.get(opt)
            if found is None:
                raise UsageError(f"{self.name}: unknown option {opt} (see --help)")
            kind = found
            if kind == "flag":
                if eq:
                    raise UsageError(f"{self.name}: {opt} takes no value")
                out[_key(opt)] = True
                continue
            if not eq:
                if i >= len(argv):
                    raise UsageError(f"{self.name}: {opt} needs a value")
                value = argv[i]
                i += 1
            converted = _convert(self.name, opt, kind, value)
            if kind == "list":
                out[_key(opt)].append(converted)
            else:
                out[_key(opt)] = converted
        for pos in self.positionals:
            key = pos.rstrip("?.*")
            if pos.endswith(("...", "*")):
                if not rest and pos.endswith("..."):
                    raise UsageError(f"{self.name}: missing {key.upper()}")
                out[key], rest = rest, []
            elif rest:
                out[key] = rest.pop(0)
            elif pos.endswith("?"):
                out[key] = None
            else:
                raise UsageError(f"{self.name}: missing {key.upper()} (see --help)")
        if rest:
            raise UsageError(f"{self.name}: unexpected argument {rest[0]!r}")
        return out


def _key(opt: str) -> str:
    return opt[2:].replace("-", "_")


def _convert(cmd: str, opt: str, kind: str, value: str) -> Any:
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except ValueError:
        raise UsageError(f"{cmd}: {opt} expects a number, not {value!r}") from None
    return value


# -- handlers ------------------------------------------------------------------------------------


def _register(c: Call) -> Any:
    return c.coord.register(
        c["name"],
        role=c["role"] or "",
        label=c["label"] or "",
        pid=c["pid"],
        lease_s=c["lease_s"] if c["lease_s"] is not None else 120.0,
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
        from codeswarm.core.errors import NotFoundError

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


def _ids(values: list[str]) -> list[int]:
    out = []
    for v in values:
        text = v.lstrip("#")
        if not text.isdigit():
            raise UsageError(f"not an id: {v!r}")
        out.append(int(text))
    return out


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
                lambda c: c.coord.add_dependencies(c["id"], _ids(c["on"]), by=c.maybe_agent),
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
        Command("ack", lambda c: {"acked": c.coord.ack(c.agent, _ids(c["ids"]))}, ("ids...",), {},
                "Acknowledge messages."),
        Command("events", _events, (),
                {"--since": "int", "--agent": "str", "--kind": "str", "--limit": "int",
                 "--wait": "float"},
                "The audit log (--kind lease. for a family; --wait blocks for news)."),
    ]
}  # fmt: skip
_GROUPS = {"task", "kv"}


# -- output --------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "-"
    s = now - ts
    return f"{s:.0f}s ago" if s >= 0 else f"in {-s:.0f}s"


def _render(name: str, value: Any, now: float) -> str:
    """The human form of a result."""
    from codeswarm.coord import Agent, AuditEvent, KvEntry, Lease, Message, Task

    if value is None:
        return "" if name != "task claim-next" else "no open task"
    if name == "send" and isinstance(value, Message):
        return f"sent #{value.id} to {value.to}"
    if name == "kv get" and isinstance(value, KvEntry):
        return value.value
    if isinstance(value, list):
        return "\n".join(_render(name, v, now) for v in value)
    if isinstance(value, Agent):
        if name == "register":
            return value.id
        return (f"{value.id:<20} {value.status:<12} {value.role or '-':<10} "
                f"{value.pid or '-'}@{value.host}  expires {_ago(value.expires_at, now)}")  # fmt: skip
    if isinstance(value, Lease):
        expiry = "no ttl" if value.expires_at is None else f"expires {_ago(value.expires_at, now)}"
        note = f"  {value.note!r}" if value.note else ""
        return (f"{value.path:<30} {value.mode:<9} {value.holder:<16} token {value.token:<6} "
                f"{expiry}{note}")  # fmt: skip
    if isinstance(value, Task):
        who = f"  [{value.assignee}]" if value.assignee else ""
        return f"#{value.id:<5} {value.status:<11} p{value.priority:<3} {value.title}{who}"
    if isinstance(value, KvEntry):
        text = value.value if len(value.value) <= 60 else value.value[:57] + "..."
        return f"{value.key}  v{value.version}  {text}"
    if isinstance(value, Message):
        return f"#{value.id} from {value.sender or '-'} to {value.to}: {value.text}"
    if isinstance(value, AuditEvent):
        from codeswarm.coord._json import dumps

        return (f"{value.seq:<7} {value.kind:<18} {value.agent or '-':<14} {value.subject}  "
                f"{dumps(value.data)}")  # fmt: skip
    if isinstance(value, dict) and "notes" in value:  # task show
        lines = [f"{k}: {v}" for k, v in value.items() if k != "notes" and v not in (None, "", [])]
        lines += [f"note {n['seq']} ({n['agent'] or '-'}): {n['text']}" for n in value["notes"]]
        return "\n".join(lines)
    if isinstance(value, dict):
        return " ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


# -- entry point ---------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    """Run one ``codeswarm coord`` command line; returns the exit code."""
    debug = os.environ.get("CODESWARM_DEBUG") == "1"
    try:
        return _run(argv)
    except ConflictError as exc:
        if debug:
            raise
        _say(exc)
        return CONFLICT
    except UsageError as exc:
        if debug:
            raise
        _say(exc)
        return BAD_INPUT
    except CodeswarmError as exc:
        if debug:
            raise
        _say(exc)
        return FAILED
    except KeyboardInterrupt:
        print("codeswarm: interrupted", file=sys.stderr)
        return 130


def _say(exc: BaseException) -> None:
    text = str(exc).strip().replace("\n", " ") or type(exc).__name__
    print(f"codeswarm: error: {text}", file=sys.stderr)


def _run(argv: list[str]) -> int:
    as_json = False
    glob: dict[str, str | None] = {"agent": None, "db": None, "scope": None}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        opt, eq, value = arg.partition("=")
        if arg == "--json":
            as_json = True
        elif opt in _GLOBAL_VALUES:
            if not eq:
                if i >= len(argv):
                    raise UsageError(f"{opt} needs a value")
                value = argv[i]
                i += 1
            glob[_GLOBAL_VALUES[opt]] = value
        else:
            rest.append(arg)
    if not rest or rest[0] in ("-h", "--help", "help"):
        sys.stdout.write(GLOBAL_HELP)
        return OK
    name = rest[0]
    if name in _GROUPS and len(rest) > 1 and not rest[1].startswith("-"):
        name = f"{rest[0]} {rest[1]}"
        rest = rest[1:]
    command = COMMANDS.get(name)
    if command is None:
        hint = " (task add|claim|...; kv get|set|...)" if name in _GROUPS else ""
        raise UsageError(f"unknown command {' '.join(rest[:2]) if name in _GROUPS else name!r}"
                         f"{hint}; see 'codeswarm coord --help'")  # fmt: skip
    if "-h" in rest[1:] or "--help" in rest[1:]:
        sys.stdout.write(command.usage())
        return OK
    call = Call(
        command.parse(rest[1:]),
        as_json=as_json,
        agent=glob["agent"] or os.environ.get("CODESWARM_AGENT_ID"),
    )
    from codeswarm.coord import Coord

    with Coord.open(glob["db"], root=glob["scope"]) as coord:
        call.coord = coord
        result = command.handler(call)
        now = coord.clock.now()
    if as_json:
        from codeswarm.coord._json import dumps

        sys.stdout.write(dumps(_plain(result)) + "\n")
    else:
        text = _render(name, result, now)
        if text:
            sys.stdout.write(text + "\n")
    return OK
