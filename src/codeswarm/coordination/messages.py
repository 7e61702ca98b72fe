"""Messages between agents: direct or broadcast, durable until the recipient acknowledges."""

from __future__ import annotations

from codeswarm.coordination import rows
from codeswarm.coordination._base import CoordBase
from codeswarm.coordination.bounds import INBOX_LIMIT, WAIT, check_count
from codeswarm.coordination.feed import watch
from codeswarm.coordination.models import BROADCAST, Message, agent_name, agent_ref, record_id
from codeswarm.core.errors import CoordInputError, NotFoundError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from codeswarm.coordination._base import AgentLike
    from codeswarm.coordination.store import Tx


class MessageOps(CoordBase):
    def send(
        self,
        to: str,
        text: str,
        *,
        sender: AgentLike | None = None,
        reply_to: int | None = None,
    ) -> Message:
        """Send ``text`` to the agent named ``to`` (any generation: a successor receives it),
        or to every active agent but the sender with ``to="*"`` (one delivery each).

        Raises NotFoundError for a name never registered here, TooLargeError over the limit.
        """
        if to != BROADCAST:
            to = agent_name(to)
        if reply_to is not None:
            reply_to = record_id("message", reply_to)
        self._text("message", text, self.limits.message)
        if not text:
            raise CoordInputError("message must not be empty")
        with self.store.write() as tx:
            now = self.clock.now()
            actor, _ = self._begin(tx, now, sender)
            if to == BROADCAST:
                recipients = [
                    r[0]
                    for r in tx.query(
                        "SELECT name FROM agents WHERE scope = ? AND status = 'active' "
                        "AND expires_at > ? ORDER BY name",
                        (self.scope, now),
                    )
                    if actor is None or r[0] != actor[0]
                ]
            else:
                if (
                    tx.one("SELECT 1 FROM agents WHERE scope = ? AND name = ?", (self.scope, to))
                    is None
                ):
                    raise NotFoundError(f"no agent named {to!r} has registered in this scope")
                recipients = [to]
            who = None if actor is None else agent_ref(*actor)
            row = tx.one(
                "INSERT INTO messages (scope, sender, recipient, text, sent_at, reply_to) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (self.scope, who, to, text, now, reply_to),
            )
            assert row is not None
            msg_id = int(row[0])
            for name in recipients:
                tx.defer(
                    "INSERT INTO deliveries (message, scope, recipient, acked_at) "
                    "VALUES (?, ?, ?, NULL)",
                    (msg_id, self.scope, name),
                )
            self._event(
                tx, now, "message.sent", str(msg_id),
                {"id": msg_id, "to": to, "recipients": recipients,
                 "bytes": len(text.encode())},
                agent=actor,
            )  # fmt: skip
        return Message(id=msg_id, sender=who, to=to, text=text, sent_at=now, reply_to=reply_to)

    def inbox(self, agent: AgentLike, *, limit: int = 100, wait: float = 0.0) -> list[Message]:
        """``agent``'s unacknowledged messages, oldest first. They come back on every call until
        acknowledged with :meth:`ack` (a receiver that crashes before acking sees them again).
        With ``wait``, block up to that many seconds for one to arrive."""
        limit = INBOX_LIMIT.check_int("limit", limit)
        if WAIT.check("wait", wait) == 0:
            return self._inbox(agent, limit)
        return watch(self.store, wait, lambda _: self._inbox(agent, limit) or None) or []

    def _inbox(self, agent: AgentLike, limit: int) -> list[Message]:
        with self.store.read() as tx:
            me = self._agent_row(tx, agent, self.clock.now())
            found = tx.query(
                f"SELECT {rows.MESSAGE_COLS} FROM deliveries d "
                "JOIN messages m ON m.id = d.message "
                "WHERE d.scope = ? AND d.recipient = ? AND d.acked_at IS NULL "
                "ORDER BY d.message LIMIT ?",
                (self.scope, me.name, limit),
            )
        return [rows.message(r) for r in found]

    def ack(self, agent: AgentLike, ids: Iterable[int]) -> int:
        """Acknowledge messages delivered to ``agent``; returns how many were newly acked
        (acking twice is harmless). Raises NotFoundError for an id not delivered to it."""
        wanted = sorted({record_id("message", i) for i in ids})
        check_count("message ids", len(wanted))
        if not wanted:
            raise CoordInputError("no message ids to acknowledge")
        with self.store.write() as tx:
            now = self.clock.now()
            (name, gen), _ = self._begin_as(tx, now, agent)
            found = self._deliveries(tx, name, wanted)
            missing = [i for i in wanted if i not in found]
            if missing:
                raise NotFoundError(
                    f"no message {', '.join(f'#{i}' for i in missing)} was delivered to {name}"
                )
            fresh = [i for i in wanted if found[i] is None]
            if fresh:
                marks = ", ".join("?" * len(fresh))
                tx.execute(
                    "UPDATE deliveries SET acked_at = ? "
                    f"WHERE scope = ? AND recipient = ? AND message IN ({marks})",
                    (now, self.scope, name, *fresh),
                )
                self._event(tx, now, "message.acked", name, {"ids": fresh}, agent=(name, gen))
        return len(fresh)

    def _deliveries(self, tx: Tx, name: str, ids: list[int]) -> dict[int, float | None]:
        marks = ", ".join("?" * len(ids))
        return {
            int(m): acked
            for m, acked in tx.query(
                "SELECT message, acked_at FROM deliveries "
                f"WHERE scope = ? AND recipient = ? AND message IN ({marks})",
                (self.scope, name, *ids),
            )
        }
