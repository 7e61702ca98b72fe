"""Time for the coordination store, injectable so that TTL logic is tested with a fake clock.

Every timestamp the store writes is ``Clock.now()`` (seconds since the epoch, a float). Waiting
(``wait``, ``lease(..., wait=...)``) always uses real monotonic time for its deadline.
"""

from __future__ import annotations

import abc
import time


class Clock(abc.ABC):
    """Where the store gets "now" from."""

    @abc.abstractmethod
    def now(self) -> float:
        """Seconds since the epoch."""


class SystemClock(Clock):
    """The wall clock (``time.time``)."""

    def now(self) -> float:
        return time.time()


class ManualClock(Clock):
    """A clock that moves only when told to: for tests of expiry, TTLs and ages."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds``; returns the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds
        return self._now


SYSTEM_CLOCK = SystemClock()
