"""coord.feed.watch: the one mark / look / wait loop (events, inbox and lease waits use it), on
every backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from codeswarm.coordination import Coord
from codeswarm.coordination.feed import Watch, watch


def test_a_look_that_finds_returns_at_once(coord: Coord) -> None:
    lefts: list[float] = []

    def look(w: Watch) -> str:
        lefts.append(w.left)
        return "found"

    assert watch(coord.store, 30.0, look) == "found"
    assert len(lefts) == 1 and 0 < lefts[0] <= 30.0


def test_a_commit_by_another_connection_wakes_the_wait(
    coord: Coord, open_coord: Callable[..., Coord]
) -> None:
    other = open_coord()
    looked = threading.Event()
    calls = 0

    def look(_: Watch) -> list[str] | None:
        nonlocal calls
        calls += 1
        seen = [a.name for a in coord.agents()]
        looked.set()  # after the look: the write lands after it, and only the feed can tell
        return seen or None

    def write() -> None:
        assert looked.wait(30.0)
        other.register("late")

    writer = threading.Thread(target=write)
    writer.start()
    t0 = time.monotonic()
    try:
        assert watch(coord.store, 30.0, look) == ["late"]
    finally:
        writer.join()
    assert time.monotonic() - t0 < 20.0 and calls >= 2


def test_nothing_happening_ends_with_one_last_look(coord: Coord) -> None:
    lefts: list[float] = []

    def look(w: Watch) -> None:
        lefts.append(w.left)

    assert watch(coord.store, 0.2, look) is None
    assert lefts[0] > 0 and lefts[-1] <= 0


def test_wake_within_looks_again_without_a_commit(coord: Coord) -> None:
    calls = 0

    def look(w: Watch) -> str | None:
        nonlocal calls
        calls += 1
        if calls == 2:
            return "lapsed"
        w.wake_within(5.0)
        w.wake_within(0.05)  # the nearest wins
        return None

    t0 = time.monotonic()
    assert watch(coord.store, 60.0, look) == "lapsed"
    assert time.monotonic() - t0 < 30.0


def test_a_look_that_raises_ends_the_wait(coord: Coord) -> None:
    def look(w: Watch) -> None:
        raise LookupError("given up")

    with pytest.raises(LookupError, match="given up"):
        watch(coord.store, 30.0, look)
