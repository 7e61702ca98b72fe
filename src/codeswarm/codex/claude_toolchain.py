"""Install and locate the pinned Claude Code CLI (``@anthropic-ai/claude-code``).

codeswarm's hooks and MCP server join a person's own Claude Code session; the test suite runs
the real ``claude`` against the scripted model (Messages API). Installed like the pinned Codex:
per person, under ``$XDG_CACHE_HOME/codeswarm/tools/claude-<version>``, with npm, never globally.

The package is a native binary (``bin/claude.exe``, Bun inside) that npm's postinstall links in
from a platform package; Node only runs the install. ``CLAUDE_VERSION`` is the last version whose
``engines.node`` is ``>=18`` (later ones declare ``>=22``), so npm installs it on Node 20 without
an ``EBADENGINE`` warning.

Lookup order: ``CODESWARM_CLAUDE_BIN``, the managed prefix, then ``claude`` on ``PATH`` (only of
the pinned version).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NamedTuple

from codeswarm.core.errors import ToolchainError
from codeswarm.core.paths import tools_dir
from codeswarm.core.versions import CLAUDE_VERSION as CLAUDE_VERSION

CLAUDE_PACKAGE = "@anthropic-ai/claude-code"
CLAUDE_BIN_ENV = "CODESWARM_CLAUDE_BIN"


class ClaudeBinary(NamedTuple):
    """A runnable Claude Code CLI and its version."""

    path: Path
    version: str
    source: str  # "env", "managed" or "path"


def managed_prefix(version: str = CLAUDE_VERSION) -> Path:
    """The npm prefix of the managed install of ``version``."""
    return tools_dir() / f"claude-{version}"


def probe_version(executable: Path) -> str:
    """Run ``claude --version`` and return the version number it prints."""
    from codeswarm.codex import npm

    return npm.probe_version(executable, {"DISABLE_AUTOUPDATER": "1"})


def _describe(path: Path, source: str) -> ClaudeBinary:
    if not path.exists():
        raise ToolchainError(f"claude binary {path} does not exist")
    if not os.access(path, os.X_OK):
        raise ToolchainError(f"claude binary {path} is not executable")
    return ClaudeBinary(path, probe_version(path), source)


def locate(*, check_version: bool = True) -> ClaudeBinary:
    """Find the Claude Code CLI to use, or raise :class:`ToolchainError` saying what is missing."""
    configured = os.environ.get(CLAUDE_BIN_ENV)
    managed = managed_prefix() / "node_modules" / ".bin" / "claude"
    if configured:
        found = _describe(Path(configured).expanduser(), "env")
    elif managed.exists():
        found = _describe(managed, "managed")
    else:
        on_path = shutil.which("claude")
        if on_path is None:
            raise ToolchainError(
                f"no Claude Code CLI found: run 'codeswarm toolchain install --claude' (installs "
                f"{CLAUDE_PACKAGE}@{CLAUDE_VERSION} under {managed_prefix()}), or set "
                f"{CLAUDE_BIN_ENV}"
            )
        found = _describe(Path(on_path), "path")
    if check_version and found.version != CLAUDE_VERSION:
        raise ToolchainError(
            f"claude at {found.path} is version {found.version}, codeswarm is tested with "
            f"{CLAUDE_VERSION}: run 'codeswarm toolchain install --claude'"
        )
    return found


def install(version: str = CLAUDE_VERSION, *, force: bool = False) -> ClaudeBinary:
    """Install ``@anthropic-ai/claude-code@version`` with npm into the managed prefix, as Codex
    is installed (:mod:`codeswarm.codex.npm`: staged, renamed into place, under a lock)."""
    from codeswarm.codex import npm

    prefix = managed_prefix(version)
    binary = prefix / "node_modules" / ".bin" / "claude"

    def installed() -> bool:
        return binary.exists() and _describe(binary, "managed").version == version

    npm.install_package(CLAUDE_PACKAGE, version, prefix, name="claude", installed=installed,
                        force=force)  # fmt: skip
    found = _describe(binary, "managed")
    if found.version != version:
        raise ToolchainError(f"npm installed claude {found.version}, expected {version}")
    return found
