"""The configuration layers, read without validation (stdlib only: hot paths use it to find
the few settings they need before the rest of codeswarm has loaded; :mod:`.config` validates).

Layers, later wins: ``~/.config/codeswarm/config.toml``, ``<project>/codeswarm.toml``,
``CODESWARM_*`` environment variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeswarm.core.errors import ConfigError
from codeswarm.core.paths import project_root, user_config_path

if TYPE_CHECKING:
    from codeswarm.core.config import Config

ENV_ORIGIN = "CODESWARM_* environment variables"

ENV_KEYS: dict[str, tuple[str, str]] = {
    "CODESWARM_CODEX_BIN": ("codex", "bin"),
    "CODESWARM_CODEX_HOME": ("codex", "home"),
    "CODESWARM_MODEL": ("codex", "model"),
    "CODESWARM_APPROVAL_POLICY": ("codex", "approval_policy"),
    "CODESWARM_SANDBOX": ("codex", "sandbox"),
}
"""``CODESWARM_<NAME>`` -> (table, key)."""


def read_toml(path: Path) -> dict[str, Any]:
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from exc
    import tomllib  # only when there is a file to read

    with f:
        try:
            return tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def config_layers(
    start: Path | None = None, env: Mapping[str, str] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """(origin, table) for every layer that says something, lowest first."""
    if env is None:
        env = os.environ
    out: list[tuple[str, dict[str, Any]]] = []
    for path in (user_config_path(), project_root(start) / "codeswarm.toml"):
        layer = read_toml(path)
        if layer:
            out.append((str(path), layer))
    env_layer: dict[str, Any] = {}
    for name, (table, key) in ENV_KEYS.items():
        value = env.get(name)
        if value:
            env_layer.setdefault(table, {})[key] = value
    if env_layer:
        out.append((ENV_ORIGIN, env_layer))
    return out


def raw_setting(
    table: str, key: str, start: Path | None = None, env: Mapping[str, str] | None = None
) -> Any:
    """One merged setting, unvalidated (``None`` when unset)."""
    value: Any = None
    for _origin, layer in config_layers(start, env):
        section = layer.get(table)
        if isinstance(section, dict) and key in section:
            value = section[key]
    return value


def user_codex_home(config: Config | None = None) -> Path:
    """The person's own Codex home (whose login a real model uses, where ``codeswarm install``
    puts the hooks): ``[codex] home`` in the configuration (or ``CODESWARM_CODEX_HOME``), else
    ``$CODEX_HOME``, else ``~/.codex``. Without ``config``, the setting is read unvalidated."""
    configured: object = config.codex.home if config is not None else raw_setting("codex", "home")
    if isinstance(configured, str) and configured:
        return Path(configured).expanduser()
    env = os.environ.get("CODEX_HOME")
    return Path(env).expanduser() if env else Path.home() / ".codex"
