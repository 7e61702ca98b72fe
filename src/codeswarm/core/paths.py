"""Where codeswarm keeps its state on disk.

The state directory is ``$CODESWARM_STATE_DIR`` when set, otherwise ``<project>/.codeswarm`` where
``<project>`` is the nearest ancestor of the working directory holding ``codeswarm.toml``, a
``.codeswarm`` directory or a ``.git`` entry (the working directory itself when there is none).
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_NAME = ".codeswarm"
_PROJECT_MARKERS = ("codeswarm.toml", STATE_DIR_NAME, ".git")


def project_root(start: Path | None = None) -> Path:
    """The project directory that holds ``start`` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if any((candidate / marker).exists() for marker in _PROJECT_MARKERS):
            return candidate
    return here


def state_dir(start: Path | None = None) -> Path:
    """The state directory; not created here."""
    env = os.environ.get("CODESWARM_STATE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return project_root(start) / STATE_DIR_NAME


def tools_dir(start: Path | None = None) -> Path:
    """Where managed toolchains (the pinned Codex CLI) are installed."""
    return state_dir(start) / "tools"


def user_config_path() -> Path:
    """``$XDG_CONFIG_HOME/codeswarm/config.toml`` (default ``~/.config/...``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "codeswarm" / "config.toml"
