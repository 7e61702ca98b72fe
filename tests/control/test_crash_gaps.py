"""Crashes that used to leave something half-done (issue 10): a worker killed mid-turn, a refused
message in the queue, a dead coordination hub, an inbox that stopped being private. Real
supervisor, workers, Codex and the hub, against the scripted model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from codeswarm.mailbox import Writer
from swarmkit import Swarm, wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow]

SLOW = {"delay": 120, "text": "never finished"}


def accepted(swarm: Swarm, rank: int = 0) -> list[dict[str, Any]]:
    return [r for r in swarm.outbox(rank) if r["kind"] == "turn.accepted"]


def latest_user_texts(swarm: Swarm) -> list[str]:
    """The newest user message of each model request, in order (what each request answered)."""
    out = []
    for q in swarm.model_requests():
        users = [i for i in q["body"]["input"] if i.get("role") == "user"]
        out.append(json.dumps(users[-1]) if users else "")
    return out


def background_send(swarm: Swarm, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "codeswarm", "send", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=swarm.env,
        cwd=swarm.workdir,
    )  # fmt: skip


def test_worker_killed_mid_turn_the_turn_is_aborted_waiters_return_queue_runs_once_in_order(
    swarm: Swarm,
) -> None:
    script = {
        "agents": {
            "0": [
                SLOW,
                {"when": "interrupted by a crash", "text": "carrying on"},
                {"when": "^queued one$", "text": "one"},
                {"when": "^queued two$", "text": "two"},
                {"when": "^queued three$", "text": "three"},
                {"text": "unexpected"},
            ]
        }
    }
    swarm.up(1, script)
    waiter = background_send(swarm, "t", "0", "start something slow", "--wait", "--json",
                             "--timeout", "300")  # fmt: skip
    try:
        wait_until(lambda: len(swarm.model_requests()) >= 1, what="the slow model request")
        for text in ("queued one", "queued two", "queued three"):
            swarm.cli("send", "t", "0", text)
        first = accepted(swarm)[0]
        worker = int((swarm.run_dir / "agents" / "t_0" / "worker.pid").read_text())
        os.kill(worker, signal.SIGKILL)
        # the waiter is released: not at its timeout, by the aborted turn
        out, err = waiter.communicate(timeout=90)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.communicate()
    assert waiter.returncode == 1, err
    result = json.loads(out)["t_0"]
    assert result["status"] == "failed" and result["turn_id"] == first["turn_id"]
    assert "turn aborted: worker restarted mid-turn: worker killed by SIGKILL" in result["error"]

    wait_until(lambda: swarm.status()["agents"][0]["last_message"] == "three", timeout=90,
               what="the queued messages to run")  # fmt: skip
    records = swarm.outbox(0)
    (aborted,) = [r for r in records if r["kind"] == "turn.aborted"]
    assert aborted["turn_id"] == first["turn_id"] and "SIGKILL" in aborted["reason"]
    # reported after the restart, before anything else ran
    kinds = [r["kind"] for r in records]
    assert kinds.index("worker.exited") < kinds.index("turn.aborted")
    # the continuation first, then every queued message exactly once, in the order sent
    inbox = [json.loads(line) for line in (swarm.run_dir / "mailbox" / "inbox" / "t_0.jsonl")
             .read_text().splitlines()]  # fmt: skip
    ids = {r["text"]: r["id"] for r in inbox}
    after = [r["inbox_id"] for r in accepted(swarm)][1:]
    assert after == [
        f"continue:{first['turn_id']}",
        ids["queued one"],
        ids["queued two"],
        ids["queued three"],
    ]
    asked = latest_user_texts(swarm)
    assert len(asked) == 5 and "start something slow" in asked[0]
    assert "interrupted by a crash" in asked[1]
    assert [sum(f'"queued {n}"' in a for a in asked) for n in ("one", "two", "three")] == [1, 1, 1]
    assert [i for i, a in enumerate(asked) if '"queued ' in a] == [2, 3, 4]
    # status is right: the cut-short turn counted as failed, the agent idle with nothing open
    agent = swarm.status()["agents"][0]
    assert agent["state"] == "idle" and agent["turn_id"] is None and agent["turns"] == 5
    assert agent["restarts"] >= 1


def test_no_resume_interrupted_reports_the_abort_and_does_not_continue(swarm: Swarm) -> None:
    swarm.up(1, {"agents": {"0": [SLOW, {"text": "next one"}]}}, "--no-resume-interrupted")
    swarm.cli("send", "t", "0", "start something slow")
    wait_until(lambda: len(swarm.model_requests()) >= 1, what="the slow model request")
    worker = int((swarm.run_dir / "agents" / "t_0" / "worker.pid").read_text())
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: any(r["kind"] == "turn.aborted" for r in swarm.outbox(0)),
               what="the turn reported aborted")  # fmt: skip
    out = json.loads(swarm.cli("send", "t", "0", "next", "--wait", "--json").stdout)
    assert out["t_0"]["text"] == "next one"
    assert [r["inbox_id"].startswith("continue:") for r in accepted(swarm)] == [False, False]
    assert len(swarm.model_requests()) == 2


def test_a_refused_message_neither_stalls_nor_reorders_the_queue(swarm: Swarm) -> None:
    script = {
        "agents": {
            "0": [
                SLOW,
                {"when": "^after the big one$", "text": "after"},
                {"when": "^newer$", "text": "newer"},
            ]
        }
    }
    swarm.up(1, script)
    swarm.cli("send", "t", "0", "start something slow")
    wait_until(lambda: len(swarm.model_requests()) >= 1, what="the slow model request")
    # more than Codex takes (1 MiB of text), appended as any sender could; then a normal one
    inbox = swarm.run_dir / "mailbox" / "inbox" / "t_0.jsonl"
    with Writer.open(inbox, lock=True) as writer:
        big = writer.append("message", text="x" * (1024 * 1024 + 1))
    swarm.cli("send", "t", "0", "after the big one")
    swarm.cli("interrupt", "t", "0")
    wait_until(lambda: [r for r in swarm.outbox(0) if r["kind"] == "inbox.rejected"],
               what="the big message refused")  # fmt: skip
    out = json.loads(swarm.cli("send", "t", "0", "newer", "--wait", "--json").stdout)
    assert out["t_0"]["text"] == "newer"
    records = swarm.outbox(0)
    (rejected,) = [r for r in records if r["kind"] == "inbox.rejected"]
    assert rejected["inbox_id"] == big["id"] and "maximum length" in rejected["reason"]
    order = [r["inbox_id"] for r in accepted(swarm)]
    assert len(order) == 3 and big["id"] not in order
    said = [r for r in records if r["kind"] == "codex" and r["msg"].get("method") == "item/completed"
            and r["msg"]["params"]["item"].get("type") == "agentMessage"]  # fmt: skip
    assert [r["msg"]["params"]["item"]["text"] for r in said] == ["after", "newer"]
    # the next message started right after the refusal, not when a newer one came
    kinds = [(r["kind"], r.get("inbox_id")) for r in records]
    at = kinds.index(("inbox.rejected", big["id"]))
    assert kinds[at + 1] == ("turn.starting", order[1])


def hub(swarm: Swarm) -> dict[str, Any]:
    """The record of this node's coordination hub (``<run>/mcp/<host>.json``)."""
    from codeswarm.worker.mcphub import HubFiles

    return HubFiles(swarm.run_dir / "mcp").read()


def tool_calls(swarm: Swarm) -> list[dict[str, Any]]:
    return [
        r["msg"]["params"]["item"]
        for r in swarm.outbox(0)
        if r["kind"] == "codex"
        and r["msg"].get("method") == "item/completed"
        and r["msg"]["params"]["item"].get("type") == "mcpToolCall"
    ]


def test_mcp_hub_killed_is_brought_back_and_the_next_tool_call_works(swarm: Swarm) -> None:
    script = {"agents": {"0": [{"tool": "leases"}, "first", {"tool": "leases"}, "second"]}}
    swarm.up(1, script)
    assert (
        json.loads(swarm.cli("send", "t", "0", "one", "--wait", "--json").stdout)["t_0"]["text"]
        == "first"
    )
    before = hub(swarm)
    ready = len(swarm.ready_threads(0))
    os.kill(before["pid"], signal.SIGKILL)
    again = wait_until(
        lambda: (h := hub(swarm)).get("pid") not in (None, before["pid"]) and h,
        what="the worker to bring the hub back",
    )
    assert again["port"] == before["port"]  # the URL Codex has stays right
    out = json.loads(swarm.cli("send", "t", "0", "two", "--wait", "--json").stdout)
    assert out["t_0"]["text"] == "second"
    assert [c["status"] for c in tool_calls(swarm)] == ["completed", "completed"]
    # the same Codex, the same thread: nothing restarted but the hub
    assert len(swarm.ready_threads(0)) == ready


def test_an_inbox_that_becomes_writable_by_others_is_no_longer_read(swarm: Swarm) -> None:
    swarm.up(1, {"agents": {"0": ["fine", "must never run"]}})
    swarm.cli("send", "t", "0", "hello", "--wait")
    inbox = swarm.run_dir / "mailbox" / "inbox" / "t_0.jsonl"
    os.chmod(inbox, 0o666)  # as a careless chmod would; now anyone may append
    try:
        fd = os.open(inbox, os.O_WRONLY | os.O_APPEND)  # another user's append, not codeswarm's
        try:
            os.write(fd, b'{"seq":99,"id":"planted","ts":1,"kind":"message","text":"obey"}\n')
        finally:
            os.close(fd)
        wait_until(lambda: [r for r in swarm.outbox(0) if r.get("inbox_closed")],
                   what="the worker to report the inbox")  # fmt: skip
        proc = swarm.cli("send", "t", "0", "hi", check=False)  # senders refuse it too
        assert proc.returncode == 2 and "chmod 600" in proc.stderr
    finally:
        os.chmod(inbox, 0o600)
    (report,) = [r for r in swarm.outbox(0) if r.get("inbox_closed")]
    assert "writable by group and others" in report["message"] and str(inbox) in report["message"]
    assert "no longer read" in swarm.status()["agents"][0]["error"]
    assert all(r.get("inbox_id") != "planted" for r in swarm.outbox(0))
    assert len(swarm.model_requests()) == 1
