"""Which modules the hot commands load (issue 15: each as a whole process within 2x
``python -c pass``; bench/hot_commands.py measures that). A module costs its import on every
call: ``asyncio`` (~20 ms), Typer/Click/Rich, pydantic, msgspec, orjson (it imports dataclasses,
uuid, datetime and enum), ``json``/``re``, ``pathlib``, ``typing``, ``argparse``, ``logging``
each cost a few to tens of milliseconds, as much as the whole command. This pins, per command
line, every module beyond the interpreter's own start: a new import on these paths is a
decision, made here.

A real swarm (supervisor, worker, Codex, scripted model), and the real entry point
(``codeswarm.cli.main``) in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from codeswarm.cli import hot
from codeswarm.control.steering import MAX_MESSAGE_CHARS
from codeswarm.mailbox import writer
from swarmkit import Swarm, wait_until

NEVER = {
    "asyncio", "typer", "click", "rich", "pydantic", "msgspec", "orjson", "json", "re",
    "pathlib", "typing", "argparse", "logging", "dataclasses", "enum", "importlib", "uuid",
    "datetime", "inspect", "subprocess", "socket", "ssl", "hashlib", "codeswarm.mailbox",
    "codeswarm.core.swarm", "codeswarm.control.launch",
    "codeswarm.control.fleet.router", "codeswarm.control.steering", "codeswarm.worker",
    "codeswarm.codex", "codeswarm.mcp", "codeswarm.hooks",
}  # fmt: skip
"""Never on the plain path of a hot command."""

BASE = {
    "codeswarm", "codeswarm.cli", "codeswarm.cli.hot", "codeswarm.core", "codeswarm.core.lazy",
    "codeswarm.core.paths", "codeswarm.core.jsonlite", "codeswarm.control",
    "codeswarm.control.status", "_json", "__future__", "fcntl", "time",
}  # fmt: skip
REPLAY = {
    "codeswarm.control.fleet", "codeswarm.control.fleet.state", "codeswarm.control.events",
    "codeswarm.control.events.records", "codeswarm.control.events.translate",
    "codeswarm.core.events", "codeswarm.core.ids", "codeswarm.core.usage", "gc",
}  # fmt: skip
LEASES = {  # the coordination store alone (what `status` shows each agent holding: .held)
    "codeswarm.coordination", "codeswarm.coordination._errors", "codeswarm.coordination.held",
    "codeswarm.coordination.migrations",
    "codeswarm.coordination.sqlite", "codeswarm.coordination.store",
    "codeswarm.coordination.target", "codeswarm.core.defaults", "_sqlite3", "collections",
    "functools", "itertools", "keyword", "operator", "reprlib", "types", "_collections",
    "_functools", "_operator",
}  # fmt: skip
COORD = {  # `coord lease|release|check`: the store as a LeaseOps, not the rest of the service
    "codeswarm", "codeswarm.cli", "codeswarm.core", "codeswarm.core.lazy",
    "codeswarm.cli.coord", "codeswarm.cli.coord.command",
    "codeswarm.cli.coord.handlers", "codeswarm.cli.coord.parser", "codeswarm.cli.coord.render",
    "codeswarm.coordination._base", "codeswarm.coordination._json",
    "codeswarm.coordination.bounds", "codeswarm.coordination.clock",
    "codeswarm.coordination.leases", "codeswarm.coordination.models",
    "codeswarm.coordination.paths", "codeswarm.coordination.rows", "__future__", "fcntl",
    "time",
} | LEASES  # fmt: skip

ALLOWED = {
    "send": BASE,
    "send --wait (until the message is written)": BASE,
    "status --json": BASE | REPLAY | LEASES,
    "interrupt (idle: an error)": BASE | REPLAY | {"codeswarm.core.errors"},
    "coord lease": COORD,
    "coord check": COORD,
    "coord release": COORD,
}

PROBE = """\
import os, sys
os._exit = sys.exit  # the commands end with os._exit (cli.end): here, to see what they loaded
start = set(sys.modules)
from codeswarm.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
loaded = sorted(set(sys.modules) - start)
with open({out!r}, "w") as f:
    f.write(repr((code, loaded)))
"""


AT_APPEND = """\
import os, sys
os._exit = sys.exit
start = set(sys.modules)
seen = []


def audit(event, args):
    if event == "open" and not seen and str(args[0]).endswith({inbox!r}) and args[2] & os.O_APPEND:
        seen.append(sorted(set(sys.modules) - start))


sys.addaudithook(audit)
from codeswarm.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
with open({out!r}, "w") as f:
    f.write(repr((code, seen[0])))
"""
"""What ``send --wait`` has loaded when it opens the inbox to write the message (an audit hook
sees the ``open``): the waiting part (asyncio, the router) may load only after."""


def loaded_by(swarm: Swarm, tmp_path: Path, *argv: str, env: dict[str, str] | None = None,
              probe: str = PROBE) -> tuple[int, set[str]]:  # fmt: skip
    """(exit code, modules loaded beyond the interpreter's start) of ``codeswarm ARGV``."""
    out = tmp_path / "loaded.txt"
    out.unlink(missing_ok=True)
    code = probe.format(out=str(out), inbox="/mailbox/inbox/t_0.jsonl")
    subprocess.run([sys.executable, "-P", "-c", code, *argv],
                   env=env or swarm.env, cwd=swarm.workdir, capture_output=True, timeout=120,
                   check=False)  # fmt: skip
    code, loaded = eval(out.read_text())  # our own repr, written just now
    return int(code or 0), set(loaded)


def check(label: str, code: int, loaded: set[str], want_code: int = 0) -> None:
    assert code == want_code, label
    assert not {m for m in loaded if m.split(".")[0] in NEVER or m in NEVER}, label
    for prefix in NEVER:  # nor a submodule of those
        assert not [m for m in loaded if m.startswith(prefix + ".")], (label, prefix)
    assert loaded <= ALLOWED[label], (label, sorted(loaded - ALLOWED[label]))


@pytest.mark.codex
@pytest.mark.slow
def test_hot_commands_import_only_what_is_pinned(swarm: Swarm, tmp_path: Path) -> None:
    swarm.up(1, {"agents": {"*": [{"text": "hello"}, {"text": "hello again"}]}})
    swarm.cli("status", "t", "--json")  # the first status writes the checkpoints
    # `send` (returning): the message is in the inbox, as the ordinary path writes it
    code, loaded = loaded_by(swarm, tmp_path, "send", "t", "0", "hi")
    check("send", code, loaded)
    inbox = swarm.run_dir / "mailbox" / "inbox" / "t_0.jsonl"
    (record,) = [json.loads(line) for line in inbox.read_text().splitlines()]
    assert record["kind"] == "message" and record["text"] == "hi" and record["seq"] == 1
    wait_until(lambda: swarm.status()["agents"][0]["turns"] == 1, what="the turn")
    check(
        "send --wait (until the message is written)",
        *loaded_by(swarm, tmp_path, "send", "t", "0", "again", "--wait", probe=AT_APPEND),
    )

    check("status --json", *loaded_by(swarm, tmp_path, "status", "t", "--json"))
    assert swarm.status()["agents"][0]["turns"] == 2
    before = inbox.read_bytes()
    check("interrupt (idle: an error)", *loaded_by(swarm, tmp_path, "interrupt", "t", "0"),
          want_code=1)  # fmt: skip
    assert inbox.read_bytes() == before

    hook_env = {**swarm.env, "CODESWARM_AGENT_ID": "t_0", "CODESWARM_SCOPE": str(swarm.workdir),
                "CODESWARM_DB": str(swarm.state / "coord.db")}  # fmt: skip
    for label, argv in [("coord lease", ("lease", "src/a.py")), ("coord check", ("check", "src/a.py")),
                        ("coord release", ("release", "src/a.py"))]:  # fmt: skip
        check(label, *loaded_by(swarm, tmp_path, "coord", *argv, env=hook_env))


def test_the_hot_paths_constants_are_the_writers() -> None:
    assert hot.MAX_MESSAGE_CHARS == MAX_MESSAGE_CHARS
    assert (hot.MAX_LINE, hot.ROTATE_BYTES) == (writer.MAX_LINE, writer.ROTATE_BYTES)
