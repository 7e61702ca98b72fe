"""``codeswarm mcp``: serve the coordination store as MCP tools on stdio.

A fast command (dispatched by :mod:`codeswarm.cli` without Typer). Identity and database come
from the environment (``CODESWARM_AGENT_ID``, ``CODESWARM_DB``, ``CODESWARM_SCOPE``; see
docs/coordination.md).
"""

from __future__ import annotations

import sys

HELP = """\
usage: codeswarm mcp

Serve the coordination store as MCP tools on stdio (for Codex: mcp_servers.codeswarm).
Environment: CODESWARM_AGENT_ID (name or name#generation), CODESWARM_DB, CODESWARM_SCOPE,
CODESWARM_AGENT_ROLE, CODESWARM_AGENT_LEASE_S.
"""


def main(argv: list[str]) -> int:
    """Run the server until the client closes it; returns the exit code."""
    if argv and argv[0] in ("-h", "--help"):
        sys.stdout.write(HELP)
        return 0
    from codeswarm.core.errors import UsageError, run_guarded

    if argv:
        return run_guarded(lambda: _refuse(UsageError(f"mcp takes no arguments, got {argv[0]!r}")))
    from codeswarm.mcp import run  # the MCP SDK loads only now

    return run()


def _refuse(exc: Exception) -> int:
    raise exc
