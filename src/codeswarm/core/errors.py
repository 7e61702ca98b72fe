"""Every error codeswarm raises on purpose, under one base class.

::

    CodeswarmError
    ├── UsageError              bad input a person can fix (flag, config, path); one line, no traceback
    │   ├── ConfigError         a config file or CODESWARM_* variable is invalid
    │   ├── ScriptError         a scripted-model script is unreadable or invalid
    │   │   └── PatchNotTranslatableError  a patch step Claude Code's tools cannot express
    │   └── HookStateError      the hooks' scratch directory is not private (owner, symlink, mode)
    ├── ToolchainError          the Codex CLI (or npm) is missing, broken or the wrong version
    │   └── ToolchainMissingError  none configured, none installed, none fit on PATH: installing
    │                           the pinned one fixes it (done on first need unless turned off)
    ├── CodexError              anything about a running `codex app-server`
    │   ├── ClosedError         closed by us: the client was used after aclose()
    │   ├── ProcessExitedError  broken by the peer: the child process died (carries pid, exit code)
    │   │   └── ClaudeExitedError  the same for a Claude Code agent's `claude` process
    │   ├── ProtocolError       the peer broke the wire protocol (a reply we cannot match, ...)
    │   ├── RpcError            the peer answered a request with a JSON-RPC error (code, message)
    │   ├── TurnFailedError     a turn ended in status "failed" (carries the turn's error)
    │   └── MethodNotSupportedError  internal: a server→client request we do not handle (the
    │                           connection answers it with JSON-RPC "method not found")
    ├── CoordError              the coordination store (codeswarm.coordination); the full subtree is drawn
    │   ├── ConflictError       at its section below: ConflictError (exit 3),
    │   └── CoordInputError     and CoordInputError, which is also a UsageError (exit 2)
    ├── MailboxError            the mailbox (codeswarm.mailbox); subtree drawn at its section below:
    │   ├── MailboxInputError   bad input: a name, an option, a cursor field (also a UsageError)
    │   ├── MailboxPermissionError  a mailbox others can write (also a UsageError)
    │   └── ...                 busy writer, oversized or invalid record, bad spill file, broken
    │                           stream, closed
    ├── SlurmError              a Slurm command failed or is missing (Slurm's own words)
    │   └── SlurmRejectedError  sbatch refused the job: fix the flags (also a UsageError)
    ├── GitError                a git command failed (git's words), timed out, or git is missing
    ├── PurgeRefusedError       worktrees that may not be removed (also a UsageError): what would
    │                           be lost, or who uses them
    ├── ApiError                an HTTP API error: status, a stable code, a one-line message
    │   ├── BadEventIdError     an event id that is not one of the stream's (HTTP 400)
    │   └── BadTypesError       a ``types=`` filter naming no event type, or an unknown one
    ├── FeedError               the API's follower could not read a swarm's outboxes
    └── StopRequested           internal: work asked to stop midway (a re-read whose stream went,
                                a merge round the queue was told to stop); never shown to a person

Foreign exceptions (OSError from a pipe, JSON decode errors, ...) are translated where they occur,
with ``raise ... from exc``; callers only ever catch these.

Which exit code each error ends a process with is decided once, by :func:`exit_code`; every entry
point (the CLI, ``codeswarm coord``, the worker, a Slurm task) runs its work under
:func:`run_guarded`.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not `typing` at run time: this module is on every hot path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class CodeswarmError(Exception):
    """Base class of every codeswarm error."""


class UsageError(CodeswarmError):
    """Bad input that the person at the keyboard can fix. Shown as one line."""


class ConfigError(UsageError):
    """A configuration file, environment variable or flag value is invalid."""


class ScriptError(UsageError):
    """A scripted-model script cannot be read or does not follow the format."""


class PatchNotTranslatableError(ScriptError):
    """A script's ``patch`` step has an operation Claude Code's tools cannot express (a move):
    the scripted model answers such a request with an HTTP 400."""


class HookStateError(UsageError):
    """The hooks' scratch directory is unusable: owned by someone else, a symlink, open to others
    (another user could plant what the hooks read), or it cannot be created."""


class ToolchainError(CodeswarmError):
    """The Codex CLI or what installs it is missing, broken, or not the pinned version."""


class ToolchainMissingError(ToolchainError):
    """No configured Codex, no managed install of the pinned version, and none of that version
    on ``PATH``: installing the pinned one (``codeswarm toolchain install``) is the fix."""


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


class ClaudeExitedError(ProcessExitedError):
    """A Claude Code agent's ``claude`` process exited (or closed its stdout) while needed."""

    def __init__(self, pid: int | None, returncode: int | None, detail: str = "") -> None:
        super().__init__(pid, returncode, detail)
        msg = f"claude (pid {pid}) exited with code {returncode}"
        self.args = (f"{msg}: {detail}" if detail else msg,)


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


class MethodNotSupportedError(CodexError):
    """Raised by a request handler for a server→client method it does not implement; the
    connection turns it into a JSON-RPC "method not found" reply (it never reaches a caller)."""

    def __init__(self, method: str) -> None:
        self.method = method
        super().__init__(f"method not supported by this client: {method}")


# --- coordination store (codeswarm.coordination) ---------------------------------------------------------
#
#   CodeswarmError
#   └── CoordError                   the coordination store failed (exit 1)
#       ├── StoreUnavailableError    the database cannot be opened or reached
#       │   └── StorePathError       a SQLite path that names no usable database: its directory
#       │                            is missing, or the file is not a (codeswarm) SQLite database
#       │                            (also a UsageError: exit 2)
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


class StorePathError(StoreUnavailableError, UsageError):
    """A SQLite database path that cannot be used as given: its directory does not exist (only
    codeswarm's own state directory is created), or the file there is not a SQLite database, or
    is another program's. Nothing was created or written."""


class SchemaError(CoordError):
    """The database's schema version is not one this code can use (typically newer)."""


class ConflictError(CoordError):
    """Another agent got there first: a lease is held, a claim was lost, a version moved on."""


class LeaseConflictError(ConflictError):
    """A lease request conflicts with a lease another agent holds.

    ``holder`` is the holder's agent ref (``name#generation``); ``age`` the seconds since the lease
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
#       ├── MailboxInputError        bad input, nothing done (also a UsageError): an unknown follow
#       │   │                        mode, a poll interval or line limit out of range, a cursor
#       │   │                        field named like one of the cursor's own
#       │   └── MailboxNameError     an agent or consumer name unsafe as a file name
#       ├── MailboxPermissionError   a mailbox dir or file others can write, or another user owns
#       │                            (also a UsageError: one line naming the path, mode and fix)
#       ├── WriterBusyError          another process is the exclusive writer of that file
#       ├── InvalidRecordError       a record that cannot be written (not JSON, a reserved key)
#       ├── RecordTooLargeError      a record over the spill limit: refused, nothing written
#       ├── SpillError               a spilled record's side file is missing, unreadable or holds
#       │                            another record (a reader reports the line as corrupt)
#       ├── StreamBrokenError        a segment was deleted, a file truncated or replaced underneath a
#       │                            reader: it cannot continue without losing or repeating records
#       └── MailboxClosedError       closed by us: a writer, reader or follower used after close


class MailboxError(CodeswarmError):
    """Base class of mailbox errors."""


class MailboxPermissionError(MailboxError, UsageError):
    """A mailbox directory or file that other users can write, or that another user owns."""


class MailboxInputError(MailboxError, UsageError):
    """Bad input to the mailbox (an option out of range, a reserved field); nothing was done."""


class MailboxNameError(MailboxInputError):
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


class SpillError(MailboxError):
    """A spilled record's side file cannot be used: missing, unreadable, or another record."""


class StreamBrokenError(MailboxError):
    """A mailbox file changed underneath a reader in a way that would lose or repeat records."""


class MailboxClosedError(MailboxError):
    """A writer, reader or follower was used after it was closed."""


# --- Slurm (codeswarm.control.launch) --------------------------------------------------------------


class SlurmError(CodeswarmError):
    """A Slurm command failed or is missing; the message carries Slurm's own words."""


class SlurmRejectedError(SlurmError, UsageError):
    """``sbatch`` refused the job (bad partition, account, time, option): fix the flags."""


# --- worktrees and the merge queue (codeswarm.control.worktrees, codeswarm.control.merge) ---------


class GitError(CodeswarmError):
    """A git command failed (git's own words), timed out, or git is missing."""


class PurgeRefusedError(UsageError):
    """Worktrees that may not be removed: the message is one line, ``lines`` name each worktree
    and why (what would be lost, or who uses it)."""

    def __init__(self, message: str, lines: list[str]) -> None:
        super().__init__(message)
        self.lines = lines


# --- the HTTP API (codeswarm.api) -----------------------------------------------------------------


class ApiError(CodeswarmError):
    """An HTTP error with a stable machine ``code`` and a one-line ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class BadEventIdError(ApiError):
    """An event id (``Last-Event-ID`` or ``?after=``) that is not one of this stream's ids."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "bad_event_id", message)


class BadTypesError(ApiError):
    """A ``?types=`` filter naming no type, or one that does not exist."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "bad_request", message)


class FeedError(CodeswarmError):
    """The API's follower could not read a swarm's outboxes (the reason is the message)."""


class StopRequested(CodeswarmError):
    """Internal: a piece of work was asked to stop midway (a re-read whose stream went away, a
    merge round the queue was told to stop). Caught where it is raised; never shown."""


# --- exit codes: the one policy of every entry point ----------------------------------------------

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFLICT = 3
EXIT_INTERRUPTED = 130


def exit_code(exc: BaseException) -> int:
    """The exit code of a process that ``exc`` ended; the same for every codeswarm command.

    ====  ===========================================================================================
    0     ok (no exception)
    1     failure: any other :class:`CodeswarmError` (database unreachable, a turn failed, ...), or
          an exception that is not ours (a bug)
    2     bad input a person can fix: :class:`UsageError` (a flag, config, script, path, an unknown
          id, too large: ``ConfigError``, ``ScriptError``, ``CoordInputError``, ...)
    3     conflict, someone else got there first: :class:`ConflictError` (a lease held, a claim
          lost, a compare-and-set mismatch, a stale agent)
    130   interrupted: ``KeyboardInterrupt`` (Ctrl-C)
    ====  ===========================================================================================
    """
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, ConflictError):
        return EXIT_CONFLICT
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    return EXIT_FAILURE


def debugging() -> bool:
    """Whether errors show their traceback instead of one line: ``CODESWARM_DEBUG`` is set and not
    ``0`` (``codeswarm --debug`` sets it to ``1``, for its child processes too)."""
    return os.environ.get("CODESWARM_DEBUG", "") not in ("", "0")


def say(text: str, prefix: str = "codeswarm") -> None:
    """One line on stderr, ``PREFIX: TEXT``: what a person sees from a command besides its output."""
    print(f"{prefix}: {text}", file=sys.stderr)


def run_guarded(fn: Callable[[], int], prefix: str = "codeswarm") -> int:
    """Run ``fn`` and return its exit code; the one place a codeswarm error becomes an exit code.

    A :class:`CodeswarmError` becomes one line on stderr, ``PREFIX: error: MESSAGE`` (newlines
    folded), and returns :func:`exit_code` of it; under :func:`debugging` it is re-raised instead,
    for the traceback. Ctrl-C prints ``PREFIX: interrupted`` and returns 130. Any other exception
    is a bug and propagates with its traceback.
    """
    try:
        return fn()
    except CodeswarmError as exc:
        if debugging():
            raise
        text = str(exc).strip().replace("\n", " ") or type(exc).__name__
        say(f"error: {text}", prefix)
        return exit_code(exc)
    except KeyboardInterrupt as exc:
        say("interrupted", prefix)
        return exit_code(exc)
