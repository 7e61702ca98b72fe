"""Every error codeswarm raises on purpose, under one base class.

::

    CodeswarmError
    ├── UsageError              bad input a person can fix (flag, config, path); one line, no traceback
    │   ├── ConfigError         a config file or CODESWARM_* variable is invalid
    │   └── ScriptError         a scripted-model script is unreadable or invalid
    ├── ToolchainError          the Codex CLI (or npm) is missing, broken or the wrong version
    └── CodexError              anything about a running `codex app-server`
        ├── ClosedError         closed by us: the client was used after aclose()
        ├── ProcessExitedError  broken by the peer: the child process died (carries pid, exit code)
        ├── ProtocolError       the peer broke the wire protocol (a reply we cannot match, ...)
        ├── RpcError            the peer answered a request with a JSON-RPC error (code, message)
        └── TurnFailedError     a turn ended in status "failed" (carries the turn's error)

Foreign exceptions (OSError from a pipe, JSON decode errors, ...) are translated where they occur,
with ``raise ... from exc``; callers only ever catch these.
"""

from __future__ import annotations

from typing import Any


class CodeswarmError(Exception):
    """Base class of every codeswarm error."""


class UsageError(CodeswarmError):
    """Bad input that the person at the keyboard can fix. Shown as one line."""


class ConfigError(UsageError):
    """A configuration file, environment variable or flag value is invalid."""


class ScriptError(UsageError):
    """A scripted-model script cannot be read or does not follow the format."""


class ToolchainError(CodeswarmError):
    """The Codex CLI or what installs it is missing, broken, or not the pinned version."""


class CodexError(CodeswarmError):
    """Base class for errors of a `codex app-server` connection."""


class ClosedError(CodexError):
    """The connection was closed by us; it cannot be used any more."""


class ProcessExitedError(CodexError):
    """The app-server process exited (or its stdout closed) while we still needed it."""

    def __init__(self, pid: int | None, returncode: int | None, detail: str = "") -> None:
        self.pid = pid
        self.returncode = returncode
        self.detail = detail
        msg = f"codex app-server (pid {pid}) exited with code {returncode}"
        if detail:
            msg += f": {detail}"
        super().__init__(msg)


class ProtocolError(CodexError):
    """The peer sent something that breaks the JSON-RPC protocol."""


class RpcError(CodexError):
    """A JSON-RPC error reply. ``code`` and ``message`` are the wire values."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        self.method = method
        self.code = code
        self.message = message
        self.data = data
        super().__init__(f"{method}: error {code}: {message}")


class TurnFailedError(CodexError):
    """A turn completed with status "failed"."""

    def __init__(self, turn_id: str, message: str) -> None:
        self.turn_id = turn_id
        self.message = message
        super().__init__(f"turn {turn_id} failed: {message}")
