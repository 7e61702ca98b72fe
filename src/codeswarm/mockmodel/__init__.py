"""The scripted model: a Responses-API, Messages-API and Chat-Completions server that lets the
real Codex CLI, the real Claude Code CLI and the real OpenClaw run offline.

Scripts say, per agent, what the model answers to each request (text, shell commands, patches and
edits, MCP tool calls, failures, delays, token usage), the same script for either client. See
``docs/scripted-model.md``.

Names load on first use (PEP 562): ``codeswarm.mockmodel.overrides`` stays cheap to import for
the paths that point Codex at the model before the server (Starlette, uvicorn) has loaded.
"""

from __future__ import annotations

from codeswarm.core.lazy import lazy_names

TYPE_CHECKING = False  # not `typing` at run time: hot paths import this package

if TYPE_CHECKING:
    from codeswarm.mockmodel.overrides import MODEL, PROVIDER_ID, codex_overrides, to_codex_flags
    from codeswarm.mockmodel.script import (
        EXHAUSTED_TEXT,
        Entry,
        ExecCall,
        Playback,
        Script,
        Usage,
        latest_user_text,
        load_script,
    )
    from codeswarm.mockmodel.server import DEFAULT_AGENT, MockModel

_WHERE = {
    "MODEL": "mockmodel.overrides",
    "PROVIDER_ID": "mockmodel.overrides",
    "codex_overrides": "mockmodel.overrides",
    "to_codex_flags": "mockmodel.overrides",
    "EXHAUSTED_TEXT": "mockmodel.script",
    "Entry": "mockmodel.script",
    "ExecCall": "mockmodel.script",
    "Playback": "mockmodel.script",
    "Script": "mockmodel.script",
    "Usage": "mockmodel.script",
    "latest_user_text": "mockmodel.script",
    "load_script": "mockmodel.script",
    "DEFAULT_AGENT": "mockmodel.server",
    "MockModel": "mockmodel.server",
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
    "codex_overrides",
    "latest_user_text",
    "load_script",
    "to_codex_flags",
]


__getattr__ = lazy_names(__name__, _WHERE, globals())
