"""Config, ids, paths, event types and errors. Cheap to import; no I/O beyond reading config.

The names below load on first use (PEP 562), so importing one submodule, say
``codeswarm.core.errors`` from a hook, does not pay for the others (msgspec, for config).
"""

from __future__ import annotations

from codeswarm.core.lazy import lazy_names

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
    "CODEX_VERSION": "core.versions",
    "EVENTS_VERSION": "core.events",
    "Event": "core.events",
    "Config": "core.config",
    "load_config": "core.config",
    "project_root": "core.paths",
    "state_dir": "core.paths",
    "tools_dir": "core.paths",
    "ClosedError": "core.errors",
    "CodexError": "core.errors",
    "CodeswarmError": "core.errors",
    "ConfigError": "core.errors",
    "ProcessExitedError": "core.errors",
    "ProtocolError": "core.errors",
    "RpcError": "core.errors",
    "ScriptError": "core.errors",
    "ToolchainError": "core.errors",
    "TurnFailedError": "core.errors",
    "UsageError": "core.errors",
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


__getattr__ = lazy_names(__name__, _WHERE, globals())
