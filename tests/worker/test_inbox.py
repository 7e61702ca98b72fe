"""The worker's side of its inbox: records in order, and a cursor that moves past a record only
once it was acted on, so a restarted worker loses nothing and acts on nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from codeswarm.mailbox import MailRecord

WITHIN = 10.0


async def take(records: AsyncIterator[MailRecord], n: int) -> list[MailRecord]:
    """The next ``n`` records."""
    async with asyncio.timeout(WITHIN):
        return [await anext(records) for _ in range(n)]


def ids(records: list[MailRecord]) -> list[str]:
    return [str(r["id"]) for r in records]


async def test_records_in_order_then_resume_after_what_was_acted_on(inboxes) -> None:  # type: ignore[no-untyped-def]
    sent = [str(inboxes.writer.append("message", text=f"m{i}")["id"]) for i in range(3)]
    inbox, records = inboxes.open()
    got = await take(records, 3)
    assert ids(got) == sent
    assert [r["text"] for r in got] == ["m0", "m1", "m2"]
    inbox.done(got[0])
    inbox.done(got[1])

    inbox, records = inboxes.open()  # the worker restarted
    (again,) = await take(records, 1)
    assert again["id"] == sent[2]  # the first record not acted on; nothing before it
    later = inboxes.writer.append("message", text="m3")  # and it follows the file from there
    assert ids(await take(records, 1)) == [later["id"]]


async def test_nothing_acted_on_comes_again(inboxes) -> None:  # type: ignore[no-untyped-def]
    sent = [str(inboxes.writer.append("message", text=f"m{i}")["id"]) for i in range(2)]
    _inbox, records = inboxes.open()
    assert ids(await take(records, 2)) == sent
    _inbox, records = inboxes.open()
    assert ids(await take(records, 2)) == sent


async def test_records_acted_on_out_of_order_are_skipped_by_id(inboxes) -> None:  # type: ignore[no-untyped-def]
    """A control record is acted on at once, even while a message before it waits for a turn."""
    waiting = inboxes.writer.append("message", text="after this turn")
    interrupt = inboxes.writer.append("interrupt")
    last = inboxes.writer.append("message", text="and then this")
    inbox, records = inboxes.open()
    await take(records, 3)
    inbox.done(interrupt)

    inbox, records = inboxes.open()
    got = await take(records, 2)
    assert ids(got) == [waiting["id"], last["id"]]  # the interrupt is not acted on twice
    inbox.done(got[0])  # the cursor moves past the message and the interrupt beyond it

    inbox, records = inboxes.open()
    assert ids(await take(records, 1)) == [last["id"]]


async def test_done_is_idempotent_and_ignores_records_of_other_sources(inboxes) -> None:  # type: ignore[no-untyped-def]
    inboxes.writer.append("message", text="m0")
    second = inboxes.writer.append("message", text="m1")
    inbox, records = inboxes.open()
    got = await take(records, 2)
    inbox.done({"id": "coord-7", "kind": "message"})  # a coordination message: not in the file
    inbox.done(got[0])
    inbox.done(got[0])
    inbox, records = inboxes.open()
    assert ids(await take(records, 1)) == [second["id"]]
