"""The coordination store as MCP tools: ``codeswarm mcp`` (stdio, a person's own session) and
the swarm's hub (:mod:`codeswarm.mcp.hub`: streamable HTTP, one per swarm per node, every fleet
agent's Codex mounts it by URL).

The MCP SDK loads only when a name below is used: nothing on the hooks' or the CLI's hot paths
imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codeswarm.mcp.identity import Identity
    from codeswarm.mcp.server import SERVER_NAME, build_server, run, serve

__all__ = ["SERVER_NAME", "Identity", "build_server", "run", "serve"]


def __getattr__(name: str) -> Any:
    if name == "Identity":
        from codeswarm.mcp.identity import Identity

        return Identity
    if name in __all__:
        from codeswarm.mcp import server

        return getattr(server, name)
    raise AttributeError(f"module 'codeswarm.mcp' has no attribute {name!r}")
