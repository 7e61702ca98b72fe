"""The router: every outbox of a swarm → one ordered stream of events per agent, and fleet state.

It follows each agent's outbox from a position (the start, the current end, or a named
consumer's saved cursor), turns records into events (:mod:`.records`), numbers them per agent in
outbox order (so a replay numbers them identically: ``(agent, seq)`` identifies an event),
drops records it has already seen (by the record's own ``seq``), and folds every event into a
:class:`FleetState`.

A named consumer (``attach --cursor NAME``) saves where it got to *after* acting on a batch of
events; restarted, it resumes there: no event after the cursor is lost, none is repeated. (A
crash between acting and saving re-delivers that batch: consumers may dedupe by agent + seq.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from codeswarm.control.events.records import record_events
from codeswarm.control.fleet.state import FleetState
from codeswarm.core.atomic import atomic_write_json, read_json
from codeswarm.core.events import Event
from codeswarm.core.gcpolicy import bulk
from codeswarm.core.swarm import RunDir, SwarmSpec
from codeswarm.mailbox import (
    CorruptLine,
    FollowerGroup,
    Layout,
    Mode,
    Position,
    Reader,
    Transport,
)


@dataclass
class AgentCursor:
    position: Position
    record_seq: int = 0
    """The last outbox record seq consumed."""
    event_seq: int = 0
    """The last event seq handed out for this agent."""

    def as_json(self) -> dict[str, Any]:
        return {
            "position": self.position.to_json(),
            "record_seq": self.record_seq,
            "event_seq": self.event_seq,
        }

    @classmethod
    def from_json(cls, raw: Any) -> AgentCursor:
        if not isinstance(raw, dict):
            return cls(Position.start())
        try:
            position = Position.from_json(raw.get("position"))
        except ValueError:
            return cls(Position.start())
        return cls(position, int(raw.get("record_seq") or 0), int(raw.get("event_seq") or 0))


class Router:
    """Events of one swarm. ``start``: ``"begin"`` (replay everything), ``"end"`` (only what comes
    next) or a consumer name whose saved cursor to resume from (beginning when none)."""

    def __init__(
        self,
        run: RunDir,
        *,
        start: str = "begin",
        spec: SwarmSpec | None = None,
        poll_interval: float = 0.05,
        mode: Mode = "auto",
        transport: Transport | None = None,
    ) -> None:
        self.run = run
        self.spec = spec or run.load_spec()
        self.layout = Layout(run.root)
        self.agents = run.agents(self.spec)
        self.fleet = FleetState(self.spec.name, self.agents)
        self.consumer = start if start not in ("begin", "end") else None
        self.cursors: dict[str, AgentCursor] = {}
        self._poll = poll_interval
        self._mode: Mode = mode
        self._group: FollowerGroup | None = None
        self._corrupt: dict[str, list[CorruptLine]] = {}
        self.transport = transport
        """Read the outboxes through this (an ssh connection, say) instead of the local files."""
        self._stream: Any = None
        self._at_end = start == "end" and transport is not None  # resolved in follow()
        if start == "end" and transport is not None:
            for a in self.agents:
                self.cursors[a] = AgentCursor(Position.start())
        elif start == "end":
            for a in self.agents:
                self.cursors[a] = AgentCursor(self._end_of(a))
        elif self.consumer is not None:
            saved = read_json(run.consumer_cursor(self.consumer))
            table = saved.get("agents", {}) if isinstance(saved, dict) else {}
            for a in self.agents:
                self.cursors[a] = AgentCursor.from_json(table.get(a))
        else:
            for a in self.agents:
                self.cursors[a] = AgentCursor(Position.start())

    def _end_of(self, agent: str) -> Position:
        """The position after the last complete line now in the outbox."""
        reader = Reader(self.layout.outbox(agent))
        try:
            while reader.read():
                pass
            return reader.position
        finally:
            reader.close()

    def _on_corrupt(self, agent: str, bad: CorruptLine) -> None:
        self._corrupt.setdefault(agent, []).append(bad)

    def _corrupt_before(self, agent: str, position: Position | None) -> list[dict[str, Any]]:
        """Error events for the corrupt lines of ``agent`` before ``position`` (all when None),
        in stream order: they are numbered like any other event, so a replay agrees."""
        pending = self._corrupt.get(agent)
        if not pending:
            return []
        due = [c for c in pending if position is None or c.position < position]
        if not due:
            return []
        self._corrupt[agent] = [c for c in pending if c not in due]
        due.sort(key=lambda c: c.position)
        return [
            {
                "type": "error",
                "agent": agent,
                "ts": 0,
                "message": f"corrupt outbox line at {c.position} skipped ({c.reason}): {c.text[:120]}",
                "will_retry": False,
                "corrupt": True,
            }
            for c in due
        ]

    # -- events -----------------------------------------------------------------------------------
    def _events_for(self, agent: str, record: dict[str, Any], after: Position) -> list[Event]:
        cur = self.cursors[agent]
        cur.position = after
        out = self._corrupt_before(agent, after)
        seq = record.get("seq")
        if isinstance(seq, int):
            if seq <= cur.record_seq:
                return self._stamp(agent, out)  # seen already (a re-read after a restart)
            cur.record_seq = seq
        out += record_events(agent, record)
        return self._stamp(agent, out)

    def _stamp(self, agent: str, out: list[Event]) -> list[Event]:
        cur = self.cursors[agent]
        for event in out:
            cur.event_seq += 1
            event["seq"] = cur.event_seq
            event["swarm"] = self.spec.name
            self.fleet.apply(event)
        return out

    def replay(self, sink: Callable[[Event], None] | None = None) -> int:
        """Everything in the outboxes now (from the start positions), without following: folds
        it into :attr:`fleet`, hands each event to ``sink`` if given, returns how many events.

        (Events are not collected here: holding hundreds of thousands of small dicts makes the
        garbage collector, not the work, the cost of a replay.)"""
        count = 0
        with bulk():
            count = self._replay(sink)
        return count

    def _replay(self, sink: Callable[[Event], None] | None) -> int:
        count = 0
        for agent in self.agents:
            reader = Reader(
                self.layout.outbox(agent),
                self.cursors[agent].position,
                on_corrupt=lambda bad, a=agent: self._on_corrupt(a, bad),  # type: ignore[misc]
            )
            try:
                while batch := reader.read():
                    for record, after in batch:
                        events = self._events_for(agent, record, after)
                        count += len(events)
                        if sink is not None:
                            for event in events:
                                sink(event)
            finally:
                reader.close()
        return count

    async def start_at_end(self) -> None:
        """With a transport and ``start="end"``: learn where the outboxes end now."""
        if self._at_end and self.transport is not None:
            self._at_end = False
            for agent, pos in (await self.transport.ends("outbox")).items():
                if agent in self.cursors:
                    self.cursors[agent].position = pos

    async def follow(self) -> AsyncIterator[list[Event]]:
        """Batches of events as they are appended, forever (until :meth:`close`)."""
        if self.transport is not None:
            await self.start_at_end()
            stream = self._stream = self.transport.follow_all(
                "outbox",
                positions={a: c.position for a, c in self.cursors.items()},
                on_corrupt=self._on_corrupt,
            )
            try:
                async for agent, record, after in stream:
                    if agent not in self.cursors:
                        continue
                    out = self._events_for(agent, record, after)
                    if out:
                        yield out
            finally:
                await stream.aclose()
            return
        group = self._group = FollowerGroup(
            mode=self._mode, poll_interval=self._poll, on_corrupt=self._on_corrupt
        )
        for agent in self.agents:
            group.add(agent, self.layout.outbox(agent), self.cursors[agent].position)
        events: list[Event] = []
        async for agent, record, after in group:
            events += self._events_for(agent, record, after)
            if events and not group.ready:
                yield events  # a batch: everything that could be read without waiting
                events = []

    def save(self) -> None:
        """Persist where a named consumer got to (atomic)."""
        if self.consumer is None:
            return
        path = self.run.consumer_cursor(self.consumer)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            path,
            {"agents": {a: c.as_json() for a, c in self.cursors.items()}},
            durable=False,  # atomic against a crash of this process, which is what matters here
        )

    def modes(self) -> dict[str, str]:
        """How each followed outbox directory is watched (``inotify``, ``poll``, ``pending``):
        empty before :meth:`follow` starts, and when reading through a transport."""
        return self._group.modes() if self._group is not None else {}

    def close(self) -> None:
        if self._group is not None:
            self._group.close()
        if self._stream is not None and hasattr(self._stream, "close"):
            self._stream.close()
