"""The worker's link and delegation (every backend): the record that wakes an agent for a task
or a question carries them; the end of its turn marks an unreported task `needs_review` and
sends the reply a question expects."""

from __future__ import annotations

import asyncio

from codeswarm.coordination import Coord
from codeswarm.worker.coordlink import wake_record

AGENT = "w_1"
WITHIN = 10.0


async def test_task_and_question_records_and_the_end_of_their_turns(links, peer: Coord) -> None:  # type: ignore[no-untyped-def]
    link = await links.open(AGENT)
    queue = links.follow(link)
    boss = peer.register("boss", role="orchestrator")
    task, state = peer.delegate(boss, "part a", "write part a", agent=AGENT)
    assert state == "started"
    record = await asyncio.wait_for(queue.get(), WITHIN)
    assert (record["task_id"], record["expects_reply"], record["coord_sender"]) == (
        task.id, False, boss.id,
    )  # fmt: skip
    assert "write part a" in record["text"]

    # the turn ended without a report: the task needs review, and its creator hears of it
    await link.turn_ended(record, task.id, "I could not finish")
    assert peer.task(task.id).status == "needs_review"
    [news] = [m for m in peer.inbox(boss) if m.task_id == task.id]
    assert "needs_review" in news.text and news.sender == f"{AGENT}#1"
    await link.turn_ended(record, task.id, "again")  # nothing more
    assert len(peer.inbox(boss)) == 1

    # a question: its record says so, and the end of its turn sends the final message back
    ask = peer.send(AGENT, "what did you change?", sender=boss, expects_reply=True, awaited=True)
    record = await asyncio.wait_for(queue.get(), WITHIN)
    assert record["expects_reply"] is True and record["task_id"] is None
    assert "sent back to boss#1 as the reply" in str(record["text"])
    await link.turn_ended(record, None, "only a.py")
    reply = await asyncio.to_thread(peer.wait_reply, boss, ask.id, 5)
    assert reply is not None and reply.text == "only a.py" and reply.reply_to == ask.id
    assert len(peer.inbox(boss)) == 1  # awaited: handed to the waiter, not delivered
    assert links.reports == []


def test_a_plain_message_record_is_unchanged(peer: Coord) -> None:
    boss = peer.register("boss")
    peer.register(AGENT)
    sent = peer.send(AGENT, "hello", sender=boss)
    assert set(wake_record(sent)) == {"id", "kind", "text", "coord_id"}
