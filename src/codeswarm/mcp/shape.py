"""What an agent's coordination server offers beyond the common tools (:class:`Shape`): light,
so that the hub (:mod:`codeswarm.mcp.hub`) can tell agents apart before it loads the MCP SDK."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

from codeswarm.mcp.identity import Identity


class Shape(NamedTuple):
    """What an agent's server offers beyond the common tools. Its instructions and its tool
    descriptions follow from this alone (:func:`codeswarm.mcp.server.build_server` decides by nothing else), so
    every server of one shape answers ``initialize`` and ``tools/list`` alike: the hub answers
    those once per shape (:mod:`codeswarm.mcp.hub`)."""

    orchestrator: bool
    """The orchestrator's tools and instructions (mcp/orchestrator.py)."""
    personal: bool
    """A person's own session (no ``CODESWARM_AGENT_ID``): as the orchestrator, the gateway's
    instructions."""
    submit: bool
    """An agent in a worktree swarm: the merge queue's ``submit``."""


def shape_of(identity: Identity, env: Mapping[str, str] | None = None) -> Shape:
    """The :class:`Shape` of the server :func:`~codeswarm.mcp.server.build_server` builds for ``identity`` and
    ``env`` (default: this process's environment)."""
    env = os.environ if env is None else env
    return Shape(
        orchestrator=identity.role == "orchestrator",
        personal=identity.personal,
        submit=env.get("CODESWARM_ISOLATION") == "worktree" and bool(env.get("CODESWARM_WORKTREE")),
    )
