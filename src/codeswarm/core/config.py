"""Configuration: ``codeswarm.toml`` in the project, the user's ``config.toml``, ``CODESWARM_*``
environment variables, then CLI flags; later wins.

Only reading happens here; :func:`load_config` raises :class:`ConfigError` with the file and key at
fault, never a parser's traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from codeswarm.core import defaults
from codeswarm.core.errors import ConfigError
from codeswarm.core.layers import config_layers, merge
from codeswarm.core.versions import CODEX_VERSION

__all__ = ["CODEX_VERSION", "CodexConfig", "Config", "CoordConfig", "load_config"]

ApprovalPolicy = Literal["untrusted", "on-request", "never"]
Sandbox = Literal["read-only", "workspace-write", "danger-full-access"]


class CodexConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    bin: str | None = None
    """An explicit codex binary; wins over every other way of finding one."""
    home: str | None = None
    """The Codex home whose login (auth.json) and config seed agents; default ``~/.codex``."""
    model: str = defaults.MODEL
    approval_policy: ApprovalPolicy = defaults.APPROVAL_POLICY
    sandbox: Sandbox = defaults.SANDBOX
    retry_deadline: float = defaults.RETRY_DEADLINE
    """Seconds a turn may do nothing but retry an unreachable model before it is given up
    (``exec``, and the agents of a swarm started by ``up``)."""
    auto_install: bool = True
    """Install the pinned Codex CLI when a command needs it and it is missing (with a progress
    bar); ``$CODESWARM_AUTO_INSTALL`` wins over it."""


class CoordConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    db: str | None = None
    """The coordination database: ``postgresql://…``, ``sqlite:///path`` or a file path
    (default ``<state dir>/coord.db``); ``$CODESWARM_DB`` wins over it."""


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    codex: CodexConfig = msgspec.field(default_factory=CodexConfig)
    coord: CoordConfig = msgspec.field(default_factory=CoordConfig)


def _convert(raw: dict[str, Any], origin: str) -> Config:
    try:
        return msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{origin}: {exc}") from exc


def load_config(start: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Merge every configuration layer below the CLI flags and validate the result; an invalid
    layer raises :class:`ConfigError` naming it."""
    merged: dict[str, Any] = {}
    for origin, layer in config_layers(start, env):
        _convert(layer, origin)  # name the file (or the environment) at fault
        merged = merge(merged, layer)
    return _convert(merged, "configuration")
