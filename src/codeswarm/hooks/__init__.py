"""Codex and Claude Code hook entry points (``python -m codeswarm.hooks CLIENT EVENT``).

Imports almost nothing: they run on every tool call. See docs/hooks.md."""

import os as _os
import sys as _sys

ENTRY = _os.path.join(_os.path.dirname(__file__), "__main__.py")
"""Run hooks as ``<python> ENTRY CLIENT EVENT``: a script path, not ``-m`` (runpy costs ~5 ms
on every tool call)."""

WRITE_TOOLS = {"Write": "file_path", "Edit": "file_path", "MultiEdit": "file_path",
               "NotebookEdit": "notebook_path"}  # fmt: skip
"""Claude Code's editing tools and the input field that names the file."""
SHELL_TOOLS = frozenset({"Bash", "shell", "exec_command", "local_shell"})
GUARDED_TOOLS = frozenset({"apply_patch", *WRITE_TOOLS, *SHELL_TOOLS})
"""Tools that may write files: the only ones PreToolUse/PostToolUse look at."""


def command(client: str, event: str) -> str:
    """The hook command line for ``client`` (codex | claude) and ``event``: this interpreter by
    absolute path (no shim, no PATH lookup), the entry point by file."""
    return f"{_sys.executable} {ENTRY} {client} {event}"


EVENTS = {"SessionStart": "session-start", "PreToolUse": "pre-tool-use",
          "PostToolUse": "post-tool-use", "Stop": "stop", "SessionEnd": "session-end"}  # fmt: skip
"""Hook event (as configured in Codex and Claude Code) -> our event argument."""
CLAUDE_EVENTS = {**EVENTS, "UserPromptSubmit": "user-prompt-submit"}
TIMEOUT_S = 30
SESSION_END_TIMEOUT_S = 3
"""Codex clamps a SessionEnd hook to 3 s (and reports an error item when it has to)."""


def groups(client: str) -> dict[str, dict[str, object]]:
    """codeswarm's hook group for every event ``client`` (codex | claude) gets, as it appears in
    ``hooks.json`` / ``settings.json``: ``{event: {"matcher"?, "hooks": [command]}}``."""
    events = CLAUDE_EVENTS if client == "claude" else EVENTS
    matcher = "*" if client == "codex" else "|".join([*WRITE_TOOLS, "Bash"])
    out: dict[str, dict[str, object]] = {}
    for name, event in events.items():
        group: dict[str, object] = (
            {"matcher": matcher} if name in ("PreToolUse", "PostToolUse") else {}
        )
        timeout = SESSION_END_TIMEOUT_S if (client, name) == ("codex", "SessionEnd") else TIMEOUT_S
        group["hooks"] = [
            {"type": "command", "command": command(client, event), "timeout": timeout}
        ]
        out[name] = group
    return out


def is_ours(hook_command: object) -> bool:
    """Whether a configured hook command runs codeswarm's hooks (by file or as a module)."""
    text = str(hook_command)
    return ENTRY in text or "codeswarm/hooks/__main__.py" in text or "-m codeswarm.hooks" in text
