"""Gateway mode: a person's own Codex or Claude Code session conducts the swarm running in the
project (``codeswarm install codex|claude --gateway``, docs/hooks.md "Gateway mode").

The session is a personal one whose role is ``orchestrator``: its MCP server (``codeswarm mcp``,
mounted with ``CODESWARM_AGENT_ROLE=orchestrator``) offers the orchestrator's tools, and its hooks
register it with that role, so no delegation ever picks it as a worker. Nothing wakes a personal
session when a delegated task ends, so it waits for the result inside its turn (``check`` with
``wait``). At its start a SessionStart hook (``python -P -m codeswarm.mcp.gateway``) adds
:data:`PRIMER` to the model's context, beside the swarm's picture every agent gets.

Run as a hook, this module imports nothing of codeswarm (it runs once per session start).
"""

from __future__ import annotations

import contextlib
import json
import sys

ROLE = "orchestrator"
"""A gateway's role (``codeswarm.coordination.models.ORCHESTRATOR``; spelled out here so the
hook imports nothing)."""
MODULE = "codeswarm.mcp.gateway"
"""The primer hook's module (``python -P -m MODULE``): how an install recognizes its hook."""

PRIMER = """\
codeswarm gateway: you conduct the swarm of agents working in this repository, from the \
person's own session. Decide per request:
- Edit locally when the change is small (a few lines, one or two files) or the person wants it \
now. Your edits take leases like any agent's: a file an agent holds is denied to you, naming \
its holder.
- Delegate work that is larger, spans many files, or can run in parallel: `delegate` (title, \
instructions, files, agent; `list` shows the agents, idle or busy), then `check` with the task \
id and `wait` (seconds, up to 3600) to get its result in this turn: no message wakes you \
later. Report the result and the files changed; `end` records your verdict (accepted or \
rejected) and frees the agent. `converse` asks an agent and returns its answer.
- Do not edit files a delegated task is changing until it ends.
- If `list` shows no agent but you, no swarm is running: do the work yourself, or ask the \
person to start one (`codeswarm up`)."""
"""What the model is told at the session's start (at most 300 tokens; tests/personal pins it)."""

INSTRUCTIONS = (
    " You conduct the swarm from a person's session: `delegate` tasks, then `check` a task "
    "with `wait` for its result within this turn (nothing wakes you later); `converse`, "
    "`list` and `end` as usual."
)
"""The MCP server's instructions for a gateway, in place of the fleet orchestrator's (which
say that every task's end starts its next turn: not so in a person's session)."""


def session_start_output() -> dict[str, object]:
    """The SessionStart hook's answer: :data:`PRIMER` as additional context (Codex makes it a
    developer message of every request; Claude Code adds it to the session's context)."""
    return {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": PRIMER}}


def main(argv: list[str] | None = None) -> int:
    """``python -P -m codeswarm.mcp.gateway``: the primer hook. Reads (and ignores) the event
    on stdin, prints the primer as SessionStart output, exits 0 whatever happens (a hook never
    stops a session)."""
    del argv
    with contextlib.suppress(OSError):
        sys.stdin.buffer.read()
    sys.stdout.write(json.dumps(session_start_output()) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
