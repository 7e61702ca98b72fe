"""Config, ids, paths, event types and errors. Cheap to import; no I/O beyond reading config."""

from codeswarm.core.config import CODEX_VERSION, Config, load_config
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
