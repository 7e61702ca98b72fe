"""Claude Code agents: the real ``claude`` CLI, one long-lived stream-json process per agent,
behind a Codex facade (:class:`ClaudeSession`) whose notifications are Codex's (:class:`View`).

Names load on first use (PEP 562), like :mod:`codeswarm.codex`.
"""

from __future__ import annotations

from codeswarm.core.lazy import lazy_names

TYPE_CHECKING = False  # not `typing` at run time
if TYPE_CHECKING:
    from codeswarm.claude.codexview import View, turns_from_transcript
    from codeswarm.claude.launch import ClaudeLaunch, project_dir_name
    from codeswarm.claude.session import ClaudeSession, turn_id_for

_WHERE = {
    "ClaudeLaunch": "claude.launch",
    "ClaudeSession": "claude.session",
    "View": "claude.codexview",
    "project_dir_name": "claude.launch",
    "turn_id_for": "claude.session",
    "turns_from_transcript": "claude.codexview",
}

__all__ = [
    "ClaudeLaunch",
    "ClaudeSession",
    "View",
    "project_dir_name",
    "turn_id_for",
    "turns_from_transcript",
]

__getattr__ = lazy_names(__name__, _WHERE, globals())
