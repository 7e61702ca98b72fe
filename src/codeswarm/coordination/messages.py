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
        task_id: int | None = None,
        expects_reply: bool = False,
        awaited: bool = False,
    ) -> Message:
        """Send ``text`` to the agent named ``to`` (any generation: a successor receives it),
        or to every active agent but the sender with ``to="*"`` (one delivery each).

        ``task_id``: the task it is about. ``expects_reply``: the recipient's worker sends the
        final message of the turn it starts back as a reply (:meth:`reply`); with ``awaited``
        too, the sender waits for that reply (:meth:`wait_reply`), so it is handed to the
        waiter instead of being delivered to the sender's inbox (where it would wake it).

        Raises NotFoundError for a name never registered here (or an unknown task),
        TooLargeError over the limit.
        """
        if to != BROADCAST:
            to = agent_name(to)
        if reply_to is not None:
            reply_to = record_id("message", reply_to)
        if task_id is not None:
            task_id = record_id("task", task_id)
        if awaited and not expects_reply:
            raise CoordInputError("awaited needs expects_reply")
        if expects_reply and to == BROADCAST:
            raise CoordInputError("a broadcast cannot expect a reply")
        self._text("message", text, self.limits.message)
        if not text:
            raise CoordInputError("message must not be empty")
        with self.store.write() as tx:
            now = self.clock.now()
            actor, _ = self._begin(tx, now, sender)
            if (
                task_id is not None
                and tx.one("SELECT 1 FROM tasks WHERE scope = ? AND id = ?", (self.scope, task_id))
                is None
            ):
                raise NotFoundError(f"no task #{task_id} in this scope")
            return post(
                self, tx, now, actor, to, text, reply_to=reply_to, task_id=task_id,
                expects_reply=2 if awaited else int(expects_reply),
            )  # fmt: skip

    def reply(self, agent: AgentLike, message_id: int, text: str) -> Message:
        """Answer message ``message_id`` (sent to ``agent``) with ``text``, cut to
        :attr:`Limits.report` characters: a message to its sender with ``reply_to``, delivered
        to the sender's inbox, or, when the sender waits for it (``awaited``), handed to the
        waiter only. Raises NotFoundError when no such message was delivered to ``agent``."""
        message_id = record_id("message", message_id)
        text = cut(text or "(no final message)", self.limits.report)
        self._text("message", text, self.limits.message)
        with self.store.write() as tx:
            now = self.clock.now()
            actor = self._begin_as(tx, now, agent)[0]
            found = tx.one(
                "SELECT m.sender, m.expects_reply, m.task_id FROM messages m JOIN deliveries d "
                "ON d.message = m.id WHERE m.id = ? AND d.scope = ? AND d.recipient = ?",
                (message_id, self.scope, actor[0]),
            )
            if found is None or found[0] is None:
                raise NotFoundError(f"no message #{message_id} from an agent was delivered to "
                                    f"{actor[0]}")  # fmt: skip
            sender, expects, task_id = found
            return post(
                self, tx, now, actor, agent_name(sender), text, reply_to=message_id,
                task_id=None if task_id is None else int(task_id), awaited=int(expects) == 2,
            )  # fmt: skip

    def wait_reply(self, agent: AgentLike, message_id: int, timeout: float) -> Message | None:
        """The reply to message ``message_id`` that ``agent`` sent (``awaited``), waiting up to
        ``timeout`` seconds for it; None when none came. Once this gave up, the message is no
        longer awaited: a reply that comes later is delivered to the inbox (it wakes the
        sender), and one that came meanwhile is returned here. Either way, a reply is seen
        once."""
        message_id = record_id("message", message_id)
        timeout = WAIT.check("wait", timeout)
        with self.store.read() as tx:
            me = self._agent_row(tx, agent, self.clock.now())
        found = watch(self.store, timeout, lambda _: self._reply(me.name, message_id))
        if found is not None:
            return found
        with self.store.write() as tx:
            now = self.clock.now()
            self._begin(tx, now)
            if tx.execute(
                "UPDATE messages SET expects_reply = 1 WHERE id = ? AND scope = ? AND "
                "expects_reply = 2",
                (message_id, self.scope),
            ):
                self._event(tx, now, "message.unawaited", str(message_id), {"id": message_id},
                            agent=(me.name, me.generation))  # fmt: skip
            late = tx.query(
                f"SELECT {rows.MESSAGE_COLS} FROM messages m WHERE m.scope = ? AND m.reply_to = ? "
                "AND m.recipient = ? ORDER BY m.id LIMIT 1",
                (self.scope, message_id, me.name),
            )
        return rows.message(late[0]) if late else None

    def last_sent(self, agent: str) -> Message | None:
        """The last message the agent named ``agent`` sent (any generation), or None."""
        name = agent_name(agent)
        with self.store.read() as tx:
            found = tx.query(
                f"SELECT {rows.MESSAGE_COLS} FROM messages m WHERE m.scope = ? AND "
                "substr(m.sender, 1, ?) = ? ORDER BY m.id DESC LIMIT 1",
                (self.scope, len(name) + 1, name + "#"),
            )
        return rows.message(found[0]) if found else None

    def messages(self, *, agent: str | None = None, limit: int = 100) -> list[Message]:
        """The last ``limit`` messages of this scope, oldest first (read-only: nothing is
        acknowledged); with ``agent``, those the agent of that name sent or received (its
        broadcasts included)."""
        limit = INBOX_LIMIT.check_int("limit", limit)
        sql = f"SELECT {rows.MESSAGE_COLS} FROM messages m WHERE m.scope = ?"
        params: list[object] = [self.scope]
        if agent is not None:
            name = agent_name(agent)
            sql += " AND (substr(m.sender, 1, ?) = ? OR m.recipient = ? OR m.recipient = ?)"
            params += [len(name) + 1, name + "#", name, BROADCAST]
        with self.store.read() as tx:
            found = tx.query(sql + " ORDER BY m.id DESC LIMIT ?", [*params, limit])
        return [rows.message(r) for r in reversed(found)]

    def _reply(self, name: str, message_id: int) -> Message | None:
        with self.store.read() as tx:
            found = tx.query(
                f"SELECT {rows.MESSAGE_COLS} FROM messages m WHERE m.scope = ? AND m.reply_to = ? "
                "AND m.recipient = ? ORDER BY m.id LIMIT 1",
                (self.scope, message_id, name),
            )
        return rows.message(found[0]) if found else None

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


def post(
    ops: CoordBase,
    tx: Tx,
    now: float,
    actor: tuple[str, int] | None,
    to: str,
    text: str,
    *,
    reply_to: int | None = None,
    task_id: int | None = None,
    expects_reply: int = 0,
    awaited: bool = False,
) -> Message:
    """Send a message inside the write transaction ``tx`` (the one way every message is sent:
    :meth:`MessageOps.send`, a reply, and the store's own news of delegated tasks). ``to``: a
    name or ``*``; ``awaited``: a reply its recipient waits for (delivered already read).

    Raises NotFoundError for a name never registered in the scope.
    """
    if to == BROADCAST:
        recipients = [
            r[0]
            for r in tx.query(
                "SELECT name FROM agents WHERE scope = ? AND status = 'active' "
                "AND expires_at > ? ORDER BY name",
                (ops.scope, now),
            )
            if actor is None or r[0] != actor[0]
        ]
    else:
        if tx.one("SELECT 1 FROM agents WHERE scope = ? AND name = ?", (ops.scope, to)) is None:
            raise NotFoundError(f"no agent named {to!r} has registered in this scope")
        recipients = [to]
    who = None if actor is None else agent_ref(*actor)
    row = tx.one(
        "INSERT INTO messages (scope, sender, recipient, text, sent_at, reply_to, task_id, "
        "expects_reply) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (ops.scope, who, to, text, now, reply_to, task_id, expects_reply),
    )
    assert row is not None
    msg_id = int(row[0])
    for name in recipients:
        tx.defer(
            "INSERT INTO deliveries (message, scope, recipient, acked_at) VALUES (?, ?, ?, ?)",
            (msg_id, ops.scope, name, now if awaited else None),
        )
    tx.ring()  # the recipients' links wake (not at every other commit: heartbeats, leases)
    data: dict[str, object] = {"id": msg_id, "to": to, "recipients": recipients,
                               "bytes": len(text.encode())}  # fmt: skip
    if task_id is not None:
        data["task_id"] = task_id
    if expects_reply:
        data["expects_reply"] = True
    if reply_to is not None:
        data["reply_to"] = reply_to
    ops._event(tx, now, "message.sent", str(msg_id), data, agent=actor)
    return Message(
        id=msg_id, sender=who, to=to, text=text, sent_at=now, reply_to=reply_to,
        task_id=task_id, expects_reply=bool(expects_reply),
    )  # fmt: skip


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying so."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 30)] + f" … [cut: {len(text)} characters]"
