"""Config, ids, paths, event types and errors. Cheap to import; no I/O beyond reading config.

The names below load on first use (PEP 562), so importing one submodule, say
``codeswarm.core.errors`` from a hook, does not pay for the others (msgspec, for config).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not `typing`: importing it costs hot paths (hooks, coord CLI) ~6 ms

if TYPE_CHECKING:
    from codeswarm.core.config import Config, load_config
    from codeswarm.core.errors import (
        ClosedError,
        CodeswarmError,
        CodexError,
        ConfigError,
        ProcessExitedError,
        ProtocolError,
        RpcError,
        ScriptError,
        ToolchainError,
        TurnFailedError,
        UsageError,
    )
    from codeswarm.core.events import EVENTS_VERSION, Event
    from codeswarm.core.paths import project_root, state_dir, tools_dir
    from codeswarm.core.versions import CODEX_VERSION

_WHERE = {
    "CODEX_VERSION": "versions",
    "EVENTS_VERSION": "events",
    "Event": "events",
    "Config": "config",
    "load_config": "config",
    "project_root": "paths",
    "state_dir": "paths",
    "tools_dir": "paths",
    "ClosedError": "errors",
    "CodexError": "errors",
    "CodeswarmError": "errors",
    "ConfigError": "errors",
    "ProcessExitedError": "errors",
    "ProtocolError": "errors",
    "RpcError": "errors",
    "ScriptError": "errors",
    "ToolchainError": "errors",
    "TurnFailedError": "errors",
    "UsageError": "errors",
}

__all__ = [
    "CODEX_VERSION",
    "EVENTS_VERSION",
    "ClosedError",
    "CodeswarmError",
    "CodexError",
    "Config",
    "ConfigError",
    "Event",
    "ProcessExitedError",
    "ProtocolError",
    "RpcError",
    "ScriptError",
    "ToolchainError",
    "TurnFailedError",
    "UsageError",
    "load_config",
    "project_root",
    "state_dir",
    "tools_dir",
]


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'codeswarm.core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"codeswarm.core.{module}"), name)
    globals()[name] = value
    return value
