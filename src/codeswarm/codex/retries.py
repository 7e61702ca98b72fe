"""A deadline for a turn that does nothing but retry.

When the model cannot be reached (a closed port, no network, no login), Codex sends ``error
{willRetry: true}`` notifications ("Reconnecting... 2/5", then "Reconnecting... waiting for
network") with a growing backoff and never ends the turn on its own (notes: codex-facts-more
§8). :class:`RetryWatch` follows a turn's messages and says when it has been retrying, with no
sign of the model, for ``deadline`` seconds; its caller then interrupts the turn and reports it
failed with :meth:`RetryWatch.reason`. HTTP errors (401, 429, 500) need no deadline: Codex ends
the turn ``failed`` at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codeswarm.codex.turn import TurnHandle

Message = dict[str, Any]

_SIGNS_OF_THE_MODEL = ("thread/tokenUsage/updated", "turn/diff/updated", "turn/plan/updated")
"""Methods only a model's answer produces (besides the ``item/*`` of what it said or called)."""


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def error_text(params: Any) -> str:
    """An ``error`` notification's message with its cause (``additionalDetails``), one line."""
    err = _d(_d(params).get("error"))
    message = str(err.get("message") or "unknown error")
    details = err.get("additionalDetails")
    if isinstance(details, str) and details and details not in message:
        message = f"{message} ({details})"
    return " ".join(message.split())


def _model_answered(msg: Message) -> bool:
    method = msg.get("method")
    if "id" in msg and isinstance(method, str):  # a server request: the model called a tool
        return True
    if method in _SIGNS_OF_THE_MODEL:
        return True
    if isinstance(method, str) and method.startswith("item/"):
        item = _d(_d(msg.get("params")).get("item"))
        return item.get("type") != "userMessage"  # the user's own message is no answer
    return False


class RetryWatch:
    """Follows one turn: :meth:`observe` every message, ask :meth:`remaining` how long until
    the turn has retried for ``deadline`` seconds with nothing from the model in between."""

    def __init__(self, deadline: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.deadline = deadline
        self._clock = clock
        self._since: float | None = None  # when the current run of retries began
        self.cause: str | None = None
        """The last retry's message and cause ("Reconnecting... 3/5 (Connection refused …)")."""
        self.retries = 0

    def observe(self, msg: Message) -> None:
        method = msg.get("method")
        if method == "error":
            params = _d(msg.get("params"))
            if params.get("willRetry"):
                if self._since is None:
                    self._since = self._clock()
                self.retries += 1
                self.cause = error_text(params)
            return
        if _model_answered(msg):
            self._since = None

    @property
    def retrying(self) -> bool:
        return self._since is not None

    def remaining(self) -> float | None:
        """Seconds left before giving up (0 when it is time); None while not retrying."""
        if self._since is None:
            return None
        return max(0.0, self._since + self.deadline - self._clock())

    def reason(self) -> str:
        """Why the turn was given up, for a person: the deadline and Codex's last cause."""
        return (
            f"the model could not be reached for {self.deadline:g}s ({self.retries} retries; "
            f"last: {self.cause or 'no answer'}); gave up the turn"
        )


async def follow_turn(
    turn: TurnHandle, watch: RetryWatch, give_up: Callable[[str], Awaitable[None]]
) -> AsyncIterator[Message]:
    """The turn's messages, in order, up to its end, each observed by ``watch``. When the
    turn has retried for the deadline, ``give_up(reason)`` is awaited once (it should interrupt
    the turn) and the messages go on until Codex ends the turn. Codex's errors propagate."""
    it = turn.__aiter__()
    gave_up = False
    while True:
        timeout = None if gave_up else watch.remaining()
        try:
            if timeout is None:
                msg = await it.__anext__()
            else:
                msg = await asyncio.wait_for(it.__anext__(), timeout)
        except StopAsyncIteration:
            return
        except TimeoutError:  # nothing but retries for the deadline (no message is lost)
            gave_up = True
            await give_up(watch.reason())
            continue
        watch.observe(msg)
        yield msg
