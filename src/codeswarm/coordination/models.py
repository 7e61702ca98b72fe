"""The records the coordination store hands out: plain slotted classes.

They are deliberately not msgspec Structs or dataclasses: ``import codeswarm.coordination`` sits on the
path of every hook and ``codeswarm coord`` call, where those imports would cost more (10-30 ms)
than the whole operation. :meth:`CoordRecord.to_dict` gives the JSON form (``--json``, MCP
results).

An agent acts as an *agent ref*, ``name#generation`` (:func:`agent_ref`): registering a name again
starts a new generation and fences the old one. Where a ref is taken, a bare ``name`` means its
current generation. :func:`split_ref` and :func:`agent_name` are the one way to take a ref apart.
"""

from __future__ import annotations

from codeswarm.coordination.bounds import MAX_ID

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:
    from codeswarm.core import errors
else:  # (loaded on the way to an error: ._errors)
    from codeswarm.coordination._errors import errors

# agent status
ACTIVE = "active"
EXPIRED = "expired"
DEREGISTERED = "deregistered"

# lease modes
EXCLUSIVE = "exclusive"
SHARED = "shared"

# task status
OPEN = "open"  # ready to be claimed
CLAIMED = "claimed"  # taken by an agent, not started yet
IN_PROGRESS = "in_progress"  # its agent is working on it
BLOCKED = "blocked"  # waits for its dependencies to be done
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
NEEDS_REVIEW = "needs_review"  # a turn for it ended without its agent reporting done or failed
TASK_STATUSES = (OPEN, CLAIMED, IN_PROGRESS, BLOCKED, DONE, FAILED, CANCELLED, NEEDS_REVIEW)
TERMINAL = frozenset({DONE, FAILED, CANCELLED})
HELD = frozenset({CLAIMED, IN_PROGRESS})
BUSY = frozenset({BLOCKED, CLAIMED, IN_PROGRESS, NEEDS_REVIEW})
"""What a delegated task's assignee is busy with: it is not idle (see ``Coord.delegate``)."""

# a verdict on a task (``Coord.end_task``)
ACCEPTED = "accepted"
REJECTED = "rejected"
VERDICTS = (ACCEPTED, REJECTED)

ORCHESTRATOR = "orchestrator"
"""The role of the agent that delegates: never picked as an idle worker."""

# what a task does when one of its dependencies fails or is cancelled
CANCEL = "cancel"
BLOCK = "block"

BROADCAST = "*"
"""The recipient of a message to every active agent of the scope."""

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MAX_NAME = 64


def check_name(name: str) -> str:
    """An agent name: 1-64 of ``A-Z a-z 0-9 . _ -``. Raises CoordInputError."""
    if not name or len(name) > MAX_NAME or not set(name) <= _NAME_CHARS:
        raise errors.CoordInputError(
            f"invalid agent name {name!r}: use 1-{MAX_NAME} letters, digits, '.', '_' or '-'"
        )
    return name


def agent_ref(name: str, generation: int) -> str:
    """The ref ``name#generation`` an agent acts as."""
    return f"{name}#{generation}"


def split_ref(ref: str) -> tuple[str, int | None]:
    """``"name#3"`` → ``("name", 3)``; a bare ``"name"`` → ``("name", None)`` (the current
    generation, unfenced). Raises CoordInputError for anything else."""
    name, sep, gen = ref.partition("#")
    check_name(name)
    if not sep:
        return name, None
    if not _is_id(gen):
        raise errors.CoordInputError(f"invalid agent ref {ref!r}: expected NAME or NAME#GENERATION")
    return name, int(gen)


def agent_name(ref: str) -> str:
    """The name in an agent ref (``"name#3"`` → ``"name"``; a bare name is its own). Raises
    CoordInputError like :func:`split_ref`."""
    return split_ref(ref)[0]


def record_id(kind: str, value: object) -> int:
    """The id of a task or message: ``12``, ``"12"`` or ``"#12"`` → ``12``. Raises
    CoordInputError, naming ``kind``, for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise errors.CoordInputError(f"invalid {kind} id {value!r}")
    text = str(value).lstrip("#")
    if not _is_id(text):
        shown = repr(value) if len(str(value)) <= 40 else f"of {len(str(value))} characters"
        raise errors.CoordInputError(f"invalid {kind} id {shown} (1 to {MAX_ID})")
    return int(text)


def _is_id(text: str) -> bool:
    """Whether ``text`` is an id in ``1 … MAX_ID``, in ASCII digits (``str.isdigit`` also
    takes ``²`` and other scripts' digits, which ``int`` refuses or reads differently)."""
    return 0 < len(text) <= 19 and text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_ID


class CoordRecord:
    """Equality, repr and :meth:`to_dict` from ``__slots__``."""

    __slots__: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        return {k: getattr(self, k) for k in self.__slots__}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Agent(CoordRecord):
    """A registered agent. ``id``, its agent ref (``name#generation``), is what it acts as."""

    __slots__ = (
        "ended_at",
        "expires_at",
        "generation",
        "heartbeat_at",
        "host",
        "id",
        "label",
        "lease_s",
        "name",
        "pid",
        "registered_at",
        "role",
        "status",
    )

    def __init__(
        self,
        *,
        name: str,
        generation: int,
        status: str,
        role: str,
        label: str,
        pid: int | None,
        host: str,
        lease_s: float,
        registered_at: float,
        heartbeat_at: float,
        expires_at: float,
        ended_at: float | None,
    ) -> None:
        self.id = agent_ref(name, generation)
        self.name = name
        self.generation = generation
        self.status = status
        """active, expired or deregistered (a superseded generation has no record of its own)."""
        self.role = role
        self.label = label
        self.pid = pid
        self.host = host
        self.lease_s = lease_s
        """Seconds without a heartbeat (or any write) after which the agent expires."""
        self.registered_at = registered_at
        self.heartbeat_at = heartbeat_at
        self.expires_at = expires_at
        self.ended_at = ended_at


class Lease(CoordRecord):
    """A granted lease. ``token`` is its fencing token: larger than every token granted before."""

    __slots__ = (
        "acquired_at",
        "expires_at",
        "holder",
        "id",
        "kind",
        "mode",
        "note",
        "path",
        "renewed_at",
        "token",
        "ttl",
    )

    def __init__(
        self,
        *,
        id: int,
        path: str,
        kind: str,
        mode: str,
        holder: str,
        note: str,
        token: int,
        ttl: float | None,
        acquired_at: float,
        renewed_at: float,
        expires_at: float | None,
    ) -> None:
        self.id = id
        self.path = path
        """Canonical, relative to the scope root: ``src/a.py``, ``src/``, ``.``, ``src/*.py``."""
        self.kind = kind
        """file, dir or glob."""
        self.mode = mode
        """exclusive or shared."""
        self.holder = holder
        """The holder's agent ref (``name#generation``)."""
        self.note = note
        self.token = token
        self.ttl = ttl
        """Seconds a grant or renewal lasts; None: until released or the holder expires."""
        self.acquired_at = acquired_at
        self.renewed_at = renewed_at
        self.expires_at = expires_at


class Task(CoordRecord):
    """A unit of work. ``version`` increases with every change (for compare-and-set)."""

    __slots__ = (
        "assignee",
        "budget_tokens",
        "claimed_at",
        "created_at",
        "created_by",
        "delegated",
        "depends_on",
        "description",
        "files",
        "files_changed",
        "id",
        "if_dep_fails",
        "key",
        "parent",
        "priority",
        "result",
        "status",
        "tests_run",
        "title",
        "type",
        "updated_at",
        "verdict",
        "version",
    )

    def __init__(
        self,
        *,
        id: int,
        type: str,
        title: str,
        description: str,
        files: list[str],
        priority: int,
        depends_on: list[int],
        key: str | None,
        parent: int | None,
        status: str,
        assignee: str | None,
        created_by: str | None,
        created_at: float,
        updated_at: float,
        claimed_at: float | None,
        result: str | None,
        files_changed: list[str],
        tests_run: list[str],
        if_dep_fails: str,
        version: int,
        budget_tokens: int | None = None,
        delegated: bool = False,
        verdict: str | None = None,
    ) -> None:
        self.id = id
        self.type = type
        self.title = title
        self.description = description
        self.files = files
        self.priority = priority
        """Higher first."""
        self.depends_on = depends_on
        self.key = key
        """The idempotency key it was added with, if any."""
        self.parent = parent
        self.status = status
        self.assignee = assignee
        """The agent ref holding it (claimed / in_progress), or who finished it."""
        self.created_by = created_by
        self.created_at = created_at
        self.updated_at = updated_at
        self.claimed_at = claimed_at
        self.result = result
        self.files_changed = files_changed
        self.tests_run = tests_run
        self.if_dep_fails = if_dep_fails
        """cancel (the default) or block: what happens when a dependency fails or is cancelled."""
        self.version = version
        self.budget_tokens = budget_tokens
        """The most tokens (input + output) turns for it may spend; None: no limit of its own."""
        self.delegated = delegated
        """Made by ``delegate``: its assignee is woken by a message when it can start, and its
        creator is told by a message when it ends (done, failed, cancelled, needs_review)."""
        self.verdict = verdict
        """accepted or rejected, once its creator ended it with a verdict (``end_task``)."""


class TaskNote(CoordRecord):
    """A progress note on a task."""

    __slots__ = ("agent", "at", "seq", "text")

    def __init__(self, *, seq: int, at: float, agent: str | None, text: str) -> None:
        self.seq = seq
        self.at = at
        self.agent = agent
        self.text = text


class KvEntry(CoordRecord):
    """A value in the scope's key-value space; ``version`` counts its writes from 1."""

    __slots__ = ("key", "updated_at", "updated_by", "value", "version")

    def __init__(
        self, *, key: str, value: str, version: int, updated_at: float, updated_by: str | None
    ) -> None:
        self.key = key
        self.value = value
        self.version = version
        self.updated_at = updated_at
        self.updated_by = updated_by


class Message(CoordRecord):
    """A message as its recipient sees it. ``to`` is a name or ``*`` (broadcast)."""

    __slots__ = ("expects_reply", "id", "reply_to", "sender", "sent_at", "task_id", "text", "to")

    def __init__(
        self,
        *,
        id: int,
        sender: str | None,
        to: str,
        text: str,
        sent_at: float,
        reply_to: int | None,
        task_id: int | None = None,
        expects_reply: bool = False,
    ) -> None:
        self.id = id
        self.sender = sender
        self.to = to
        self.text = text
        self.sent_at = sent_at
        self.reply_to = reply_to
        self.task_id = task_id
        """The task it is about: a delegated task's instructions, or the news that it ended."""
        self.expects_reply = expects_reply
        """Its recipient answers it: the final message of the turn it starts goes back to the
        sender as a reply (``reply_to`` this message)."""


class AuditEvent(CoordRecord):
    """One state change. ``seq`` orders every change of the database (commit order)."""

    __slots__ = ("agent", "data", "kind", "seq", "subject", "ts")

    def __init__(
        self,
        *,
        seq: int,
        ts: float,
        agent: str | None,
        kind: str,
        subject: str,
        data: dict[str, Any],
    ) -> None:
        self.seq = seq
        self.ts = ts
        self.agent = agent
        self.kind = kind
        self.subject = subject
        self.data = data
