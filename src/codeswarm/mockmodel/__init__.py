"""The scripted model: a Responses-API server that lets the real Codex CLI run offline.

Scripts say, per agent, what the model answers to each request (text, ``exec_command`` and
``apply_patch`` calls, MCP tool calls, failures, delays, token usage). See
``docs/scripted-model.md``.

Names load on first use (PEP 562): ``codeswarm.mockmodel.overrides`` stays cheap to import for
the paths that point Codex at the model before the server (Starlette, uvicorn) has loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codeswarm.mockmodel.overrides import MODEL, PROVIDER_ID, codex_overrides, to_codex_flags
    from codeswarm.mockmodel.script import (
        EXHAUSTED_TEXT,
        Entry,
        ExecCall,
        Playback,
        Script,
        Usage,
        agent_rank,
        latest_user_text,
        load_script,
    )
    from codeswarm.mockmodel.server import DEFAULT_AGENT, MockModel

_WHERE = {
    "MODEL": "overrides",
    "PROVIDER_ID": "overrides",
    "codex_overrides": "overrides",
    "to_codex_flags": "overrides",
    "EXHAUSTED_TEXT": "script",
    "Entry": "script",
    "ExecCall": "script",
    "Playback": "script",
    "Script": "script",
    "Usage": "script",
    "agent_rank": "script",
    "latest_user_text": "script",
    "load_script": "script",
    "DEFAULT_AGENT": "server",
    "MockModel": "server",
}

__all__ = [
    "DEFAULT_AGENT",
    "EXHAUSTED_TEXT",
    "MODEL",
    "PROVIDER_ID",
    "Entry",
    "ExecCall",
    "MockModel",
    "Playback",
    "Script",
    "Usage",
    "agent_rank",
    "codex_overrides",
    "latest_user_text",
    "load_script",
    "to_codex_flags",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'codeswarm.mockmodel' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"codeswarm.mockmodel.{module}"), name)
    globals()[name] = value
    return value
