"""Forwarding Codex's approval requests to whoever controls the swarm.

The raw request already reaches control through the outbox (every Codex message is relayed);
this policy parks the request until an ``approval`` record for it arrives in the inbox.
"""

from __future__ import annotations

import asyncio

from codeswarm.codex.approval import ApprovalRequest, Decision

DECISIONS = {d.value: d for d in Decision} | {"approve": Decision.ACCEPT, "deny": Decision.DECLINE}


class ForwardedApprovals:
    """An approval policy whose decisions come from the inbox."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[ApprovalRequest, asyncio.Future[Decision]]] = {}

    def key(self, request_id: object) -> str:
        return str(request_id)

    async def decide(self, request: ApprovalRequest) -> Decision:
        fut: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._pending[self.key(request.request_id)] = (request, fut)
        try:
            return await fut
        finally:
            self._pending.pop(self.key(request.request_id), None)

    def answer(self, request_id: object, decision: str, item_id: str | None = None) -> bool:
        """Resolve a pending request; ``False`` when there is no such request (stale, already
        answered, or from a Codex that has since restarted: the item id must match)."""
        entry = self._pending.get(self.key(request_id))
        if entry is None:
            return False
        request, fut = entry
        if item_id is not None and request.item_id not in (None, item_id):
            return False
        choice = DECISIONS.get(decision)
        if choice is None or fut.done():
            return False
        fut.set_result(choice)
        return True

    def cancel_all(self) -> None:
        """Codex went away: nobody is waiting for these answers any more."""
        for _request, fut in self._pending.values():
            if not fut.done():
                fut.set_result(Decision.CANCEL)
        self._pending.clear()

    def __len__(self) -> int:
        return len(self._pending)
