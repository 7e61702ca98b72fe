"""After a crash: which turn was cut short, and how it really ended.

A worker killed mid-turn (``kill -9``, the OOM killer, a node's reboot) takes its Codex with it
(Codex exits as soon as its stdin closes), so nobody writes that turn's end. Waiters (``send
--wait``) and ``status`` would wait for it forever. The restarted worker resolves it:

1. **Which turn.** Its own outbox says, read backwards (:func:`find_unfinished`): the newest
   ``turn.accepted`` whose turn never ended (no ``turn/completed`` from Codex, no
   ``turn.aborted`` or ``turn.recovered`` after it), or a ``turn.starting`` that was never
   answered (Codex may or may not have taken that turn before the crash).
2. **How it ended.** The resumed thread says (``thread/turns/list``, :func:`find_turn`): if Codex
   finished the turn and wrote it to its rollout before dying, that is its real end (the worker
   reports it, ``turn.recovered``); otherwise (``interrupted``, still ``inProgress``, or not
   there at all) the turn is reported ``turn.aborted`` with the reason.
3. **Then**, unless the swarm says otherwise (``SwarmSpec.resume_interrupted``), the agent gets
   a follow-up turn (:func:`continuation`) so it carries on where it was cut off. A continuation
   cut short by another crash is reported, not continued again: a turn that crashes its worker
   every time must not become a crash loop.

Pure functions over records and replies; :mod:`codeswarm.worker.agent` does the I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from codeswarm.mailbox import MailRecord

CONTINUE_PREFIX = "continue:"
"""The id of a continuation turn's record (its ``clientUserMessageId``): this, then the turn id."""

CONTINUE_TEXT = (
    "Your previous turn was interrupted by a crash ({cause}); continue where you left off."
)

_MARKERS = (
    b'"kind":"turn.',
    b'"kind":"inbox.rejected"',
    b'"kind":"worker.exited"',
    b'"kind":"agent.stopped"',
    b'"kind":"worker.stopping"',
    b'"turn/completed"',
    b'"spill":"',
)


def worth_parsing(line: bytes) -> bool:
    """The outbox lines :func:`find_unfinished` looks at (most lines are Codex's own messages,
    which it skips without parsing); for :func:`codeswarm.mailbox.records_backward`."""
    return any(marker in line for marker in _MARKERS)


@dataclass(frozen=True)
class Unfinished:
    """A turn the worker started and never saw end, as its outbox tells."""

    record_id: str
    """What the turn carried (its ``clientUserMessageId``): an inbox record's id, a
    coordination message's (``coord-<id>``), or a continuation's."""
    turn_id: str | None
    """Codex's id for the turn; ``None`` when the outbox has ``turn.starting`` but not Codex's
    answer (the turn may not exist)."""
    cause: str
    """Why it was cut short, as far as the outbox says."""
    stopped: bool
    """The worker stopped on request after it (``down``, a shutdown record), not a crash."""

    @property
    def is_continuation(self) -> bool:
        return self.record_id.startswith(CONTINUE_PREFIX)


def find_unfinished(newest_first: Iterable[MailRecord]) -> Unfinished | None:
    """The turn the outbox (records newest first) says is still open, or ``None``."""
    ended: set[str] = set()
    rejected: set[str] = set()
    cause = "the worker ended before the turn did"
    stopped = False
    for record in newest_first:
        kind = record.get("kind")
        if kind == "codex":
            msg = record.get("msg")
            if isinstance(msg, dict) and msg.get("method") == "turn/completed":
                turn = (msg.get("params") or {}).get("turn") or {}
                if isinstance(turn, dict) and isinstance(turn.get("id"), str):
                    ended.add(turn["id"])
        elif kind in ("turn.aborted", "turn.recovered"):
            if isinstance(record.get("turn_id"), str):
                ended.add(record["turn_id"])
        elif kind == "inbox.rejected":
            rejected.add(str(record.get("inbox_id")))
        elif kind == "worker.exited":
            cause = str(record.get("reason") or cause)  # the oldest one after the turn wins
        elif kind == "agent.stopped":
            stopped = bool(record.get("requested"))
        elif kind == "worker.stopping":  # asked to stop while the turn ran (down, a signal)
            stopped = True
        elif kind == "turn.accepted":
            turn_id = record.get("turn_id")
            if not isinstance(turn_id, str) or turn_id in ended:
                return None  # the newest turn ended (or is an old record without an id)
            return Unfinished(str(record.get("inbox_id")), turn_id, cause, stopped)
        elif kind == "turn.starting":
            record_id = str(record.get("inbox_id"))
            if record_id in rejected:
                return None
            return Unfinished(record_id, None, cause, stopped)
    return None


def find_turn(turns_list: Any, unfinished: Unfinished) -> dict[str, Any] | None:
    """The turn of ``thread/turns/list``'s reply that ``unfinished`` is: by turn id, or (when the
    outbox never got Codex's id for it) by the ``clientId`` of its user message."""
    data = turns_list.get("data") if isinstance(turns_list, dict) else None
    for turn in data if isinstance(data, list) else ():
        if not isinstance(turn, dict):
            continue
        if unfinished.turn_id is not None:
            if turn.get("id") == unfinished.turn_id:
                return turn
            continue
        for item in turn.get("items") or ():
            if (
                isinstance(item, dict)
                and item.get("type") == "userMessage"
                and item.get("clientId") == unfinished.record_id
            ):
                return turn
    return None


def really_ended(turn: dict[str, Any] | None) -> bool:
    """Codex finished this turn itself (completed, or failed on its own) before the crash."""
    return turn is not None and turn.get("status") in ("completed", "failed")


def final_text(turn: dict[str, Any]) -> str:
    """The turn's last agent message ("" if none)."""
    text = ""
    for item in turn.get("items") or ():
        if isinstance(item, dict) and item.get("type") == "agentMessage":
            text = str(item.get("text") or "")
    return text


def turn_error(turn: dict[str, Any]) -> str | None:
    err = turn.get("error")
    if isinstance(err, dict):
        return str(err.get("message") or "") or None
    return err if isinstance(err, str) else None


def continuation(turn_id: str, cause: str) -> MailRecord:
    """The record of the follow-up turn that continues ``turn_id`` (not an inbox record)."""
    return {
        "id": f"{CONTINUE_PREFIX}{turn_id}",
        "kind": "message",
        "text": CONTINUE_TEXT.format(cause=cause),
        "continues": turn_id,
    }
