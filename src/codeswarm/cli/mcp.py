"""``codeswarm mcp``: serve the coordination store as MCP tools on stdio.

Two entry points: :func:`main` for the fast dispatch in :mod:`codeswarm.cli` (no Typer), and
:func:`mcp_command` as a Typer command. Identity and database come from the environment
(``CODESWARM_AGENT_ID``, ``CODESWARM_DB``, ``CODESWARM_SCOPE``; see docs/coordination.md).
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
    """Run the server; returns the exit code (2 for bad arguments, 1 when it cannot start)."""
    if argv and argv[0] in ("-h", "--help"):
        sys.stdout.write(HELP)
        return 0
    if argv:
        print(f"codeswarm: error: mcp takes no arguments, got {argv[0]!r}", file=sys.stderr)
        return 2
    from codeswarm.mcp import run  # the MCP SDK loads only now

    return run()


def mcp_command() -> None:
    """Serve the coordination store as MCP tools on stdio (identity from CODESWARM_AGENT_ID)."""
    rc = main([])
    if rc:
        raise SystemExit(rc)
