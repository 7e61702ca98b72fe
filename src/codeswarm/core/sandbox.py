"""What an agent's sandbox lets it write, and which of codeswarm's own files that exposes.

Codex's ``workspace-write`` sandbox (Linux, 0.169) lets a shell write the working directory, ``/tmp``
(unless ``sandbox_workspace_write.exclude_slash_tmp``), ``/dev/shm``, ``$TMPDIR`` (unless
``exclude_tmpdir_env_var``) and ``sandbox_workspace_write.writable_roots``; ``read-only`` lets it
write nothing; ``danger-full-access`` everything. The state of a swarm (the store, mailboxes, run
directory) and the code codeswarm runs outside the sandbox (its hooks, its MCP server, Codex itself)
must not be in reach (docs/security/state.md); ``up`` says so when they are (:func:`exposures`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

WORKSPACE_TABLE = "sandbox_workspace_write"


def configured_table(
    config_toml: Path | None, overrides: Mapping[str, str], name: str
) -> dict[str, Any]:
    """Codex's ``[name]`` table as the agent's Codex will read it: the table in ``config_toml``,
    then the ``-c name[.KEY]=VALUE`` overrides (values are TOML, else a string, as Codex reads
    them). An unreadable file counts as nothing (Codex itself reports it)."""
    import tomllib

    table: dict[str, Any] = {}
    if config_toml is not None:
        try:
            found = tomllib.loads(config_toml.read_text()).get(name)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            found = None
        if isinstance(found, dict):
            table.update(found)
    for key, text in overrides.items():
        head, _, field = key.partition(".")
        if head.strip() != name:
            continue
        try:
            value: Any = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        if not field:
            table = dict(value) if isinstance(value, dict) else {}
        else:
            table[field.strip()] = value
    return table


def writable_roots(
    sandbox: str, cwd: str, workspace: Mapping[str, Any], env: Mapping[str, str]
) -> list[Path] | None:
    """The directories an agent's shell may write under ``sandbox`` (``None``: everything), given
    the ``sandbox_workspace_write`` table and the agent's environment (for ``$TMPDIR``)."""
    if sandbox == "danger-full-access":
        return None
    if sandbox != "workspace-write":
        return []
    roots = [cwd, "/dev/shm"]
    if workspace.get("exclude_slash_tmp") is not True:
        roots.append("/tmp")
    if workspace.get("exclude_tmpdir_env_var") is not True and env.get("TMPDIR"):
        roots.append(env["TMPDIR"])
    extra = workspace.get("writable_roots")
    if isinstance(extra, list):
        roots += [r for r in extra if isinstance(r, str) and os.path.isabs(r)]
    return [Path(os.path.realpath(r)) for r in roots]


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def exposures(roots: list[Path] | None, sandbox: str, guarded: Mapping[str, Path]) -> list[str]:
    """One warning per writable root that holds something of ``guarded`` (what -> path), given
    the agents' ``roots`` (:func:`writable_roots`); one for all under ``danger-full-access``."""
    if roots is None:
        return [
            f"the agents' sandbox is {sandbox}: it protects nothing; any agent can rewrite the "
            "coordination store, a peer's inbox and codeswarm itself (leases are advisory)"
        ]
    found: dict[Path, list[str]] = {}
    for what, path in guarded.items():
        real = Path(os.path.realpath(path))
        root = next((r for r in roots if _within(real, r)), None)
        if root is not None:
            found.setdefault(root, []).append(f"{what} ({path})")
    return [
        f"{' and '.join(things)} {'is' if len(things) == 1 else 'are'} inside {root}, which the "
        f"agents' {sandbox} sandbox can write: an agent could get around its leases and act as "
        "its peers (docs/security/state.md; CODESWARM_STATE_DIR moves the state)"
        for root, things in found.items()
    ]
