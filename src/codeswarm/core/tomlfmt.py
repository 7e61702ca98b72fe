"""Python values as inline TOML, for Codex's ``-c key=value`` overrides, and the overrides a person
passes as ``--config KEY=VALUE`` (stdlib only)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from codeswarm.core.errors import UsageError

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def toml_key(key: str) -> str:
    """A table key, quoted when it is not a bare key."""
    return key if _BARE_KEY.match(key) else toml_value(key)


def toml_value(value: Any) -> str:
    """An inline TOML value. Raises ``TypeError`` for what TOML cannot express (None, NaN)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"TOML has no {value!r} here")
        return repr(value)
    if isinstance(value, str):
        # JSON string escapes are valid TOML basic-string escapes; TOML also forbids a raw DEL
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return (
            "{" + ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
        )
    raise TypeError(f"cannot express {type(value).__name__} in TOML")


def config_flags(overrides: Mapping[str, Any]) -> list[str]:
    """``-c key=value`` arguments for every override (dotted keys are kept as written)."""
    flags: list[str] = []
    for key, value in overrides.items():
        flags += ["-c", f"{key}={toml_value(value)}"]
    return flags


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``--config KEY=VALUE`` flags as ``{KEY: VALUE}``: the key stripped, the value kept as written
    (Codex parses it as TOML), a repeated key's last value wins. Raises :class:`UsageError` for an
    item without ``=`` or without a key."""
    overrides: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--config wants KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value
    return overrides
