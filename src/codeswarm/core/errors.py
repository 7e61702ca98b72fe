"""Every error codeswarm raises on purpose, under one base class.

::

    CodeswarmError
    ├── UsageError              bad input a person can fix (flag, config, path); one line, no traceback
    │   ├── ConfigError         a config file or CODESWARM_* variable is invalid
    │   └── ScriptError         a scripted-model script is unreadable or invalid
    ├── ToolchainError          the Codex CLI (or npm) is missing, broken or the wrong version
    ├── CodexError              anything about a running `codex app-server`
    │   ├── ClosedError         closed by us: the client was used after aclose()
    │   ├── ProcessExitedError  broken by the peer: the child process died (carries pid, exit code)
    │   ├── ProtocolError       the peer broke the wire protocol (a reply we cannot match, ...)
    │   ├── RpcError            the peer answered a request with a JSON-RPC error (code, message)
    │   └── TurnFailedError     a turn ended in status "failed" (carries the turn's error)
    ├── CoordError              the coordination store (codeswarm.coord); the full subtree is drawn
    │   ├── ConflictError       at its section at the end of this module: ConflictError (exit 3),
    │   └── CoordInputError     and CoordInputError, which is also a UsageError (exit 2)
    └── MailboxError            the mailbox (codeswarm.mailbox); subtree drawn at its section below:
        ├── MailboxPermissionError  a mailbox others can write (also a UsageError)
        └── ...                 busy writer, oversized or invalid record, broken stream, closed

Foreign exceptions (OSError from a pipe, JSON decode errors, ...) are translated where they occur,
with ``raise ... from exc``; callers only ever catch these.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing` at run time: this module is on every hot path
if TYPE_CHECKING:
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


# --- coordination store (codeswarm.coord) ---------------------------------------------------------
#
#   CodeswarmError
#   └── CoordError                   the coordination store failed (exit 1)
#       ├── StoreUnavailableError    the database cannot be opened or reached
#       ├── SchemaError              the database schema is newer than this codeswarm understands
#       ├── ConflictError            someone else got there first (exit 3)
#       │   ├── LeaseConflictError   a path is held by another agent (holder, note, age, expiry)
#       │   ├── ClaimLostError       a task is no longer open (claimed, done, ...) or not yours
#       │   ├── VersionMismatchError a compare-and-set found another version
#       │   └── FencedError          the acting agent is a stale generation, expired or deregistered
#       └── CoordInputError          bad input (also a UsageError: exit 2)
#           ├── NotFoundError        an unknown agent, task, message, lease or key
#           ├── PathEscapeError      a path outside the scope root (``..``, absolute, or a symlink)
#           ├── DependencyCycleError a task dependency would close a cycle
#           └── TooLargeError        a value, message or text over its size limit


class CoordError(CodeswarmError):
    """Base class of coordination store errors."""


class StoreUnavailableError(CoordError):
    """The coordination database cannot be opened, reached, or used."""


class SchemaError(CoordError):
    """The database's schema version is not one this code can use (typically newer)."""


class ConflictError(CoordError):
    """Another agent got there first: a lease is held, a claim was lost, a version moved on."""


class LeaseConflictError(ConflictError):
    """A lease request conflicts with a lease another agent holds.

    ``holder`` is the holder's agent id (``name#generation``); ``age`` the seconds since the lease
    was granted; ``expires_in`` the seconds until it lapses unless renewed (None: it lasts as long
    as its holder keeps heartbeating); ``holder_expires_in`` the seconds until the holder itself
    expires unless it heartbeats (its leases go with it).
    """

    def __init__(
        self,
        path: str,
        *,
        held: str,
        holder: str,
        mode: str,
        note: str,
        age: float,
        expires_in: float | None,
        holder_expires_in: float | None = None,
    ) -> None:
        self.path = path
        self.held = held
        self.holder = holder
        self.mode = mode
        self.note = note
        self.age = age
        self.expires_in = expires_in
        self.holder_expires_in = holder_expires_in
        what = path if held == path else f"{path} (overlaps {held})"
        msg = f"{what} is held ({mode}) by {holder} for {_secs(age)}"
        if note:
            msg += f" ({note!r})"
        if expires_in is not None:
            msg += f", expires in {_secs(expires_in)}"
        else:
            msg += ", until its holder releases it or stops heartbeating"
        super().__init__(msg)


class ClaimLostError(ConflictError):
    """A task could not be claimed or changed: it is not open, not yours, or moved on."""


class VersionMismatchError(ConflictError):
    """A compare-and-set expected one version and found another."""


class FencedError(ConflictError):
    """The acting agent may no longer write: a newer generation replaced it, or it expired or
    deregistered. Register again to get a fresh identity."""


class CoordInputError(CoordError, UsageError):
    """Bad input to the coordination store; nothing was changed."""


class NotFoundError(CoordInputError):
    """An unknown agent, task, message, lease or key."""


class PathEscapeError(CoordInputError):
    """A path that leaves the scope root (``..``, another absolute path, or a symlink)."""


class DependencyCycleError(CoordInputError):
    """A task dependency that would make a cycle."""


class TooLargeError(CoordInputError):
    """A value, message or text over its size limit."""


def _secs(s: float) -> str:
    s = max(0.0, s)
    if s < 10:
        return f"{s:.1f}s"
    if s < 120:
        return f"{s:.0f}s"
    if s < 7200:
        return f"{s / 60:.0f}m"
    return f"{s / 3600:.1f}h"


# --- mailbox (codeswarm.mailbox) ------------------------------------------------------------------
#
#   CodeswarmError
#   └── MailboxError                 the mailbox failed (exit 1)
#       ├── MailboxPermissionError   a mailbox dir or file others can write, or another user owns
#       │                            (also a UsageError: one line naming the path, mode and fix)
#       ├── MailboxNameError         an agent or consumer name unsafe as a file name (UsageError)
#       ├── WriterBusyError          another process is the exclusive writer of that file
#       ├── InvalidRecordError       a record that cannot be written (not JSON, a reserved key)
#       ├── RecordTooLargeError      a record over the spill limit: refused, nothing written
#       ├── StreamBrokenError        a segment was deleted, a file truncated or replaced underneath a
#       │                            reader: it cannot continue without losing or repeating records
#       └── MailboxClosedError       closed by us: a writer, reader or follower used after close


class MailboxError(CodeswarmError):
    """Base class of mailbox errors."""


class MailboxPermissionError(MailboxError, UsageError):
    """A mailbox directory or file that other users can write, or that another user owns."""


class MailboxNameError(MailboxError, UsageError):
    """An agent or consumer name that cannot be used as a file name in the mailbox."""


class WriterBusyError(MailboxError):
    """Another process holds the write lock of a mailbox file (one writer per file)."""


class InvalidRecordError(MailboxError):
    """A record that cannot be written: not JSON-serialisable, or it sets a reserved key."""


class RecordTooLargeError(MailboxError):
    """A record larger than the writer's spill limit; nothing was written."""

    def __init__(self, path: object, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"{path}: a record of {size} bytes exceeds the limit of {limit} bytes")


class StreamBrokenError(MailboxError):
    """A mailbox file changed underneath a reader in a way that would lose or repeat records."""


class MailboxClosedError(MailboxError):
    """A writer, reader or follower was used after it was closed."""
