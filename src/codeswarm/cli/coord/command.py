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

from codeswarm.cli.coord.handlers import lookup
from codeswarm.cli.coord.parser import Call, Line
from codeswarm.core.errors import run_guarded

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
  --db URL      the database; default $CODESWARM_DB, [coord] db, <state dir>/coord.db
  --scope DIR   the scope root; default $CODESWARM_SCOPE, the project root

exit codes: 0 ok, 3 conflict, 2 bad input, 1 other failure.
'codeswarm coord COMMAND --help' shows a command's options.
"""


def main(argv: list[str]) -> int:
    """Run one ``codeswarm coord`` command line; returns the exit code."""
    return run_guarded(lambda: _run(argv))


def _run(argv: list[str]) -> int:
    line = Line(argv)
    if not line.words or line.words[0] in ("-h", "--help", "help"):
        sys.stdout.write(GLOBAL_HELP)
        return 0
    command, args = lookup(line.words)
    if "-h" in args or "--help" in args:
        sys.stdout.write(command.usage())
        return 0
    call = Call(
        command.parse(args),
        as_json=line.as_json,
        agent=line.agent or os.environ.get("CODESWARM_AGENT_ID"),
    )
    from codeswarm.coordination import Coord

    with Coord.open(line.db, root=line.scope) as coord:
        call.coord = coord
        result = command.handler(call)
        now = coord.clock.now()
    from codeswarm.cli.coord.render import write

    write(command.name, result, now, as_json=line.as_json)
    return 0
