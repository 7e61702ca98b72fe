"""The scripted model: a Responses-API server that lets the real Codex CLI run offline.

Scripts say, per agent, what the model answers to each request (text, ``exec_command`` and
``apply_patch`` calls, MCP tool calls, failures, delays, token usage). See
``docs/scripted-model.md``.
"""

from codeswarm.mockmodel.overrides import PROVIDER_ID, codex_overrides, to_codex_flags
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
from codeswarm.mockmodel.sse import MODEL

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
