"""The ``codeswarm mcp`` server: the coordination store as MCP tools (stdio).

The MCP SDK loads only here: nothing on the hooks' or the CLI's hot paths imports this package.
"""

from codeswarm.mcp.identity import Identity
from codeswarm.mcp.server import SERVER_NAME, build_server, run, serve

__all__ = ["SERVER_NAME", "Identity", "build_server", "run", "serve"]
