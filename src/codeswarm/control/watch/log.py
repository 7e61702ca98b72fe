"""The watchers' record of what they saw and did: ``<run>/watch.jsonl``, a mailbox file (one
JSON record per line, ``seq``/``id``/``ts``/``kind``, append-only) written by the one watch
runner of the swarm (it holds the file's writer lock: a second runner is refused), and read back
as events (docs/events.md: ``watch.*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeswarm.control.watch.rules import WATCH_KINDS
from codeswarm.core.events import Event, journal_event
from codeswarm.core.swarm import RunDir

LOG_NAME = "watch.jsonl"


def log_path(run: RunDir) -> Path:
    return run.root / LOG_NAME


WATCH_KEYS = ("swarm", "rule", "action", "level", "turn_id", "evidence", "inbox_id", "turn_over",
              "error")  # fmt: skip
"""What a watch record carries into its event."""


def record_event(record: dict[str, Any]) -> Event | None:
    """The event a watch record stands for (None for anything else): ``type`` is the record's
    kind, ``agent`` the agent concerned, ``watch_seq`` the record's seq in the watch log."""
    return journal_event(record, WATCH_KINDS, "watch_seq", WATCH_KEYS)


def watch_events(run: RunDir) -> list[Event]:
    """Every watch event of the swarm so far, oldest first (none when no watcher ran)."""
    from codeswarm.mailbox import Reader

    path = log_path(run)
    if not path.exists():
        return []
    out: list[Event] = []
    with Reader(path) as reader:
        while batch := reader.read():
            for record, _ in batch:
                event = record_event(record)
                if event is not None:
                    out.append(event)
    return out
