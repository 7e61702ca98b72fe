"""The worker's side of its inbox: records in order, and a cursor that only moves past a record
once it has been acted on.

Control records (interrupt, approval, shutdown) are acted on as soon as they are read, even when
a message before them still waits for the running turn to end; so the cursor persists the
position after the longest acted prefix plus the ids of acted records beyond it. After a crash
the worker re-reads from that position and skips those ids: nothing is lost, nothing acted on
twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from codeswarm.mailbox import Cursor, Follower, MailRecord, Position


class Inbox:
    def __init__(self, path: Path, cursor_path: Path, *, poll_interval: float = 0.05) -> None:
        self._path = path
        self._cursor = Cursor(cursor_path)
        self._poll = poll_interval
        self._entries: list[tuple[str, Position, bool]] = []  # (id, position after, acted)
        self._acted_beyond: set[str] = set()
        self._follower: Follower | None = None

    async def records(self) -> AsyncIterator[MailRecord]:
        """Every record from the saved cursor on, skipping those already acted on."""
        position, extra = self._load()
        self._acted_beyond = set(extra.get("acted", []))
        self._follower = Follower(self._path, position, poll_interval=self._poll)
        async for record, after in self._follower:
            rid = str(record.get("id"))
            if rid in self._acted_beyond:
                self._entries.append((rid, after, True))
                self._advance()
                continue
            self._entries.append((rid, after, False))
            yield record

    def _load(self) -> tuple[Position, dict[str, Any]]:
        position = self._cursor.load()
        return position, dict(self._cursor.extra)

    def done(self, record: MailRecord) -> None:
        """``record`` was acted on: persist (atomically) how far the inbox is consumed."""
        rid = str(record.get("id"))
        for i, (eid, pos, acted) in enumerate(self._entries):
            if eid == rid and not acted:
                self._entries[i] = (eid, pos, True)
                break
        self._advance()

    def _advance(self) -> None:
        prefix_end: Position | None = None
        while self._entries and self._entries[0][2]:
            eid, pos, _ = self._entries.pop(0)
            self._acted_beyond.discard(eid)
            prefix_end = pos
        beyond = [eid for eid, _pos, acted in self._entries if acted]
        self._acted_beyond = set(beyond)
        if prefix_end is not None or beyond:
            position = prefix_end if prefix_end is not None else self._cursor.load()
            self._cursor.save(position, acted=beyond)

    def close(self) -> None:
        if self._follower is not None:
            self._follower.close()
