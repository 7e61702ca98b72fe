"""``python -m codeswarm.mcp``: the same server as ``codeswarm mcp``."""

from codeswarm.mcp.server import run

raise SystemExit(run())
