"""A local swarm end to end: real supervisor, workers and Codex against the scripted model."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from swarmkit import Swarm, assert_delivered_once, read_jsonl, turns_completed, wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow]


def usage(i: int, o: int) -> dict[str, int]:
    return {"input_tokens": i, "output_tokens": o}


THREE = {
    "agents": {
        "0": [{"text": "zero here", "usage": usage(100, 10)}],
        "1": [{"text": "one here", "usage": usage(200, 20)}],
        "2": [{"text": "two here", "usage": usage(300, 30)}],
    }
}


def test_three_agents_answer_and_status_adds_up(swarm: Swarm) -> None:
    fleet = swarm.up(3, THREE)
    assert [a["id"] for a in fleet["agents"]] == ["t_0", "t_1", "t_2"]
    assert all(a["state"] == "idle" for a in fleet["agents"])
    out = json.loads(swarm.cli("send", "t", "all", "who are you?", "--wait", "--json").stdout)
    assert {a: r["text"] for a, r in out.items()} == {
        "t_0": "zero here",
        "t_1": "one here",
        "t_2": "two here",
    }
    assert all(r["status"] == "completed" for r in out.values())
    st = swarm.status()
    assert st["swarm"] == "t" and st["supervisor"]["running"]
    by_id = {a["id"]: a for a in st["agents"]}
    for rank, (i, o) in enumerate([(100, 10), (200, 20), (300, 30)]):
        a = by_id[f"t_{rank}"]
        assert a["state"] == "idle" and a["turns"] == 1 and a["rank"] == rank
        assert a["tokens"] == {"input": i, "cached_input": 0, "output": o, "total": i + o}
        assert a["last_message"] == out[f"t_{rank}"]["text"]
    assert st["tokens"]["input"] == 600 and st["tokens"]["output"] == 60
    assert st["tokens"]["total"] == 660
    # targets: a rank, a comma list
    out = json.loads(swarm.cli("send", "t", "0,t_2", "again", "--wait", "--json").stdout)
    assert sorted(out) == ["t_0", "t_2"]


def test_bad_targets_and_input(swarm: Swarm) -> None:
    swarm.up(1, {"agents": {"*": ["hi"]}})
    proc = swarm.cli("send", "t", "7", "hello", check=False)
    assert proc.returncode == 2 and "no agent '7'" in proc.stderr and "Traceback" not in proc.stderr
    proc = swarm.cli("send", "nope", "all", "hello", check=False)
    assert proc.returncode == 2 and "no swarm 'nope'" in proc.stderr
    proc = swarm.cli("send", "t", "all", "   ", check=False)
    assert proc.returncode == 2 and "empty" in proc.stderr
    proc = swarm.cli("up", "-n", "1", "--name", "t", check=False)
    assert proc.returncode == 2 and "already up" in proc.stderr


def test_kill_worker_mid_turn_restarts_resumes_and_delivers_once(swarm: Swarm) -> None:
    script = {
        "agents": {
            "*": [
                {"delay": 60, "text": "never finished"},
                {"when": "while you were down", "text": "got it once", "usage": usage(5, 1)},
                {"text": "fallback"},
            ]
        }
    }
    swarm.up(1, script)
    (thread,) = swarm.ready_threads(0)
    swarm.cli("send", "t", "0", "start something slow")
    wait_until(lambda: len(swarm.model_requests()) >= 1, what="the slow model request")
    worker = int((swarm.run_dir / "agents" / "t_0" / "worker.pid").read_text())
    os.kill(worker, signal.SIGKILL)
    swarm.cli("send", "t", "0", "sent while you were down")
    wait_until(
        lambda: any(r["kind"] == "agent.ready" and r.get("resumed") for r in swarm.outbox(0)),
        what="the restarted worker",
    )
    wait_until(
        lambda: any(
            r["kind"] == "codex"
            and r["msg"].get("method") == "item/completed"
            and r["msg"]["params"]["item"].get("text") == "got it once"
            for r in swarm.outbox(0)
        ),
        what="the message sent while down to be answered",
    )
    records = swarm.outbox(0)
    kinds = [r["kind"] for r in records]
    assert "worker.exited" in kinds and "agent.restarted" in kinds
    threads = swarm.ready_threads(0)
    assert len(threads) >= 2 and set(threads) == {thread}  # restarted, on the thread it had
    # exactly once: one model request carried it as the newest user message, one acceptance
    carried = [
        q for q in swarm.model_requests()
        if q["body"]["input"] and "sent while you were down" in json.dumps(q["body"]["input"][-1])
    ]  # fmt: skip
    assert len(carried) == 1
    inbox = (swarm.run_dir / "mailbox" / "inbox" / "t_0.jsonl").read_text().splitlines()
    down_id = json.loads(inbox[-1])["id"]
    accepted = [r for r in records if r["kind"] == "turn.accepted" and r["inbox_id"] == down_id]
    assert len(accepted) == 1
    st = swarm.status()
    assert st["agents"][0]["state"] == "idle" and st["agents"][0]["restarts"] >= 1


def test_kill_codex_the_worker_restarts_it_and_resumes(swarm: Swarm) -> None:
    swarm.up(1, {"agents": {"*": ["first", {"text": "after codex died"}]}})
    swarm.cli("send", "t", "0", "one", "--wait")
    ready = [r for r in swarm.outbox(0) if r["kind"] == "agent.ready"]
    codex = int((swarm.run_dir / "agents" / "t_0" / "codex.pid").read_text())
    worker = int((swarm.run_dir / "agents" / "t_0" / "worker.pid").read_text())
    os.kill(codex, signal.SIGKILL)
    wait_until(
        lambda: sum(r["kind"] == "agent.ready" for r in swarm.outbox(0)) == 2,
        what="Codex restarted",
    )
    out = json.loads(swarm.cli("send", "t", "0", "two", "--wait", "--json").stdout)
    assert out["t_0"]["text"] == "after codex died"
    records = swarm.outbox(0)
    again = [r for r in records if r["kind"] == "agent.ready"][-1]
    assert again["thread_id"] == ready[0]["thread_id"] and again["resumed"]
    assert any(r["kind"] == "agent.restarted" for r in records)
    # the same worker did it
    assert int((swarm.run_dir / "agents" / "t_0" / "worker.pid").read_text()) == worker
    # and the resumed thread carried the history to the model
    assert "one" in json.dumps(swarm.model_requests()[-1]["body"]["input"])


def test_attached_router_killed_and_restarted_misses_nothing_repeats_nothing(swarm: Swarm) -> None:
    swarm.up(2, {"agents": {"*": ["a", "b", "c"]}})
    out = swarm.state.parent / "attach.jsonl"
    out.write_bytes(b"")
    with swarm.attached(out, "--cursor", "c1", stop=signal.SIGKILL):
        swarm.cli("send", "t", "all", "one", "--wait")
        wait_until(lambda: turns_completed(out) >= 2, what="attach to see the first turns")
    swarm.cli("send", "t", "all", "two", "--wait")  # while no router is attached
    with swarm.attached(out, "--cursor", "c1"):
        swarm.cli("send", "t", "all", "three", "--wait")
        wait_until(
            lambda: turns_completed(out) >= 6,
            what="attach to catch up and see the third turns",
        )
    assert_delivered_once(read_jsonl(out), {"t_0": ["a", "b", "c"], "t_1": ["a", "b", "c"]})


def test_down_stops_everything_within_the_grace_period(swarm: Swarm) -> None:
    swarm.up(3, {"agents": {"*": [{"delay": 60, "text": "slow"}]}})
    swarm.cli("send", "t", "1", "take your time")  # a turn is running while we go down
    wait_until(lambda: len(swarm.model_requests()) >= 1, what="the turn to start")
    assert len(swarm.processes()) >= 1 + 3 + 3  # supervisor, workers, codex (+ model)
    t0 = time.monotonic()
    proc = swarm.cli("down", "t", "--grace", "5")
    assert "is down" in proc.stdout
    assert time.monotonic() - t0 < 5 + 5 + 5
    assert swarm.processes() == []
    st = swarm.status()
    assert all(a["state"] == "stopped" for a in st["agents"])
    # the running turn was ended on the way down, not left open: as many turns as model requests
    asked = Counter(q["agent"] for q in swarm.model_requests())
    assert asked == {"t_1": 1}
    assert {a["id"]: a["turns"] for a in st["agents"]} == {"t_0": 0, "t_1": 1, "t_2": 0}
    assert all(a["turn_id"] is None for a in st["agents"])
    assert not st["supervisor"]["running"]


def test_corrupt_and_partial_outbox_lines_are_skipped(swarm: Swarm) -> None:
    swarm.up(1, {"agents": {"*": ["fine", "still fine"]}})
    swarm.cli("send", "t", "0", "one", "--wait")
    outbox = swarm.run_dir / "mailbox" / "outbox" / "t_0.jsonl"
    with outbox.open("ab") as f:  # as a crashed writer from another node might leave it
        f.write(b'this is not json\n{"seq": \n')
    out = json.loads(swarm.cli("send", "t", "0", "two", "--wait", "--json").stdout)
    assert out["t_0"]["text"] == "still fine"
    st = swarm.status()
    assert st["agents"][0]["turns"] == 2 and st["agents"][0]["last_message"] == "still fine"
    # reported: as error events (in attach and the event stream) and the agent's last error
    assert "corrupt outbox line" in str(st["agents"][0]["error"])


def test_mailbox_writable_by_others_is_refused(swarm: Swarm) -> None:
    swarm.up(1, {"agents": {"*": ["hi"]}})
    inbox_dir = swarm.run_dir / "mailbox" / "inbox"
    os.chmod(inbox_dir, 0o777)
    proc = swarm.cli("send", "t", "0", "hello", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(inbox_dir) in lines[0] and "chmod" in lines[0]
    os.chmod(inbox_dir, 0o700)


def test_forwarded_approval_answered_from_the_cli(swarm: Swarm) -> None:
    script = {"agents": {"*": [{"exec": "echo approved > f.txt"}, {"text": "wrote it"}]}}
    swarm.up(1, script, "--approval-policy", "untrusted", "--approvals", "forward",
             "--sandbox", "workspace-write")  # fmt: skip
    swarm.cli("send", "t", "0", "write the file")

    def pending() -> list[dict[str, object]]:
        a = swarm.status()["agents"][0]
        return a["pending_approvals"] if a["state"] == "waiting_approval" else []

    (request,) = wait_until(pending, what="the approval request")
    assert "echo approved > f.txt" in str(request["command"])
    assert not (swarm.workdir / "f.txt").exists()
    swarm.cli("approve", "t", "0", str(request["request_id"]))

    # the message completes before the turn does: wait for both, the turn must end idle
    def turn_over() -> bool:
        a = swarm.status()["agents"][0]
        return bool(a["last_message"] == "wrote it" and a["state"] == "idle")

    wait_until(turn_over, what="the turn to end idle with the agent's answer")
    assert (swarm.workdir / "f.txt").read_text() == "approved\n"


def test_supervisor_killed_workers_live_on_and_up_adopts_them(swarm: Swarm) -> None:
    swarm.up(2, {"agents": {"*": ["one", "two", "three"]}})
    supervisor = int((swarm.run_dir / "supervisor.pid").read_text())
    workers = {
        r: int((swarm.run_dir / "agents" / f"t_{r}" / "worker.pid").read_text()) for r in (0, 1)
    }
    os.kill(supervisor, signal.SIGKILL)
    wait_until(
        lambda: (
            not Path(f"/proc/{supervisor}").exists()
            or "Z" in Path(f"/proc/{supervisor}/stat").read_text().split()[2]
        ),
        what="the supervisor to die",
    )
    # the agents still answer without a supervisor
    out = json.loads(swarm.cli("send", "t", "all", "still there?", "--wait", "--json").stdout)
    assert {a: r["text"] for a, r in out.items()} == {"t_0": "one", "t_1": "one"}
    assert not swarm.status()["supervisor"]["running"]
    # `up` again: a new supervisor adopts the running workers instead of starting new ones
    swarm.up(2, {"agents": {"*": ["one", "two", "three"]}})
    assert swarm.status()["supervisor"]["running"]
    for r, pid in workers.items():
        assert int((swarm.run_dir / "agents" / f"t_{r}" / "worker.pid").read_text()) == pid
    out = json.loads(swarm.cli("send", "t", "all", "and now?", "--wait", "--json").stdout)
    assert {a: r["text"] for a, r in out.items()} == {"t_0": "two", "t_1": "two"}
