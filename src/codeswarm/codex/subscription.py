"""An ordered, unbounded stream of messages from one connection.

A subscription buffers everything that matches from the moment it is created, so a caller who
subscribes before sending a request sees every notification about it, including those that arrive
before the reply. Iteration ends when the subscription is closed by us (``StopAsyncIteration``) and
raises the connection's error when the peer went away, after every buffered message was delivered.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any

from codeswarm.core.resource import Resource

Message = dict[str, Any]
Predicate = Callable[[Message], bool]


class Subscription(Resource):
    def __init__(
        self,
        predicate: Predicate | None,
        on_close: Callable[[Subscription], None],
        *,
        requests: bool = True,
    ) -> None:
        self.predicate = predicate
        self.requests = requests
        """Also deliver server→client requests (they carry ``id`` and ``method``)."""
        self._items: collections.deque[Message] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._end: BaseException | None = None
        self._ended = False
        self._on_close = on_close

    # -- producer side (the connection's read loop) -------------------------------------------
    def _push(self, msg: Message) -> None:
        self._items.append(msg)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _finish(self, exc: BaseException | None) -> None:
        if self._ended:
            return
        self._ended = True
        self._end = exc
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- consumer side -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    def get_nowait(self) -> Message | None:
        """The next buffered message, or ``None``."""
        return self._items.popleft() if self._items else None

    async def get(self) -> Message:
        """The next message; raises ``StopAsyncIteration`` or the connection's error at the end."""
        while not self._items:
            if self._ended:
                if self._end is not None:
                    raise self._end
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        return await self.get()

    def close(self) -> None:
        """Stop receiving; buffered messages stay readable, then iteration stops."""
        self._on_close(self)
        self._finish(None)
