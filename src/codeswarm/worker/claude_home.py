"""A Claude Code agent's own configuration directory and environment (docs/runtimes.md).

``<agent dir>/claude-home`` (0700) is the agent's ``CLAUDE_CONFIG_DIR``: its sessions,
``.claude.json`` and settings live there, never in the person's. It is seeded from the person's
Claude Code login (``.credentials.json``, and the account of their ``.claude.json``), which is
only read. Its settings (:data:`SETTINGS`, given as ``--settings``) hold codeswarm's hooks, each command line carrying the agent's
identity as environment assignments: ``claude``'s own environment (and so its Bash tool's) holds
nothing of codeswarm's. The coordination hub is mounted from ``mcp.json`` (the agent's bearer
token in a header; the file is removed once ``claude`` has read it). The environment is curated
(:func:`claude_env`), and every shell command goes through a wrapper that drops the model's key
(``CLAUDE_CODE_SHELL_PREFIX``, :func:`shell_prefix`).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codeswarm.core.atomic import atomic_write
from codeswarm.hooks import groups

CREDENTIALS = ".credentials.json"
ACCOUNT_FILE = ".claude.json"
ACCOUNT_KEYS = ("oauthAccount", "hasCompletedOnboarding")
"""What of the person's ``.claude.json`` an agent's gets: the account its login belongs to."""
SETTINGS = "codeswarm-settings.json"
"""The agent's hooks, passed as ``--settings`` (not the home's ``settings.json``, which
``claude`` reads as the user's own: each hook would be configured twice)."""
MCP_CONFIG = "mcp.json"
SHELL_WRAPPER = "shell-prefix.sh"
MCP_SERVER = "codeswarm"
ALLOWED_TOOLS = (f"mcp__{MCP_SERVER}",)
"""The coordination tools need no approval (they only touch the coordination store)."""

KEPT_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TMPDIR",
            "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "HTTP_PROXY",
            "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
            "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX")  # fmt: skip
KEPT_PREFIXES = ("LC_", "ANTHROPIC_")
"""What of the worker's environment ``claude`` gets (names, and prefixes of names). Nothing of
codeswarm's (``CODESWARM_*``: the state's paths, the store's URL, tokens) is ever among it."""
OFFLINE_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}
"""A fleet agent talks to its model and nothing else (no telemetry, update check, reports)."""
SECRET_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
"""Never in the agent's shell (``claude`` itself reads them)."""
SHELL_DROPPED = (*SECRET_ENV, "CLAUDE_CONFIG_DIR", "CLAUDE_CODE_SHELL_PREFIX")
"""What the shell wrapper removes: the model's keys, and the paths into the swarm's state."""
FLEET_SKIPPED = ("UserPromptSubmit",)
"""Hooks a person's Claude Code session gets and a fleet agent does not: UserPromptSubmit only
heartbeats the registration, which the agent's worker keeps (a Codex agent has none either), and
it would cost a shell and a Python process before every turn."""
ORCHESTRATOR_TOOL_TIMEOUT_MS = 3_660_000
"""The orchestrator's ``converse`` waits for an answer up to an hour (as for Codex)."""


def prepare_claude_home(home: Path, seed: Path | None) -> list[str]:
    """Create ``home`` (0700) and seed it from the person's Claude Code directory ``seed``
    (read only). Returns what was copied. The login is copied when the agent has none or the
    person's is newer (they logged in again); the account keys of their ``.claude.json`` are set
    in the agent's own (which ``claude`` writes) when missing or changed."""
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    copied: list[str] = []
    if seed is None or not seed.is_dir() or seed.resolve() == home.resolve():
        return copied
    src, dst = seed / CREDENTIALS, home / CREDENTIALS
    if src.is_file() and (not dst.exists() or src.stat().st_mtime > dst.stat().st_mtime):
        atomic_write(dst, src.read_bytes())
        os.chmod(dst, 0o600)
        copied.append(CREDENTIALS)
    account = _account(seed)
    if account:
        mine = _json(home / ACCOUNT_FILE)
        if any(mine.get(k) != v for k, v in account.items()):
            atomic_write(home / ACCOUNT_FILE, json.dumps({**mine, **account}, indent=2).encode())
            os.chmod(home / ACCOUNT_FILE, 0o600)
            copied.append(ACCOUNT_FILE)
    return copied


def _account(seed: Path) -> dict[str, Any]:
    """The account keys of the person's ``.claude.json``: in ``seed`` when that is a
    ``CLAUDE_CONFIG_DIR``, beside it (``~/.claude.json``) when it is ``~/.claude``."""
    for path in (seed / ACCOUNT_FILE, seed.parent / ACCOUNT_FILE):
        doc = _json(path)
        found = {k: doc[k] for k in ACCOUNT_KEYS if k in doc}
        if found:
            return found
    return {}


def _json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def hook_command(command: str, identity: Mapping[str, str]) -> str:
    """A hook command line that runs with the agent's ``identity`` (``NAME=value`` assignments
    before it: the hooks' shell passes them to the hook process only)."""
    assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in identity.items())
    return f"{assigns} {command}" if assigns else command


def settings(identity: Mapping[str, str], project: str) -> dict[str, Any]:
    """The agent's settings (:data:`SETTINGS`): codeswarm's hooks (:func:`~codeswarm.hooks.groups`)
    with the agent's identity in each command line (``identity`` empty: no hooks, an uncoordinated
    swarm), and no edits under the project's ``.claude/`` (where project settings could switch
    hooks off for a person's own session; the agent reads only its user settings)."""
    doc: dict[str, Any] = {}
    if identity:
        hooks: dict[str, Any] = {}
        for event, group in groups("claude").items():
            if event in FLEET_SKIPPED:
                continue
            handlers = group["hooks"]
            assert isinstance(handlers, list)
            mine = [{**h, "command": hook_command(str(h["command"]), identity)} for h in handlers]
            hooks[event] = [{**group, "hooks": mine}]
        doc["hooks"] = hooks
    guarded = f"/{project.rstrip('/')}/.claude/**"  # "//abs/path": an absolute path
    doc["permissions"] = {"deny": [f"{tool}({guarded})" for tool in ("Edit", "Write")]}
    return doc


def write_settings(home: Path, identity: Mapping[str, str], project: str) -> Path:
    """Write :func:`settings` as ``home/``:data:`SETTINGS` (0600); returns its path."""
    path = home / SETTINGS
    atomic_write(path, (json.dumps(settings(identity, project), indent=2) + "\n").encode())
    os.chmod(path, 0o600)
    return path


def write_mcp_config(home: Path, url: str, token: str) -> Path:
    """Write ``home/mcp.json`` (0600): the coordination hub at ``url``, the agent's bearer
    ``token`` in its header. Remove it (:func:`forget_mcp_config`) once ``claude`` is up."""
    doc = {"mcpServers": {MCP_SERVER: {"type": "http", "url": url,
                                       "headers": {"Authorization": f"Bearer {token}"}}}}  # fmt: skip
    path = home / MCP_CONFIG
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        json.dump(doc, f)
    return path


def forget_mcp_config(home: Path) -> None:
    """Remove ``home/mcp.json`` (``claude`` read it at start; the token stays out of reach)."""
    (home / MCP_CONFIG).unlink(missing_ok=True)


def shell_prefix(home: Path) -> Path:
    """Write (once) the wrapper every shell command of the agent runs through
    (``CLAUDE_CODE_SHELL_PREFIX``: the command line arrives as one argument): it drops
    :data:`SHELL_DROPPED` and runs the command with ``/bin/bash``."""
    path = home / SHELL_WRAPPER
    unset = " ".join(f"-u {name}" for name in SHELL_DROPPED)
    text = f'#!/bin/sh\nexec env {unset} /bin/bash -c "$1"\n'
    if not path.is_file() or path.read_text() != text:
        atomic_write(path, text.encode())
    os.chmod(path, 0o700)
    return path


def claude_env(
    environ: Mapping[str, str], model_env: Mapping[str, str], home: Path, *, role: str
) -> dict[str, str]:
    """The complete environment of the agent's ``claude``: what :data:`KEPT_ENV` and
    :data:`KEPT_PREFIXES` keep of ``environ`` (never ``CODESWARM_*``), the model's variables
    (``model_env``: the scripted model's base URL and key, or nothing for the person's login),
    :data:`OFFLINE_ENV` and the shell wrapper."""
    env = {
        k: v
        for k, v in environ.items()
        if (k in KEPT_ENV or k.startswith(KEPT_PREFIXES)) and not k.startswith("CODESWARM_")
    }
    if model_env:  # the scripted model: the person's keys and endpoints are not for it
        env = {k: v for k, v in env.items() if not _model_var(k)}
    env.update(model_env)
    env.update(OFFLINE_ENV)
    env["CLAUDE_CODE_SHELL_PREFIX"] = str(shell_prefix(home))
    if role == "orchestrator":
        env["MCP_TOOL_TIMEOUT"] = str(ORCHESTRATOR_TOOL_TIMEOUT_MS)
    return env


def _model_var(name: str) -> bool:
    return (
        name.startswith("ANTHROPIC_") or name in SECRET_ENV or name.startswith("CLAUDE_CODE_USE_")
    )
