"""Wiring a fleet agent into the swarm's coordination: its hooks (lease enforcement), its MCP
server (the coordination tools: the node's hub, by URL), its identity, and being woken by
messages.

Everything the agent's Codex needs is passed explicitly: hooks inherit Codex's environment; the
hub knows the agent by its bearer token, which Codex reads from its own environment
(:mod:`codeswarm.worker.mcphub`). The agent's shell gets none of it (:func:`shell_policy`): what
is in Codex's environment stays with codeswarm's own processes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codeswarm.core import defaults
from codeswarm.core.atomic import atomic_write
from codeswarm.core.swarm import SwarmSpec, swarm_scope
from codeswarm.hooks import groups
from codeswarm.worker.mcphub import TOKEN_ENV

MCP_SERVER = "codeswarm"
SHELL_POLICY = "shell_environment_policy"
SHELL_EXCLUDES = ("CODESWARM_*",)
"""Never in an agent's shell: the paths of the swarm's state and the store's URL (with PostgreSQL,
its credentials), and the agent's token for the coordination hub. Hooks still get them; the hub
knows each agent by its token (docs/security/state.md)."""


def agent_env(
    spec: SwarmSpec, agent: str, role: str, worktree: str | None = None
) -> dict[str, str]:
    """What identifies the agent to its hooks and tools. ``worktree``: the agent's git worktree
    (``isolation = "worktree"``): paths are made relative to it, leases stay keyed by the
    project's scope (docs/isolation.md)."""
    env = {
        "CODESWARM_AGENT_ID": agent,
        "CODESWARM_SWARM": spec.name,
        "CODESWARM_SCOPE": swarm_scope(spec),  # as a session in the project
        "CODESWARM_ROLE": role,
        "CODESWARM_AGENT_ROLE": role,  # the MCP server's name for it (mcp/identity.py)
        "CODESWARM_LEASES_AUTO": "1" if spec.leases_auto else "0",
        "CODESWARM_REPORT_CHARS": str(spec.report_chars),  # the store's Limits.report
    }
    if spec.coord_db:
        env["CODESWARM_DB"] = spec.coord_db
    if worktree is not None:
        env["CODESWARM_WORKTREE"] = worktree
        env["CODESWARM_ISOLATION"] = spec.isolation  # the MCP server offers `submit`
        if not spec.worktree_leases:  # each agent alone in its tree: peers' leases not enforced
            env["CODESWARM_WORKTREE_LEASES"] = "0"
    if spec.watch is not None and spec.watch.scope and spec.watch.scope_deny:
        env["CODESWARM_SCOPE_DENY"] = "1"  # the PreToolUse hook denies writes outside the task
    return env


def role_of(spec: SwarmSpec, rank: int | None) -> str:
    if not spec.roles:
        return defaults.ROLE
    return spec.roles[(rank or 0) % len(spec.roles)]


def hooks_json() -> dict[str, Any]:
    return {"hooks": {name: [group] for name, group in groups("codex").items()}}


def install_hooks(home: Path) -> None:
    """Write the fleet's hooks into the agent's CODEX_HOME (atomically; replaces what was there:
    the agent's home is codeswarm's), and their trust into its ``config.toml``: Codex runs a hook
    only when trusted, and trust written before Codex starts costs no round trip (and no config
    reload) before the thread opens. The worker still asks Codex (``trust_hooks``): a hook it
    lists as untrusted (its hash computed another way, say by another Codex version) is trusted
    then."""
    from codeswarm.hooks.install import with_fleet_trust

    doc = hooks_json()
    hooks_file = home / "hooks.json"
    # rewritten at every start: replaced whole (atomic), not flushed to the disk (durable)
    atomic_write(hooks_file, (json.dumps(doc, indent=2) + "\n").encode(), durable=False)
    config = home / "config.toml"
    try:
        text = config.read_text()
    except FileNotFoundError:
        text = ""
    trusted = with_fleet_trust(text, hooks_file, doc)
    if trusted != text:
        atomic_write(config, trusted.encode(), durable=False)


def mcp_overrides(role: str, url: str) -> dict[str, Any]:
    """Codex config that mounts the coordination tools: the node's hub at ``url`` (streamable
    HTTP; the bearer token from ``CODESWARM_MCP_TOKEN`` in Codex's environment names the agent),
    required, its tools pre-approved (they only touch the coordination store)."""
    return {
        f"mcp_servers.{MCP_SERVER}": {
            "url": url,
            "bearer_token_env_var": TOKEN_ENV,
            "required": True,
            "startup_timeout_sec": 30,
            # the orchestrator's `converse` waits for an answer (up to an hour)
            "tool_timeout_sec": 3660 if role == "orchestrator" else 60,
            "default_tools_approval_mode": "approve",
        }
    }


def shell_policy(configured: Mapping[str, Any]) -> dict[str, Any]:
    """Codex's ``shell_environment_policy`` for a fleet agent: the person's own (``configured``)
    with :data:`SHELL_EXCLUDES` always excluded and, unless
    they chose otherwise, Codex's default filter of ``*KEY*``, ``*SECRET*`` and ``*TOKEN*`` names
    on (the model provider reads its key in Codex's own process, not in the shell)."""
    policy = dict(configured)
    filters = policy.get("filters")
    if isinstance(filters, Mapping):  # Codex refuses `filters` mixed with `exclude`
        policy["filters"] = {**filters, **dict.fromkeys(SHELL_EXCLUDES, "exclude")}
    else:
        exclude = policy.get("exclude")
        mine = [p for p in exclude if isinstance(p, str)] if isinstance(exclude, list) else []
        policy["exclude"] = [*mine, *(p for p in SHELL_EXCLUDES if p not in mine)]
    policy.setdefault("ignore_default_excludes", False)
    return policy


def shell_overrides(home: Path, overrides: Mapping[str, str]) -> dict[str, Any]:
    """The Codex config for the agent's shell: :func:`shell_policy` of the person's own policy,
    the table in the agent's ``config.toml`` (seeded from theirs) then their ``up --config
    shell_environment_policy[.KEY]=VALUE`` overrides (see :func:`without_shell_policy`)."""
    from codeswarm.core.sandbox import configured_table

    return {
        SHELL_POLICY: shell_policy(configured_table(home / "config.toml", overrides, SHELL_POLICY))
    }


def without_shell_policy(overrides: Mapping[str, str]) -> dict[str, str]:
    """``overrides`` less the shell policy's: they are folded into :func:`shell_policy`, and as
    ``-c`` flags of their own, after it, they would replace codeswarm's excludes."""
    return {k: v for k, v in overrides.items() if k.partition(".")[0].strip() != SHELL_POLICY}
