"""Agents: registration, generations and fencing, heartbeats, expiry and reclaim (every backend)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from codeswarm.coordination import Coord, ManualClock
from codeswarm.core.errors import CoordInputError, FencedError, NotFoundError


def test_register_returns_an_identity_and_lists_it(coord: Coord, clock: ManualClock) -> None:
    a = coord.register("worker_1", role="coder", label="first", pid=42, host="n1", lease_s=30)
    assert (a.id, a.name, a.generation, a.status) == ("worker_1#1", "worker_1", 1, "active")
    assert (a.role, a.label, a.pid, a.host, a.lease_s) == ("coder", "first", 42, "n1", 30.0)
    assert a.expires_at == clock.now() + 30
    assert [x.id for x in coord.agents()] == ["worker_1#1"]
    assert coord.agent("worker_1") == a
    assert coord.agent("worker_1#1") == a
    [event] = coord.events(kind="agent.registered")
    assert (event.agent, event.subject, event.data["pid"]) == ("worker_1#1", "worker_1", 42)


def test_registering_a_name_again_fences_the_old_generation(coord: Coord) -> None:
    old = coord.register("w")
    coord.lease(old, "a.py")
    task = coord.add_task("t")
    coord.claim(old, task.id)
    new = coord.register("w")
    assert new.id == "w#2"
    with pytest.raises(FencedError, match=r"w#1 was superseded by w#2"):
        coord.lease(old, "b.py")
    with pytest.raises(FencedError):
        coord.heartbeat(old)
    assert coord.leases() == []  # the old generation's lease was released ...
    assert coord.task(task.id).status == "open"  # ... and its task reopened
    kinds = [e.kind for e in coord.events()][-4:]
    assert kinds == ["lease.released", "task.reopened", "agent.superseded", "agent.registered"]
    coord.lease(new, "a.py")  # the new generation works
    coord.lease("w", "c.py")  # a bare name acts as the current generation


def test_heartbeat_and_any_write_extend_the_lease(coord: Coord, clock: ManualClock) -> None:
    a = coord.register("w", lease_s=10)
    clock.advance(8)
    assert coord.heartbeat(a).expires_at == clock.now() + 10
    clock.advance(8)
    coord.kv_set("k", "v", by=a)
    clock.advance(8)
    assert coord.agent(a).status == "active"


def test_expiry_reclaims_leases_and_tasks_but_keeps_messages(
    coord: Coord, clock: ManualClock
) -> None:
    a = coord.register("a", lease_s=10)
    b = coord.register("b", lease_s=1000)
    coord.lease(a, "src/", note="mine")
    task = coord.add_task("t")
    coord.claim(a, task.id)
    msg = coord.send("a", "for a", sender=b)
    clock.advance(11)
    assert [x.status for x in coord.agents(all=True)] == ["expired", "active"]
    assert coord.agents() == [coord.agent(b)]
    lease = coord.lease(b, "src/x.py")  # the write that reclaims
    assert lease.holder == "b#1"
    assert coord.task(task.id).status == "open"
    kinds = [e.kind for e in coord.events(agent="a")]
    assert kinds[-3:] == ["lease.released", "task.reopened", "agent.expired"]
    with pytest.raises(FencedError, match="expired"):
        coord.heartbeat(a)
    successor = coord.register("a")
    assert successor.id == "a#2"
    assert [m.id for m in coord.inbox(successor)] == [msg.id]


def test_deregister_releases_everything(coord: Coord) -> None:
    a = coord.register("a")
    coord.lease(a, "x")
    task = coord.add_task("t")
    coord.claim(a, task.id)
    coord.deregister(a)
    assert coord.leases() == []
    assert coord.task(task.id).status == "open"
    assert coord.agents() == []
    assert [x.status for x in coord.agents(all=True)] == ["deregistered"]
    with pytest.raises(FencedError, match="deregistered"):
        coord.lease(a, "x")
    assert coord.register("a").generation == 2


def test_unknown_and_invalid_agents(coord: Coord) -> None:
    with pytest.raises(NotFoundError, match="no agent named 'ghost'"):
        coord.heartbeat("ghost")
    coord.register("a")
    with pytest.raises(NotFoundError, match="latest generation is a#1"):
        coord.heartbeat("a#5")
    for bad in ("", "a b", "x" * 65, "a/b", "*"):
        with pytest.raises(CoordInputError):
            coord.register(bad)
    with pytest.raises(CoordInputError):
        coord.heartbeat("a#zero")
    with pytest.raises(CoordInputError):
        coord.register("b", lease_s=0)


def test_scopes_are_isolated(open_coord: Callable[..., Coord], tmp_path: object) -> None:
    one = open_coord(scope="one")
    two = open_coord(scope="two")
    one.register("a")
    one.kv_set("k", "v")
    assert two.agents() == []
    assert two.kv_get("k") is None
    assert two.events() == []
    assert two.register("a").generation == 1
