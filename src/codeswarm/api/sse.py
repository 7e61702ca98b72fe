"""Server-Sent Events framing and event ids (docs/api.md, "Events (SSE)").

An event goes out as ``id: <ID>\\ndata: <JSON>\\n\\n`` (no ``event:`` field: the type is in the
JSON). Ids:

* per agent: the agent's ``seq`` (``41``);
* per swarm: every agent's last delivered ``seq`` in rank order, joined by ``.`` (``12.0.40``),
  so one id resumes every agent. A shorter id means 0 for the agents it leaves out.

Pure and cheap: no starlette here.
"""

from __future__ import annotations

from collections.abc import Collection

from codeswarm.core.errors import BadEventIdError, BadTypesError
from codeswarm.core.events import EVENT_TYPES

RETRY = b"retry: 1000\n\n"
"""The first thing a stream sends: reconnect after 1 s."""
PING = b": ping\n\n"
"""A comment, sent when a stream has been quiet for a while (keeps proxies from closing it)."""
HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
MAX_DIGITS = 18
"""A seq has at most this many digits (an int64, with room)."""


def frame(event_id: bytes, data: bytes) -> bytes:
    """One event on the wire (``data`` is one line of JSON)."""
    return b"id: " + event_id + b"\ndata: " + data + b"\n\n"


def mark(event_id: bytes) -> bytes:
    """A frame with an id and no data: per the SSE spec it sets the client's last event id
    without dispatching an event (a resume point for a stream that has sent none yet)."""
    return b"id: " + event_id + b"\n\n"


def vector_id(vector: list[int]) -> bytes:
    """The per-swarm id of ``vector`` (each agent's last seq, in rank order)."""
    return b".".join(b"%d" % seq for seq in vector)


def _seq(text: str, raw: str) -> int:
    if not text or len(text) > MAX_DIGITS or not text.isascii() or not text.isdigit():
        raise BadEventIdError(f"malformed event id {raw[:60]!r}: want digits, e.g. 41 (or 12.0.40)")
    return int(text)


def parse_agent_id(raw: str) -> int:
    """The seq a per-agent id names. Raises :class:`~codeswarm.core.errors.BadEventIdError`."""
    return _seq(raw.strip(), raw)


def parse_swarm_id(raw: str, agents: int) -> list[int]:
    """The vector a per-swarm id names, padded with 0 to ``agents`` components. Raises
    :class:`~codeswarm.core.errors.BadEventIdError` for a malformed id or one with more components than agents."""
    parts = raw.strip().split(".")
    if len(parts) > agents:
        raise BadEventIdError(
            f"event id {raw[:60]!r} has {len(parts)} components; the swarm has {agents} agent(s)"
        )
    vector = [_seq(p, raw) for p in parts]
    return vector + [0] * (agents - len(vector))


def start_id(last_event_id: str | None, after: str | None) -> str | None:
    """Where a stream starts: the ``Last-Event-ID`` header (an empty one counts as none, as
    browsers send), else ``?after=``; None: live only (from now)."""
    if last_event_id is not None and last_event_id.strip():
        return last_event_id
    return after


def parse_types(raw: str | None, known: Collection[str] = EVENT_TYPES) -> frozenset[str] | None:
    """The ``?types=`` filter (comma-separated event types); None: every type. Raises
    :class:`~codeswarm.core.errors.BadTypesError`."""
    if raw is None:
        return None
    names = {t.strip() for t in raw.split(",") if t.strip()}
    if not names:
        raise BadTypesError("types= names no event type (e.g. types=message.delta,turn.completed)")
    unknown = sorted(names - set(known))
    if unknown:
        raise BadTypesError(
            f"unknown event type(s) {', '.join(unknown)[:200]} (see docs/events.md)"
        )
    return frozenset(names)
