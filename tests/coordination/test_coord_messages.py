"""Messages: direct, broadcast, durable until acknowledged, waiting for them (every backend)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from codeswarm.coordination import Coord, Limits, Message
from codeswarm.core.errors import CoordInputError, NotFoundError, TooLargeError


def test_direct_message_is_redelivered_until_acked(open_coord: Callable[..., Coord]) -> None:
    coord = open_coord()
    a, b = coord.register("a"), coord.register("b")
    msg = coord.send("b", "please review src/x.py", sender=a)
    assert (msg.sender, msg.to) == ("a#1", "b")
    assert [m.text for m in coord.inbox(b)] == ["please review src/x.py"]
    # a receiver that "crashed" (another connection, nothing acked) sees it again
    assert open_coord().inbox("b") == coord.inbox(b)
    assert coord.ack(b, [msg.id]) == 1
    assert coord.ack(b, [msg.id]) == 0  # harmless twice
    assert coord.inbox(b) == []
    assert coord.inbox(a) == []


def test_broadcast_is_one_delivery_per_recipient(coord: Coord) -> None:
    a, b, c = coord.register("a"), coord.register("b"), coord.register("c")
    msg = coord.send("*", "freeze merges", sender=a)
    assert coord.inbox(a) == []
    assert [m.id for m in coord.inbox(b)] == [msg.id]
    assert [m.id for m in coord.inbox(c)] == [msg.id]
    coord.ack(b, [msg.id])
    assert [m.id for m in coord.inbox(c)] == [msg.id]
    [event] = coord.events(kind="message.sent")
    assert event.data["recipients"] == ["b", "c"]


def test_ack_and_send_errors(open_coord: Callable[..., Coord]) -> None:
    coord = open_coord(limits=Limits(message=10))
    a, b = coord.register("a"), coord.register("b")
    msg = coord.send("b", "hi", sender=a)
    with pytest.raises(NotFoundError, match="delivered to a"):
        coord.ack(a, [msg.id])
    with pytest.raises(NotFoundError, match="#999"):
        coord.ack(b, [msg.id, 999])
    assert [m.id for m in coord.inbox(b)] == [msg.id]  # nothing acked by the failed call
    with pytest.raises(NotFoundError, match="nobody"):
        coord.send("nobody", "hi")
    with pytest.raises(TooLargeError):
        coord.send("b", "x" * 11)
    with pytest.raises(CoordInputError):
        coord.send("b", "")
    with pytest.raises(CoordInputError):
        coord.ack(b, [])


def test_inbox_wait_wakes_on_a_new_message(open_coord: Callable[..., Coord]) -> None:
    sender, receiver = open_coord(), open_coord()
    a, b = sender.register("a"), sender.register("b")
    got: list[list[Message]] = []
    thread = threading.Thread(target=lambda: got.append(receiver.inbox(b, wait=20)))
    thread.start()
    sender.send("b", "wake up", sender=a)
    thread.join(30)
    assert not thread.is_alive()
    assert [m.text for m in got[0]] == ["wake up"]
    assert receiver.inbox(b, wait=0.05) != []  # still there: not acked


def test_inbox_wait_times_out_empty(coord: Coord) -> None:
    b = coord.register("b")
    assert coord.inbox(b, wait=0.05) == []


def test_messages_lists_the_scope_oldest_first_without_acknowledging(
    open_coord: Callable[..., Coord],
) -> None:
    coord = open_coord()
    a, b, c = coord.register("a"), coord.register("b"), coord.register("c")
    first = coord.send("b", "one", sender=a)
    coord.send("c", "two", sender=b)
    coord.send("*", "three", sender=c)
    coord.send("a", "four", sender=c)
    assert [m.text for m in coord.messages()] == ["one", "two", "three", "four"]
    assert [m.text for m in coord.messages(limit=2)] == ["three", "four"]  # the last ones
    # an agent's: what it sent or received, broadcasts included
    assert [m.text for m in coord.messages(agent="a")] == ["one", "three", "four"]
    assert [m.text for m in coord.messages(agent="b#1")] == ["one", "two", "three"]
    assert coord.messages(agent="nobody") == [m for m in coord.messages() if m.to == "*"]
    assert coord.messages()[0] == first
    assert [m.text for m in coord.inbox(b)] == ["one", "three"]  # nothing acknowledged
    assert open_coord(scope="elsewhere").messages() == []
    with pytest.raises(CoordInputError):
        coord.messages(limit=0)
