"""The Codex configuration that points Codex at a scripted model, and its ``-c`` flag form."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

from codeswarm.mockmodel.sse import MODEL

PROVIDER_ID: Final = "codeswarm-mock"
"""The ``model_provider`` name the overrides define."""

PROVIDER_NAME: Final = "codeswarm scripted model"

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def codex_overrides(base_url: str) -> dict[str, Any]:
    """Codex config overrides (dotted keys, as for ``-c``) that make Codex use ``base_url``.

    No ``env_key``: Codex then sends no Authorization header and needs no login. Retries are off
    so a scripted failure is seen once, and plugins are off so Codex reaches for no outside host.
    """
    return {
        "model_provider": PROVIDER_ID,
        "model": MODEL,
        f"model_providers.{PROVIDER_ID}": {
            "name": PROVIDER_NAME,
            "base_url": base_url,
            "wire_api": "responses",
            "supports_websockets": False,
            "request_max_retries": 0,
            "stream_max_retries": 0,
        },
        "features.plugins": False,
    }


def to_codex_flags(cfg: Mapping[str, Any]) -> list[str]:
    """``["-c", "key=<toml>", ...]`` for ``codex exec`` / ``codex app-server``, in ``cfg``'s order.

    Keys are dotted paths and used as they are; values become TOML (strings, numbers, booleans,
    lists, inline tables). Raises TypeError for a value TOML cannot express (None, NaN, ...).
    """
    flags: list[str] = []
    for key, value in cfg.items():
        flags += ["-c", f"{key}={toml_value(value)}"]
    return flags


def toml_value(value: Any) -> str:
    """One value as TOML text (inline form)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"TOML cannot express {value!r} here")
        return repr(value)
    if isinstance(value, str):
        # JSON string escapes are valid TOML basic-string escapes; TOML also forbids a raw DEL
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"TOML cannot express a {type(value).__name__} value: {value!r}")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_value(key)
