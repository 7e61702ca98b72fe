"""A running turn: its notifications in order, and its outcome."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from codeswarm.codex.subscription import Message, Subscription


def message_turn_id(msg: Message) -> str | None:
    """The turn a notification belongs to, when it says."""
    params = msg.get("params")
    if not isinstance(params, dict):
        return None
    tid = params.get("turnId")
    if isinstance(tid, str):
        return tid
    turn = params.get("turn")
    if isinstance(turn, dict) and isinstance(turn.get("id"), str):
        return str(turn["id"])
    return None


def message_thread_id(msg: Message) -> str | None:
    params = msg.get("params")
    if isinstance(params, dict):
        tid = params.get("threadId") or params.get("conversationId")
        if isinstance(tid, str):
            return tid
    return None


@dataclass
class TurnResult:
    turn_id: str
    status: str
    """``completed``, ``interrupted`` or ``failed``."""
    error: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    """Every completed item, in order (``turn/completed`` carries only a summary)."""
    usage: dict[str, Any] | None = None
    """The thread's last ``tokenUsage`` (``total`` and ``last`` breakdowns)."""

    @property
    def text(self) -> str:
        """The last assistant message of the turn ("" when there was none)."""
        for item in reversed(self.items):
            if item.get("type") == "agentMessage":
                return str(item.get("text") or "")
        return ""


class TurnHandle:
    """Iterate to receive the turn's messages (notifications and server requests, in arrival
    order) up to and including ``turn/completed``; or just ``await handle.wait()``."""

    def __init__(
        self,
        thread_id: str,
        turn_id: str,
        sub: Subscription,
        interrupt: Callable[[], Awaitable[None]],
    ) -> None:
        self.thread_id = thread_id
        self.turn_id = turn_id
        self._sub = sub
        self._interrupt = interrupt
        self._items: list[dict[str, Any]] = []
        self._usage: dict[str, Any] | None = None
        self._error: str | None = None
        self.result: TurnResult | None = None

    def _belongs(self, msg: Message) -> bool:
        tid = message_turn_id(msg)
        return tid is None or tid == self.turn_id

    def _observe(self, msg: Message) -> None:
        method = msg.get("method")
        params = msg.get("params") or {}
        if method == "item/completed":
            item = params.get("item")
            if isinstance(item, dict):
                self._items.append(item)
        elif method == "thread/tokenUsage/updated":
            usage = params.get("tokenUsage")
            if isinstance(usage, dict):
                self._usage = usage
        elif method == "error":
            err = params.get("error")
            if isinstance(err, dict) and not params.get("willRetry"):
                self._error = str(err.get("message") or "")
        elif method == "turn/completed":
            turn = params.get("turn") or {}
            err = turn.get("error")
            message = err.get("message") if isinstance(err, dict) else None
            self.result = TurnResult(
                self.turn_id,
                str(turn.get("status") or "completed"),
                message or self._error,
                self._items,
                self._usage,
            )

    def __aiter__(self) -> TurnHandle:
        return self

    async def __anext__(self) -> Message:
        if self.result is not None:
            self._sub.close()
            raise StopAsyncIteration
        while True:
            msg = await self._sub.get()
            if self._belongs(msg):
                self._observe(msg)
                return msg

    async def wait(self) -> TurnResult:
        """Consume the rest of the turn and return its result."""
        async for _ in self:
            pass
        assert self.result is not None
        return self.result

    async def interrupt(self) -> None:
        """Ask Codex to stop this turn; it then completes with status ``interrupted``."""
        await self._interrupt()

    def close(self) -> None:
        self._sub.close()
