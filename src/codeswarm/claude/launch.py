"""How one Claude Code agent's ``claude`` process is started: its command line and environment.

Verified against the real CLI 2.1.197 (2026-11-30, scripted Messages API, throwaway config dir):

- ``claude -p --input-format stream-json --output-format stream-json --verbose`` is one
  long-lived process: one ``user`` line on stdin per turn, one ``result`` line per turn.
  ``--include-partial-messages`` adds ``stream_event`` lines (the raw API events, text deltas
  among them); ``--replay-user-messages`` echoes each input line back (``isReplay: true``, with
  the input line's ``uuid``), but only once the model's first answer arrives, not at once.
- ``--session-id U`` starts session ``U``; ``--resume U`` continues it under the same id, also in
  stream-json input mode (history kept).
- The transcript is ``$CLAUDE_CONFIG_DIR/projects/<cwd, every character outside [A-Za-z0-9]
  turned into "-">/<U>.jsonl`` (``/tmp/a/my_proj.v1`` → ``-tmp-a-my-proj-v1``); the input
  line's ``uuid`` is kept as the transcript entry's ``uuid``.
- ``--permission-prompt-tool stdio`` turns every permission prompt into a ``can_use_tool``
  ``control_request`` on stdout, answered by a ``control_response`` on stdin.
- ``--setting-sources user`` with ``--settings F``: only the config dir's settings and ``F``
  (a project's ``.claude/settings*.json`` cannot switch the hooks off).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

OFFLINE_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}
"""Added unless the caller's environment sets them: with these Claude Code connects to nothing
but its model (``ANTHROPIC_BASE_URL``)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9]")


def project_dir_name(cwd: Path | str) -> str:
    """The directory under ``projects/`` where Claude Code keeps the sessions of ``cwd``."""
    return _UNSAFE.sub("-", str(cwd))


@dataclass(frozen=True)
class ClaudeLaunch:
    """Everything one agent's ``claude`` process is started with."""

    binary: Path
    cwd: Path
    config_dir: Path
    """Becomes ``CLAUDE_CONFIG_DIR``: settings, the login, the transcripts."""
    env: dict[str, str]
    """The complete environment ``claude`` gets (curated by the caller: its shell, hooks and MCP
    servers inherit all of it); :meth:`process_env` adds only what is missing."""
    session_id: str
    settings: Path | None = None
    """``--settings F --setting-sources user``."""
    mcp_config: Path | None = None
    """``--mcp-config F --strict-mcp-config``."""
    allowed_tools: tuple[str, ...] = ()
    permission_mode: str = "acceptEdits"
    model: str | None = None
    stderr_log: Path | None = None
    extra_args: tuple[str, ...] = ()

    def transcript_path(self) -> Path:
        """The session's transcript. Where Claude Code shortens a long project directory name
        its own way, the file is found by the session id (unique) instead."""
        projects = self.config_dir / "projects"
        path = projects / project_dir_name(self.cwd) / f"{self.session_id}.jsonl"
        if not path.exists() and projects.is_dir():
            for found in projects.glob(f"*/{self.session_id}.jsonl"):
                return found
        return path

    def resuming(self) -> bool:
        """The session exists already (its transcript does): ``--resume``, not ``--session-id``."""
        return self.transcript_path().exists()

    def argv(self) -> list[str]:
        """The command line: stream-json in and out, partial messages, replayed user messages,
        permission prompts on stdio, then the session and the caller's options."""
        argv = [
            str(self.binary),
            "-p",
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
            "--include-partial-messages",
            "--replay-user-messages",
            "--permission-prompt-tool",
            "stdio",
            "--permission-mode",
            self.permission_mode,
            "--resume" if self.resuming() else "--session-id",
            self.session_id,
        ]
        if self.settings is not None:
            argv += ["--settings", str(self.settings), "--setting-sources", "user"]
        if self.mcp_config is not None:
            argv += ["--mcp-config", str(self.mcp_config), "--strict-mcp-config"]
        if self.model is not None:
            argv += ["--model", self.model]
        if self.allowed_tools:
            argv += ["--allowedTools", *self.allowed_tools]
        return [*argv, *self.extra_args]

    def process_env(self) -> dict[str, str]:
        """:attr:`env`, plus ``CLAUDE_CONFIG_DIR`` and the offline variables where it lacks them."""
        return {
            **OFFLINE_ENV,
            "CLAUDE_CONFIG_DIR": str(self.config_dir),
            **self.env,
        }
