"""A small SSE reader for the event-stream tests: bytes in, ``(id, event)`` frames out, and the
checks every resume test makes (each agent's events in order, none lost, none repeated)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Frames:
    """Parses a byte stream of SSE; complete frames land in :attr:`events` as ``(id, event)``."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    pings: int = 0
    retry: int | None = None
    marks: list[str] = field(default_factory=list)
    """Ids that came without data (a resume point before any event)."""
    _buf: bytes = b""

    def feed(self, data: bytes) -> list[tuple[str, dict[str, Any]]]:
        """Add ``data``; returns the frames it completed."""
        self._buf += data
        out = []
        while (cut := self._buf.find(b"\n\n")) >= 0:
            block, self._buf = self._buf[:cut], self._buf[cut + 2 :]
            eid, payload = None, None
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    self.pings += 1
                elif line.startswith("retry: "):
                    self.retry = int(line[7:])
                elif line.startswith("id: "):
                    eid = line[4:]
                elif line.startswith("data: "):
                    assert payload is None, f"two data lines in one frame: {block!r}"
                    payload = json.loads(line[6:])
                else:
                    raise AssertionError(f"unexpected SSE line {line!r}")
            if payload is not None:
                assert eid is not None, f"a frame without an id: {block!r}"
                out.append((eid, payload))
            elif eid is not None:
                self.marks.append(eid)
        self.events += out
        return out

    @property
    def last_id(self) -> str | None:
        """The id of the last event kept (tests cut :attr:`events` to simulate a drop)."""
        return self.events[-1][0] if self.events else None


def keys(frames: Iterable[tuple[str, dict[str, Any]]]) -> list[tuple[str, int]]:
    return [(e["agent"], e["seq"]) for _, e in frames]


def assert_once_in_order(
    frames: list[tuple[str, dict[str, Any]]],
    expected: set[tuple[str, int]],
    agents: list[str] | None = None,
) -> None:
    """``frames`` hold exactly ``expected`` (agent, seq) pairs, each once, each agent's in seq
    order; with ``agents`` (the swarm's, in rank order), every id is the vector of each agent's
    last seq so far (for a stream that started before all of them: checked from the 2nd frame
    of each agent on, where the vector's own component is known)."""
    got = keys(frames)
    dup = {k for k in got if got.count(k) > 1}
    assert not dup, f"delivered twice: {sorted(dup)[:10]}"
    assert set(got) == expected, (
        f"missing {sorted(expected - set(got))[:10]}, unexpected {sorted(set(got) - expected)[:10]}"
    )
    by_agent: dict[str, list[int]] = {}
    for agent, seq in got:
        by_agent.setdefault(agent, []).append(seq)
    for agent, seqs in by_agent.items():
        assert seqs == sorted(seqs), f"{agent}: out of order"
    if agents is not None:
        for eid, event in frames:
            vector = [int(x) for x in eid.split(".")]
            assert len(vector) == len(agents), eid
            assert vector[agents.index(event["agent"])] == event["seq"], (eid, event)
    else:
        for eid, event in frames:
            assert eid == str(event["seq"]), (eid, event)
