"""The bounds of every number and path the coordination store takes: one table, enforced by the
service (so every caller gets them: Python, ``codeswarm coord``, the MCP server, hooks) and
checked again by the CLI before it opens the store, so a refused flag touches nothing.

The table, with the reasons, is in docs/coordination.md ("Bounds"); docs/security/input.md says
what a refusal looks like. Out of bounds is :class:`CoordInputError` (exit 2, "bad input");
a path over the size limits is :class:`TooLargeError`. NaN and infinities are never in bounds.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from codeswarm.core import errors
else:  # (loaded on the way to an error: ._errors)
    from codeswarm.coordination._errors import errors


DAY = 86400.0
MAX_ID = 2**63 - 1
"""Ids, sequence numbers and versions are 64-bit signed integers in both databases."""
MAX_PATH = 4096
"""Bytes (UTF-8) of a path stored (a lease, a task's files: relative to the scope root) or given
on the command line: Linux's ``PATH_MAX``, the longest path one system call takes."""
MAX_SEGMENT = 255
"""Bytes of one path component: ``NAME_MAX`` of every common filesystem."""
MAX_PATH_INPUT = 4 * MAX_PATH
"""Bytes of any path the service is asked about (before it is resolved: resolving costs time
with every component). Over :data:`MAX_PATH` so that an absolute path a hook asks about (the
scope root's own length, then up to ``PATH_MAX`` relative to a working directory below it) is
never cut short."""
MAX_IDS = 1000
"""Ids in one call (``ack``, ``depends_on``)."""
MAX_EVENTS = 10_000
"""Audit events in one answer."""


class Range:
    """A closed range ``[lo, hi]`` of integers or of seconds; :meth:`check` a number,
    :meth:`parse` a command-line word."""

    __slots__ = ("hi", "integer", "lo")

    def __init__(self, lo: float, hi: float, *, integer: bool) -> None:
        self.lo = lo
        self.hi = hi
        self.integer = integer

    def describe(self) -> str:
        """``between 1 and 604800 seconds (7 days)``, ``between 1 and 1000``."""
        if not self.integer:
            return f"between {self.lo:g} and {self.hi:g} seconds{_human(self.hi)}"
        return f"between {int(self.lo)} and {int(self.hi)}"

    def check(self, what: str, value: object) -> float:
        """``value`` if it is a number in range (an int for an integer range); else raises
        CoordInputError naming ``what`` and the range."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise errors.CoordInputError(
                f"{what} must be a number {self.describe()}, not {value!r}"
            )
        if self.integer and not isinstance(value, int):
            if not (isinstance(value, float) and value.is_integer()):
                raise errors.CoordInputError(f"{what} must be a whole number "
                                             f"{self.describe()}, not {value!r}")  # fmt: skip
            value = int(value)
        if not self.lo <= value <= self.hi:  # NaN fails every comparison
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            raise errors.CoordInputError(f"{what} must be {self.describe()}, not {shown}")
        return value

    def check_int(self, what: str, value: object) -> int:
        """:meth:`check` for an integer range, typed."""
        return int(self.check(what, value))

    def parse(self, what: str, text: str) -> float:
        """A command-line word as a number in range; raises CoordInputError."""
        try:
            value: float = int(text) if self.integer else float(text)
        except ValueError:
            kind = "a whole number" if self.integer else "a number of seconds"
            raise errors.CoordInputError(f"{what} expects {kind}, not {text!r}") from None
        return self.check(what, value)


TTL = Range(1.0, 7 * DAY, integer=False)
"""A lease's time to live. Under a second no lease outlives the call that took it; a week is
past any task an agent runs (renew it, or take it without a TTL)."""
LEASE_S = Range(1.0, 7 * DAY, integer=False)
"""How long an agent stays alive without a heartbeat (``register --lease-s``)."""
WAIT = Range(0.0, 3600.0, integer=False)
"""How long a call may block (``lease``, ``inbox``, ``events`` ``--wait``)."""
MCP_WAIT = Range(0.0, 60.0, integer=False)
"""The same for an MCP tool call: shorter than Codex's tool timeout."""
INBOX_LIMIT = Range(1, 1000, integer=True)
EVENTS_LIMIT = Range(1, MAX_EVENTS, integer=True)
ID = Range(1, MAX_ID, integer=True)
"""A task or message id, a generation."""
SEQ = Range(0, MAX_ID, integer=True)
"""An audit sequence number (``events --since``; 0: from the start)."""
VERSION = Range(0, MAX_ID, integer=True)
"""An expected version (0: "must not exist" for kv)."""
PRIORITY = Range(-(2**31), 2**31 - 1, integer=True)
PID = Range(1, 2**31 - 1, integer=True)
BUDGET = Range(1, MAX_ID, integer=True)
"""A token budget (input + output tokens)."""
REPLY_WAIT = Range(0.0, 3600.0, integer=False)
"""Seconds ``converse`` waits for an agent's reply."""


def check_path_input(path: str) -> str:
    """``path`` if it is at most :data:`MAX_PATH_INPUT` bytes, else TooLargeError."""
    if len(path) > MAX_PATH_INPUT // 4:
        size = len(path.encode("utf-8", "surrogatepass"))
        if size > MAX_PATH_INPUT:
            raise errors.TooLargeError(
                f"a path of {size} bytes; the limit is {MAX_PATH} (PATH_MAX)"
            )
    return path


def check_path(path: str) -> str:
    """``path`` if no longer than :data:`MAX_PATH` bytes with no component over
    :data:`MAX_SEGMENT`; else raises TooLargeError (the path is not repeated: it is long).
    CoordInputError for a name that is not UTF-8 (the store keeps paths as text)."""
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        raise errors.CoordInputError(f"path {path!r} is not valid UTF-8") from None
    if size > MAX_PATH:
        raise errors.TooLargeError(f"a path of {size} bytes; the limit is {MAX_PATH} (PATH_MAX)")
    if size > MAX_SEGMENT:
        for part in path.split("/"):
            n = len(part.encode("utf-8"))
            if n > MAX_SEGMENT:
                raise errors.TooLargeError(f"a path component of {n} bytes ({part[:40]!r}…); "
                                           f"the limit is {MAX_SEGMENT} (NAME_MAX)")  # fmt: skip
    return path


def check_count(what: str, n: int, limit: int = MAX_IDS) -> None:
    """Raises CoordInputError when a call names more than ``limit`` items."""
    if n > limit:
        raise errors.CoordInputError(f"{what}: {n} in one call; the limit is {limit}")


def _human(seconds: float) -> str:
    if seconds >= DAY and seconds % DAY == 0:
        days = int(seconds // DAY)
        return f" ({days} day{'s' if days != 1 else ''})"
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f" ({hours} hour{'s' if hours != 1 else ''})"
    return ""
