"""``codeswarm coord …``: the coordination store from the shell (a fast command).

Dispatched by :mod:`codeswarm.cli` before Typer, Rich or Click load, and parsed by hand
(:mod:`.parser`): agents and hooks run it on every step, so its whole start-to-exit time is about
twice a bare ``python -c pass``. Only :mod:`codeswarm.coordination` and :mod:`codeswarm.core` are
imported. The commands are in :mod:`.handlers`, their output in :mod:`.render`.

Exit codes (:func:`codeswarm.core.errors.exit_code`): 0 ok; 3 conflict (lease held, claim lost,
compare-and-set mismatch, stale agent); 2 bad input (unknown flag, bad path, unknown id, too
large); 1 any other failure (database unreachable, ...). Errors are one line on stderr;
``CODESWARM_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import os
import sys

from codeswarm.cli.coord.handlers import LEASE_COMMANDS, lookup
from codeswarm.cli.coord.parser import Call, Line

GLOBAL_HELP = """\
usage: codeswarm coord [--json] [--as AGENT] [--project DIR] [--db URL] [--scope DIR] COMMAND ...

The coordination store every agent shares (docs/coordination.md).

agents:   register NAME · heartbeat · deregister · agents [--all]
leases:   lease PATH · release PATH|--all · renew [PATH] · leases · check PATH
tasks:    task add|claim|claim-next|start|progress|done|fail|cancel|unclaim|depend|show · tasks
kv:       kv get|set|cas|del|ls
messages: send TO TEXT · inbox · ack ID...
audit:    events

options (anywhere on the line):
  --json        print JSON
  --as AGENT      act as AGENT (name#generation, or a name); default $CODESWARM_AGENT_ID
  --project DIR   the project (the repository holding DIR): its store and its root;
                  default the project holding the working directory (or --scope)
  --db URL        the database; default $CODESWARM_DB, [coord] db, the project's store
  --scope DIR     the scope root; default $CODESWARM_SCOPE, the project root

relative paths are relative to the working directory when it is inside the scope root, else
to the scope root ('coord --project ~/src/app lease src/app.py' from anywhere).

exit codes: 0 ok, 3 conflict, 2 bad input, 1 other failure.
'codeswarm coord COMMAND --help' shows a command's options.
"""


def main(argv: list[str]) -> int:
    """:func:`run`; then, when ``argv`` is the process's whole command line (``codeswarm coord
    ARGV``), the process ends at once (:func:`codeswarm.cli.end`). Otherwise (the Typer app, a
    test) it returns the code, as it does when a flush fails."""
    from codeswarm.cli import end

    code = run(argv)
    end(code, ["coord", *argv])
    return code


def run(argv: list[str]) -> int:
    """Run one ``codeswarm coord`` command line; returns the exit code
    (:func:`codeswarm.core.errors.run_guarded`: loaded only on the way out of an error)."""
    try:
        return _run(argv)
    except (Exception, KeyboardInterrupt) as exc:
        from codeswarm.core.errors import run_guarded

        error = exc

        def again() -> int:
            raise error

        return run_guarded(again)


def _run(argv: list[str]) -> int:
    line = Line(argv)
    if not line.words or line.words[0] in ("-h", "--help", "help"):
        sys.stdout.write(GLOBAL_HELP)
        return 0
    command, args = lookup(line.words)
    if "-h" in args or "--help" in args:
        sys.stdout.write(command.usage())
        return 0
    parsed = command.parse(args)
    url, root = _target(line)
    call = Call(
        parsed,
        as_json=line.as_json,
        agent=line.agent or os.environ.get("CODESWARM_AGENT_ID"),
        cwd=_relative_to(root),
    )
    if command.name in LEASE_COMMANDS:
        from codeswarm.coordination.leases import LeaseOps

        with LeaseOps.open(url, root=root) as leases:
            call.leases = leases
            result = command.handler(call)
            now = leases.clock.now()
    else:
        from codeswarm.coordination import Coord

        with Coord.open(url, root=root) as coord:
            call.coord = call.leases = coord
            result = command.handler(call)
            now = coord.clock.now()
    from codeswarm.cli.coord.render import write

    write(command.name, result, now, as_json=line.as_json)
    return 0


def _target(line: Line) -> tuple[str, str]:
    """(database URL, scope root) for ``line``: the store and the root of the project named by
    ``--project``, else of the one holding ``--scope`` (or ``$CODESWARM_SCOPE``), else of the
    working directory's; ``--db`` and ``--scope`` win over what the project gives."""
    from codeswarm.coordination.target import resolve_root, resolve_url

    project = None
    if line.project:  # (argparse, which cli.args loads, costs a hot path ~5 ms)
        from codeswarm.cli.args import project_dir

        project = project_dir(line.project)
    scope = line.scope or (None if project else os.environ.get("CODESWARM_SCOPE") or None)
    if scope:
        root = resolve_root(scope)
    else:
        from codeswarm.core.paths import project_root_str  # (a hook's $CODESWARM_SCOPE: not)

        root = project_root_str(None if project is None else str(project))
    if line.db or os.environ.get("CODESWARM_DB"):  # named: no project to look into
        return resolve_url(line.db), root
    return resolve_url(line.db, start=project or root), root


def _relative_to(root: str) -> str | None:
    """The working directory when it is inside ``root`` (relative paths are then the shell's),
    else None: relative paths are the scope root's."""
    here = os.path.realpath(os.getcwd())
    real = os.path.realpath(root)
    return here if here == real or here.startswith(real.rstrip("/") + "/") else None
