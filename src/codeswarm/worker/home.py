"""Each agent's own ``CODEX_HOME``: seeded from the person's, never shared with it.

The agent gets a copy of the person's login (``auth.json``) and ``config.toml`` so a real model
works exactly as in their own ``codex``; Codex writes its sessions, state and trust decisions into
the agent's home only. The person's Codex home is never written by any agent (the seed project
pointed every agent at ``~/.codex``, writable).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from codeswarm.core.atomic import atomic_write

SEEDED = ("auth.json", "config.toml")

PLUGINS_OFF = {"features.plugins": False}
"""Codex's plugins feature (on by default) syncs the curated plugin marketplace into the agent's
own ``CODEX_HOME`` at every start (``git ls-remote``, a clone when reachable, of
github.com/openai/plugins): in every agent, ≈ 5 ticks (10 ms) of CPU more per Codex by 1 s after
``thread/start`` (15 → 20, 16 at once), beside the network. An agent's home has none of the
person's installed plugins: off unless they chose (:func:`plugin_overrides`)."""


def prepare_codex_home(home: Path, seed: Path | None) -> list[str]:
    """Create ``home`` (0700) and copy the seed files it lacks (0600). Returns what was copied.

    The login is refreshed when the person's copy is newer (they logged in again); the config is
    copied once and then belongs to the agent (codeswarm writes hook trust into it)."""
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    copied: list[str] = []
    if seed is None or not seed.is_dir() or seed.resolve() == home.resolve():
        return copied
    for name in SEEDED:
        src, dst = seed / name, home / name
        if not src.is_file():
            continue
        fresh = not dst.exists()
        newer = name == "auth.json" and dst.exists() and src.stat().st_mtime > dst.stat().st_mtime
        if fresh or newer:
            atomic_write(dst, src.read_bytes())
            copied.append(name)
    _without_personal_block(home / "config.toml")
    return copied


def _without_personal_block(config: Path) -> None:
    """Drop what ``codeswarm install codex`` put in the person's config: their session's stdio
    MCP server and hook trust (the fleet mounts its own coordination hub by URL, and Codex
    refuses a table with both a ``command`` and a ``url``: "url is not supported for stdio"),
    and the trust of a project's hooks (``--scope project``: the person's session's hooks, with
    its role, would run in the agent beside the agent's own)."""
    from codeswarm.hooks.install import TRUST_BEGIN_PREFIX, toml_without

    try:
        text = config.read_text()
    except (FileNotFoundError, UnicodeDecodeError):
        return
    cleaned = toml_without(text)
    while (start := cleaned.find(TRUST_BEGIN_PREFIX)) >= 0:
        end = cleaned.find("\n", start)
        cleaned = toml_without(cleaned, cleaned[start : end if end >= 0 else len(cleaned)])
    if cleaned != text:
        atomic_write(config, cleaned.encode())


def plugin_overrides(home: Path, overrides: Mapping[str, str]) -> dict[str, bool]:
    """:data:`PLUGINS_OFF` unless the person chose: ``features.plugins`` in the agent's
    ``config.toml`` (seeded from theirs) or in their ``up --config`` overrides, which then stand."""
    from codeswarm.core.sandbox import configured_table

    chosen = configured_table(home / "config.toml", overrides, "features")
    return {} if "plugins" in chosen else dict(PLUGINS_OFF)
