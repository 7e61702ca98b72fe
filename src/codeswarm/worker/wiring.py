"""Wiring a fleet agent into the swarm's coordination: its hooks (lease enforcement), its MCP
server (the coordination tools), its identity, and being woken by messages.

Everything the agent's Codex needs is passed explicitly: hooks inherit Codex's environment, the
MCP server does not (it gets only what its ``env`` table says).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from codeswarm.core import defaults
from codeswarm.core.atomic import atomic_write
from codeswarm.core.swarm import SwarmSpec
from codeswarm.hooks import groups

MCP_SERVER = "codeswarm"


def agent_env(spec: SwarmSpec, agent: str, role: str) -> dict[str, str]:
    """What identifies the agent to its hooks and tools."""
    env = {
        "CODESWARM_AGENT_ID": agent,
        "CODESWARM_SWARM": spec.name,
        "CODESWARM_SCOPE": spec.cwd,
        "CODESWARM_ROLE": role,
        "CODESWARM_LEASES_AUTO": "1" if spec.leases_auto else "0",
    }
    if spec.coord_db:
        env["CODESWARM_DB"] = spec.coord_db
    return env


def role_of(spec: SwarmSpec, rank: int | None) -> str:
    if not spec.roles:
        return defaults.ROLE
    return spec.roles[(rank or 0) % len(spec.roles)]


def hooks_json() -> dict[str, Any]:
    return {"hooks": {name: [group] for name, group in groups("codex").items()}}


def install_hooks(home: Path) -> None:
    """Write the fleet's hooks into the agent's CODEX_HOME (atomically; replaces what was there:
    the agent's home is codeswarm's)."""
    atomic_write(home / "hooks.json", (json.dumps(hooks_json(), indent=2) + "\n").encode())


def mcp_overrides(env: dict[str, str]) -> dict[str, Any]:
    """Codex config that mounts the coordination MCP server, required, its tools pre-approved
    (they only touch the coordination store)."""
    return {
        f"mcp_servers.{MCP_SERVER}": {
            "command": sys.executable,
            "args": ["-m", "codeswarm.mcp"],
            "env": env,
            "required": True,
            "startup_timeout_sec": 30,
            "tool_timeout_sec": 60,
            "default_tools_approval_mode": "approve",
        }
    }
