"""Configuration: ``codeswarm.toml`` in the project, the user's ``config.toml``, ``CODESWARM_*``
environment variables, then CLI flags; later wins.

Only reading happens here; :func:`load_config` raises :class:`ConfigError` with the file and key at
fault, never a parser's traceback.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from codeswarm.core.errors import ConfigError
from codeswarm.core.paths import project_root, user_config_path

CODEX_VERSION = "0.169.0"
"""The Codex CLI version codeswarm is built and tested against."""

ApprovalPolicy = Literal["untrusted", "on-request", "never"]
Sandbox = Literal["read-only", "workspace-write", "danger-full-access"]


class CodexConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    bin: str | None = None
    """An explicit codex binary; wins over every other way of finding one."""
    home: str | None = None
    """The Codex home whose login (auth.json) and config seed agents; default ``~/.codex``."""
    model: str = "gpt-5.5"
    approval_policy: ApprovalPolicy = "on-request"
    sandbox: Sandbox = "workspace-write"


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    codex: CodexConfig = msgspec.field(default_factory=CodexConfig)


# CODESWARM_<NAME> -> (table, key)
_ENV_KEYS: dict[str, tuple[str, str]] = {
    "CODESWARM_CODEX_BIN": ("codex", "bin"),
    "CODESWARM_CODEX_HOME": ("codex", "home"),
    "CODESWARM_MODEL": ("codex", "model"),
    "CODESWARM_APPROVAL_POLICY": ("codex", "approval_policy"),
    "CODESWARM_SANDBOX": ("codex", "sandbox"),
}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _convert(raw: dict[str, Any], origin: str) -> Config:
    try:
        return msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{origin}: {exc}") from exc


def load_config(start: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Merge every configuration layer below the CLI flags and validate the result."""
    if env is None:
        env = os.environ
    merged: dict[str, Any] = {}
    for path in (user_config_path(), project_root(start) / "codeswarm.toml"):
        layer = _read_toml(path)
        if layer:
            _convert(layer, str(path))  # name the file at fault
            merged = _merge(merged, layer)
    env_layer: dict[str, Any] = {}
    for name, (table, key) in _ENV_KEYS.items():
        value = env.get(name)
        if value:
            env_layer.setdefault(table, {})[key] = value
    if env_layer:
        _convert(env_layer, "CODESWARM_* environment variables")
        merged = _merge(merged, env_layer)
    return _convert(merged, "configuration")
