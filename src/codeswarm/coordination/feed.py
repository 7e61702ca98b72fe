"""Waiting for the store to change: the one mark / look / wait loop over a
:class:`~codeswarm.coordination.store.ChangeFeed` (``events(wait)``, ``inbox(wait)``, ``lease(wait)``)."""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from codeswarm.coordination.store import Store

    R = TypeVar("R")


class Watch:
    """What a look knows of its wait: :attr:`left`, and :meth:`wake_within` for a change that
    comes with time rather than with a commit (a lease that lapses)."""

    __slots__ = ("_wake", "left")

    def __init__(self) -> None:
        self.left = 0.0
        """Seconds before the timeout when this look began; ``<= 0``: the last look."""
        self._wake: float | None = None

    def wake_within(self, seconds: float) -> None:
        """Look again after at most ``seconds``, even if nothing is committed by then."""
        self._wake = seconds if self._wake is None else min(self._wake, seconds)


def watch(store: Store, timeout: float, look: Callable[[Watch], R | None]) -> R | None:
    """Call ``look`` until it returns something other than None, looking again after every
    commit to ``store``, and once more when ``timeout`` seconds have passed; then return what
    it returned (None: the time ran out).

    A commit made after a look began is never missed: the feed's mark is taken before each look.
    ``look`` may raise, which ends the wait (and is how a look says "give up" on its last call).
    """
    deadline = time.monotonic() + max(0.0, timeout)
    w = Watch()
    feed = store.changes()
    try:
        while True:
            mark = feed.mark()
            w.left = deadline - time.monotonic()
            w._wake = None
            found = look(w)
            if found is not None or w.left <= 0:
                return found
            left = deadline - time.monotonic()
            if left > 0:  # else the look took the rest of the time: look once more, at once
                feed.wait(mark, left if w._wake is None else min(left, w._wake))
    finally:
        feed.close()
