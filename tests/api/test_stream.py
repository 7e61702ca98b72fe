"""Event streams (SSE) of a live ``codeswarm serve`` over real local swarms (supervisor, workers,
Codex, scripted model): per swarm and per agent, resumed after a dropped connection with
``Last-Event-ID`` and with ``?after=``, two swarms at once, bad ids, inotify (no polling), and a
``kill -9`` of ``serve`` while clients stream. What every client got is checked against a replay
of the outboxes: each agent's events in seq order, none lost, none repeated."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sseclient import Frames, assert_once_in_order

from apikit import Project, Served, error_of
from codeswarm.control.fleet.router import Router
from codeswarm.core.swarm import RunDir
from swarmkit import Swarm, wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow]

READ_S = 120.0  # a stream waits this long for a byte (pings come every 15 s)
WAIT_S = 180.0
ANSWER = " ".join(f"word{i}" for i in range(40))
SCRIPT: dict[str, Any] = {
    "agents": {
        "*": [{"when": ".", "repeat": True, "text": ANSWER, "chunk": 9, "delta_delay": 0.15}]
    }
}


@pytest.fixture(scope="module")
def swarms(api_project: Project, live_api: Served) -> tuple[Swarm, Swarm]:
    """Two swarms brought up after ``serve`` started: ``ev`` (2 agents), ``ew`` (1)."""
    ev, ew = api_project.make("ev"), api_project.make("ew")
    ev.up(2, SCRIPT)
    ew.up(1, SCRIPT)
    return ev, ew


class Tail:
    """A client streaming ``path`` in a thread until ``until(frames)`` holds or the connection
    breaks (then ``error``)."""

    def __init__(
        self,
        served: Served,
        path: str,
        *,
        last_id: str | None = None,
        params: dict[str, str] | None = None,
        until: Callable[[Frames], bool] | None = None,
        frames: Frames | None = None,
    ) -> None:
        self.served, self.path, self.last_id, self.params = served, path, last_id, params
        self.until = until
        self.frames = frames or Frames()
        self.status: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.served.token}"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        try:
            with (
                httpx.Client(base_url=self.served.url, headers=headers, timeout=READ_S) as c,
                c.stream("GET", self.path, params=self.params) as r,
            ):
                self.status = r.status_code
                assert r.headers["content-type"] == "text/event-stream"
                for chunk in r.iter_raw():
                    self.frames.feed(chunk)
                    if self.until is not None and self.until(self.frames):
                        return
        except httpx.HTTPError as exc:
            self.error = exc

    def join(self) -> Frames:
        self.thread.join(WAIT_S)
        assert not self.thread.is_alive(), f"{self.path} still streaming after {WAIT_S:g}s"
        return self.frames


def replay(swarm: Swarm) -> list[tuple[str, int, str]]:
    """Every (agent, seq, type) the swarm's outboxes stand for now."""
    out: list[tuple[str, int, str]] = []
    Router(RunDir(swarm.run_dir), start="begin").replay(
        lambda e: out.append((e["agent"], e["seq"], e["type"]))
    )
    return out


def vector(swarm: Swarm, agents: list[str]) -> list[int]:
    last = {a: s for a, s, _ in replay(swarm)}
    return [last.get(a, 0) for a in agents]


def reached(target: list[int], agent: int | None = None) -> Callable[[Frames], bool]:
    """Until the last id is at ``target`` (a swarm vector; with ``agent``, that agent's seq)."""

    def done(frames: Frames) -> bool:
        if frames.last_id is None:
            return False
        if agent is not None:
            return int(frames.last_id) >= target[agent]
        got = [int(x) for x in frames.last_id.split(".")]
        return all(g >= t for g, t in zip(got, target, strict=True))

    return done


def window(
    swarm: Swarm, agents: list[str], after: list[int], frames: Frames
) -> set[tuple[str, int]]:
    """The (agent, seq) of the replay after ``after`` up to what ``frames`` last saw."""
    last = dict.fromkeys(agents, 0)
    for _, e in frames.events:
        last[e["agent"]] = max(last[e["agent"]], e["seq"])
    return {
        (a, s) for a, s, _ in replay(swarm) if a in last and after[agents.index(a)] < s <= last[a]
    }


def send(swarm: Swarm, text: str, to: str = "all") -> subprocess.Popen[str]:
    """``codeswarm send SWARM TO TEXT --wait`` in the background."""
    return subprocess.Popen(
        [sys.executable, "-P", "-m", "codeswarm", "send", swarm.name, to, text, "--wait"],
        env=swarm.env, cwd=swarm.workdir, text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def finished(proc: subprocess.Popen[str]) -> None:
    _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, err


def deltas_after(frames: Frames, agent: str, seq: int) -> int:
    return sum(
        1
        for _, e in frames.events
        if e["agent"] == agent and e["seq"] > seq and e["type"] == "message.delta"
    )


def test_streams_resume_after_a_drop_with_last_event_id_and_after(
    live_api: Served, swarms: tuple[Swarm, Swarm]
) -> None:
    ev, _ = swarms
    agents = [ev.agent(0), ev.agent(1)]
    finished(send(ev, "one"))
    # from the beginning; dropped after a few events
    first = Tail(live_api, "/api/swarms/ev/events", params={"after": "0"},
                 until=lambda f: len(f.events) >= 5).join()  # fmt: skip
    assert first.retry == 1000 and first.events[0][0] in ("1.0", "0.1")
    finished(send(ev, "two"))  # while nobody listens
    # resumed with Last-Event-ID: the rest of the first turn and all of the second
    target = vector(ev, agents)
    Tail(live_api, "/api/swarms/ev/events", last_id=first.last_id, until=reached(target),
         frames=first).join()  # fmt: skip
    # a third turn streams; the client drops mid-answer and resumes with ?after=
    mark = list(target)
    sender = send(ev, "three")
    Tail(live_api, "/api/swarms/ev/events", last_id=first.last_id, frames=first,
         until=lambda f: deltas_after(f, agents[1], mark[1]) >= 3).join()  # fmt: skip
    assert sender.poll() is None, "the third answer was over before the drop"
    finished(sender)
    target = vector(ev, agents)
    assert first.last_id is not None
    Tail(live_api, "/api/swarms/ev/events", params={"after": first.last_id},
         until=reached(target), frames=first).join()  # fmt: skip
    assert_once_in_order(first.events, window(ev, agents, [0, 0], first), agents)
    assert {a for a, _, _ in replay(ev)} == set(agents)
    assert [int(x) for x in (first.last_id or "").split(".")] == target
    # per agent, by id and by rank: ids are the agent's seqs
    for path, k in [
        ("/api/swarms/ev/agents/ev_1/events", 1),
        ("/api/swarms/ev/agents/0/events", 0),
    ]:
        part = Tail(
            live_api, path, params={"after": "0"}, until=lambda f: len(f.events) >= 7
        ).join()
        Tail(live_api, path, last_id=part.last_id, until=reached(target, k), frames=part).join()
        expected = {(a, s) for a, s, _ in replay(ev) if a == agents[k]}
        assert_once_in_order(part.events, expected)


def test_two_swarms_at_once_each_stream_gets_its_own(
    live_api: Served, swarms: tuple[Swarm, Swarm]
) -> None:
    ev, ew = swarms
    ev_agents, ew_agents = [ev.agent(0), ev.agent(1)], [ew.agent(0)]
    start_ev, start_ew = vector(ev, ev_agents), vector(ew, ew_agents)

    def turns(n: int) -> Callable[[Frames], bool]:
        return lambda f: sum(e["type"] == "turn.completed" for _, e in f.events) >= n

    tails = [
        Tail(live_api, "/api/swarms/ev/events", until=turns(2)),
        Tail(live_api, "/api/swarms/ew/events", until=turns(1)),
        Tail(live_api, "/api/swarms/ew/agents/0/events", until=turns(1)),
    ]
    wait_until(lambda: all(t.status == 200 for t in tails), WAIT_S, "three streams open")
    senders = [send(ev, "both swarms"), send(ew, "both swarms")]
    for s in senders:
        finished(s)
    got_ev, got_ew, got_ew0 = (t.join() for t in tails)
    assert {e["swarm"] for _, e in got_ev.events} == {"ev"}
    assert {e["swarm"] for _, e in got_ew.events} == {"ew"}
    assert_once_in_order(got_ev.events, window(ev, ev_agents, start_ev, got_ev), ev_agents)
    assert_once_in_order(got_ew.events, window(ew, ew_agents, start_ew, got_ew), ew_agents)
    assert_once_in_order(got_ew0.events, window(ew, ew_agents, start_ew, got_ew0))
    assert [e["type"] for _, e in got_ew.events].count("message.delta") >= 2


def test_bad_ids_and_requests_answer_json_errors(
    live_api: Served, swarms: tuple[Swarm, Swarm]
) -> None:
    with live_api.client() as c:
        for headers, params in [
            ({"Last-Event-ID": "1.2.3"}, {}),  # ev has 2 agents
            ({"Last-Event-ID": "abc"}, {}),
            ({}, {"after": "1..2"}),
            ({}, {"after": "-1"}),
            ({}, {"after": "999999.0"}),  # past the swarm's events
        ]:
            r = c.get("/api/swarms/ev/events", headers=headers, params=params)
            assert error_of(r) == (400, "bad_event_id"), (headers, params)
        r = c.get("/api/swarms/ev/agents/1/events", params={"after": "3.4"})
        assert error_of(r) == (400, "bad_event_id")
        assert error_of(c.get("/api/swarms/ev/events", params={"types": "x"})) == (
            400,
            "bad_request",
        )
        assert error_of(c.get("/api/swarms/ev/agents/ev_9/events")) == (404, "unknown_agent")
        assert error_of(c.get("/api/swarms/nope/events")) == (404, "unknown_swarm")
    with live_api.client(token=None) as c:
        assert error_of(c.get("/api/swarms/ev/events"))[0] == 401
    with live_api.client(token="wrong") as c:
        assert error_of(c.get("/api/swarms/ev/agents/0/events"))[0] == 401


def inotify_inodes(pid: int) -> set[int]:
    """The inodes the inotify descriptors of process ``pid`` watch."""
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:inotify":
                continue
            info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        for line in info.splitlines():
            if line.startswith("inotify wd:"):
                fields = dict(f.split(":", 1) for f in line.split()[1:])
                out.add(int(fields["ino"], 16))
    return out


def test_serve_follows_outboxes_with_inotify_not_polling(
    live_api: Served, swarms: tuple[Swarm, Swarm]
) -> None:
    ev, ew = swarms
    for name in ("ev", "ew"):  # a stream of each swarm has started its follower
        Tail(live_api, f"/api/swarms/{name}/events", params={"after": "0"},
             until=lambda f: len(f.events) >= 1).join()  # fmt: skip
    watched = inotify_inodes(live_api.proc.pid)
    for swarm in (ev, ew):
        outboxes = swarm.run_dir / "mailbox" / "outbox"
        assert os.stat(outboxes).st_ino in watched, f"{outboxes} is not watched with inotify"
    assert os.stat(ev.run_dir.parent).st_ino in watched  # the runs directory: swarms going away


def test_kill_9_of_serve_while_clients_stream_each_resumes_exactly_once(
    api_project: Project, swarms: tuple[Swarm, Swarm]
) -> None:
    ev, ew = swarms
    ev_agents, ew_agents = [ev.agent(0), ev.agent(1)], [ew.agent(0)]
    served = Served.start(api_project)
    try:
        tails = [
            Tail(served, "/api/swarms/ev/events", params={"after": "0"}),
            Tail(served, "/api/swarms/ev/agents/1/events", params={"after": "0"}),
            Tail(served, "/api/swarms/ew/events", params={"after": "0"}),
        ]
        mark = vector(ev, ev_agents)
        sender = send(ev, "killed while streaming")
        wait_until(
            lambda: all(deltas_after(t.frames, ev_agents[1], mark[1]) >= 2 for t in tails[:2]),
            WAIT_S, "both ev clients to see the answer stream",
        )  # fmt: skip
        served.kill()
        assert sender.poll() is None, "the answer was over before the kill"
        for t in tails:
            t.join()
            assert t.error is not None  # the connection broke
        finished(sender)
        finished(send(ev, "while serve is dead"))  # messages sent while serve was dead
        finished(send(ew, "while serve is dead"))
    finally:
        served.kill()
        if served.proc.stdout:
            served.proc.stdout.close()
    restarted = Served.start(api_project)
    try:
        target_ev, target_ew = vector(ev, ev_agents), vector(ew, ew_agents)
        ends = [reached(target_ev), reached(target_ev, 1), reached(target_ew)]
        resumed = [
            Tail(restarted, t.path, last_id=t.frames.last_id, until=end, frames=t.frames)
            for t, end in zip(tails, ends, strict=True)
        ]
        for t in resumed:
            t.join()
            assert t.error is None and t.status == 200, t.error
    finally:
        assert restarted.stop() == 0
    swarm_ev, agent_ev1, swarm_ew = (t.frames for t in resumed)
    assert_once_in_order(swarm_ev.events, window(ev, ev_agents, [0, 0], swarm_ev), ev_agents)
    assert_once_in_order(
        agent_ev1.events, {(a, s) for a, s in window(ev, ev_agents, [0, 0], agent_ev1)}
    )
    assert_once_in_order(swarm_ew.events, window(ew, ew_agents, [0], swarm_ew), ew_agents)
    assert swarm_ev.last_id == ".".join(map(str, target_ev))
    assert agent_ev1.last_id == str(target_ev[1])
    assert swarm_ew.last_id == str(target_ew[0])
    for k, agent in enumerate(ev_agents):  # the turn cut by the kill, the one sent meanwhile
        ends = [e for _, e in swarm_ev.events if e["agent"] == agent and e["seq"] > mark[k]]
        assert [e["status"] for e in ends if e["type"] == "turn.completed"] == ["completed"] * 2
