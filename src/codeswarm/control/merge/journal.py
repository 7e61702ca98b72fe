"""The merge queue's journal: ``<run>/merge/journal.jsonl``, a mailbox file (one JSON record per
line, ``seq``/``id``/``ts``/``kind``, append-only) that submitters (the MCP tool ``submit``,
``codeswarm merge submit``) and the queue process all append to (a shared writer: each append
takes the file's lock). It is the queue's only state: where each submission is, after any crash,
is what the journal says (and, for a crash between advancing the target and recording it, what
the target branch already contains).

Records (``kind``; docs/events.md, ``merge.*``):

- ``merge.queued``: ``agent``, ``branch``, ``commit`` (the branch tip submitted), ``summary``;
  the record's ``id`` is the submission's id.
- ``merge.testing``: the check runs on ``commit`` (``base``: the target's tip it was built on)
  holding the submissions ``ids`` merged in order.
- ``merge.merged``: submission ``sub`` is on the target: ``into``, ``target`` (the target's new
  tip), ``agent``, ``commit``.
- ``merge.rejected``: submission ``sub`` is not merged: ``reason`` (``conflict``, ``check``,
  ``missing``, ``git``), ``paths`` (conflicting files) or ``output`` (the check's, bounded),
  ``agent``, ``commit``.
- ``merge.waiting``: the queue cannot go on for now: ``why`` (one line).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeswarm.core.events import Event, journal_event
from codeswarm.core.swarm import RunDir

if TYPE_CHECKING:
    from codeswarm.mailbox import Writer

JOURNAL = "journal.jsonl"
QUEUED = "merge.queued"
TESTING = "merge.testing"
MERGED = "merge.merged"
REJECTED = "merge.rejected"
WAITING = "merge.waiting"
KINDS = (QUEUED, TESTING, MERGED, REJECTED, WAITING)
ENDED = (MERGED, REJECTED)


def journal_path(run: RunDir) -> Path:
    return run.merge_dir / JOURNAL


def open_writer(run: RunDir) -> Writer:
    """The journal, opened for appending (created 0600 in a 0700 ``<run>/merge``)."""
    from codeswarm.mailbox import Writer, ensure_private_dir

    ensure_private_dir(run.merge_dir)
    return Writer.open(journal_path(run), lock=True, rotate_bytes=None)


def records(run: RunDir) -> list[dict[str, Any]]:
    """Every record of the journal, oldest first (none when nothing was ever submitted)."""
    from codeswarm.mailbox import Reader

    path = journal_path(run)
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    with Reader(path) as reader:
        while batch := reader.read():
            out.extend(dict(record) for record, _ in batch)
    return out


@dataclasses.dataclass
class Submission:
    id: str
    seq: int
    ts: int
    agent: str
    branch: str
    commit: str
    summary: str
    state: str = "queued"
    """``queued`` (waiting), ``testing`` (in the batch being checked), ``merged``, ``rejected``."""
    end: dict[str, Any] | None = None
    """The ``merge.merged`` / ``merge.rejected`` record that ended it."""

    @property
    def ended(self) -> bool:
        return self.state in ("merged", "rejected")

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "seq": self.seq, "ts": self.ts, "agent": self.agent,
            "branch": self.branch, "commit": self.commit, "summary": self.summary,
            "state": self.state,
        }  # fmt: skip
        if self.end is not None:
            for key in ("target", "reason", "paths", "output", "already"):
                if key in self.end:
                    out[key] = self.end[key]
        return out


@dataclasses.dataclass
class QueueState:
    submissions: dict[str, Submission]
    waiting: str | None
    """Why the queue is held, when its last word was a ``merge.waiting``."""
    checks: int
    """How many check runs were recorded (``merge.testing``)."""

    @property
    def pending(self) -> list[Submission]:
        return [s for s in self.submissions.values() if not s.ended]


def reduce(recs: list[dict[str, Any]]) -> QueueState:
    """Where each submission is, from the journal's records (the first end of a submission
    counts; the queue never writes two)."""
    subs: dict[str, Submission] = {}
    waiting: str | None = None
    checks = 0
    for rec in recs:
        kind = rec.get("kind")
        if kind == QUEUED:
            sid = str(rec.get("id"))
            subs[sid] = Submission(
                id=sid, seq=int(rec.get("seq") or 0), ts=int(rec.get("ts") or 0),
                agent=str(rec.get("agent") or ""), branch=str(rec.get("branch") or ""),
                commit=str(rec.get("commit") or ""), summary=str(rec.get("summary") or ""),
            )  # fmt: skip
            continue
        if kind == WAITING:
            waiting = str(rec.get("why") or "")
            continue
        waiting = None
        if kind == TESTING:
            checks += 1
            for sid in rec.get("ids") or ():
                sub = subs.get(str(sid))
                if sub is not None and not sub.ended:
                    sub.state = "testing"
        elif kind in ENDED:
            sub = subs.get(str(rec.get("sub")))
            if sub is not None and not sub.ended:
                sub.state = "merged" if kind == MERGED else "rejected"
                sub.end = rec
    return QueueState(subs, waiting, checks)


def state(run: RunDir) -> QueueState:
    return reduce(records(run))


MERGE_KEYS = ("swarm", "sub", "ids", "branch", "commit", "base", "into", "target", "summary",
              "reason", "paths", "output", "why", "already")  # fmt: skip
"""What a journal record carries into its event."""


def record_event(record: dict[str, Any]) -> Event | None:
    """The event a journal record stands for (None for anything else): ``type`` is the record's
    kind, ``merge_seq`` its seq in the journal."""
    event = journal_event(record, KINDS, "merge_seq", MERGE_KEYS)
    if event is not None and record.get("kind") == QUEUED and "sub" not in record:
        event["sub"] = record.get("id")
    return event


def merge_events(run: RunDir) -> list[Event]:
    """Every merge event of the swarm so far, oldest first."""
    return [e for e in map(record_event, records(run)) if e is not None]
