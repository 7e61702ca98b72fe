"""The watchers end to end (issue 12): a real swarm (supervisor, workers, Codex 0.169.0) against the
scripted model, watched by the runner the supervisor starts. A worker looping on one command in
one turn is nudged (a message steered into that turn), then interrupted; a worker whose model
takes longer than the stall time is reported. Each action is a record in the watch log and an
audit row in the coordination store, with the agent concerned as the actor."""

from __future__ import annotations

import json
from typing import Any

import pytest

from codeswarm.control.watch.log import watch_events
from codeswarm.core.swarm import RunDir
from swarmkit import Swarm, wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow]

LOOP = {"exec": "echo same", "delay": 0.4}


def audit(swarm: Swarm, kind: str) -> list[dict[str, Any]]:
    proc = swarm.cli("coord", "events", "--kind", kind, "--json")
    return list(json.loads(proc.stdout)) if proc.stdout.strip() else []


def test_a_loop_is_nudged_then_interrupted_and_a_stall_is_reported(swarm: Swarm) -> None:
    script = {
        "agents": {
            "0": [LOOP] * 8 + [{"text": "looped"}],
            "1": [{"delay": 5, "text": "slow but done"}],
        }
    }
    swarm.up(2, script, "--watch-loop", "3", "--watch-stall", "2")
    spec = json.loads((swarm.run_dir / "swarm.json").read_text())
    assert spec["watch"]["loop_k"] == 3 and spec["watch"]["loop_actions"] == ["nudge", "interrupt"]
    run = RunDir(swarm.run_dir)
    swarm.cli("send", "t", "all", "go", "--wait", "--timeout", "60", check=False)

    def kinds(agent: str) -> list[str]:
        return [e["type"] for e in watch_events(run) if e["agent"] == agent]

    wait_until(lambda: "watch.interrupted" in kinds("t_0"), timeout=30, what="the interrupt")
    wait_until(lambda: "watch.stalled" in kinds("t_1"), timeout=30, what="the stall report")
    events = watch_events(run)
    loop = [e for e in events if e["agent"] == "t_0" and e["rule"] == "loop"]
    nudged, interrupted = loop[0], loop[1]
    assert (nudged["type"], nudged["level"], nudged["action"]) == ("watch.nudged", 1, "nudge")
    assert nudged["evidence"]["count"] == 3 and nudged["evidence"]["call"] == "command"
    assert "echo same" in nudged["evidence"]["arguments"]["command"]
    assert (interrupted["type"], interrupted["level"]) == ("watch.interrupted", 2)
    assert nudged["turn_id"] == interrupted["turn_id"] is not None
    assert not [e for e in events if e["agent"] == "t_0" and e["rule"] == "stall"]

    # the nudge joined the looping turn, then the interrupt ended it
    records = swarm.outbox(0)
    steered = [r for r in records if r["kind"] == "turn.steered"]
    assert [r["inbox_id"] for r in steered] == [nudged["inbox_id"]]
    assert steered[0]["turn_id"] == nudged["turn_id"]
    ends = [
        r["msg"]["params"]["turn"]
        for r in records
        if r["kind"] == "codex" and r["msg"].get("method") == "turn/completed"
    ]
    assert [(t["id"], t["status"]) for t in ends] == [(nudged["turn_id"], "interrupted")]
    # the model saw the nudge in the same turn, and fewer calls than the script had
    requests = [r for r in swarm.model_requests() if r["agent"] == "t_0"]
    assert any("codeswarm watcher" in json.dumps(r["body"]) for r in requests)
    assert len(requests) < 9

    stalled = [e for e in events if e["agent"] == "t_1"]
    assert stalled and all(e["type"] == "watch.stalled" for e in stalled)
    assert stalled[0]["action"] == "report" and stalled[0]["evidence"]["quiet_s"] >= 2
    # reported only: the slow turn still completed
    wait_until(lambda: swarm.status()["agents"][1]["last_message"] == "slow but done", timeout=30)

    # every action is in the audit log too, with the agent concerned as the actor
    def rows_seen() -> list[dict[str, Any]]:
        rows = audit(swarm, "watch.")
        kinds = {r["kind"] for r in rows}
        return rows if {"watch.nudged", "watch.interrupted", "watch.stalled"} <= kinds else []

    rows = wait_until(rows_seen, timeout=15, what="the audit rows")
    assert [(r["kind"], r["subject"]) for r in rows if r["agent"].startswith("t_0#")] == [
        ("watch.nudged", "loop"),
        ("watch.interrupted", "loop"),
    ]
    row = next(r for r in rows if r["kind"] == "watch.nudged")
    assert row["data"]["evidence"]["count"] == 3 and row["data"]["inbox_id"] == nudged["inbox_id"]
    assert any(r["kind"] == "watch.stalled" and r["agent"].startswith("t_1#") for r in rows)


def add(path: str, text: str) -> str:
    return f"*** Begin Patch\n*** Add File: {path}\n+{text}\n*** End Patch\n"


def test_a_write_outside_the_held_task_is_reported(swarm: Swarm) -> None:
    (swarm.workdir / "src").mkdir()
    script = {
        "agents": {
            "0": [
                {"tool": "task_add", "arguments": {"title": "a", "files": ["src/a.py"]}},
                {"tool": "task_claim", "arguments": {}},
                {"patch": add("src/a.py", "inside")},
                {"patch": add("src/b.py", "outside")},
                {"text": "done"},
            ]
        }
    }
    swarm.up(1, script, "--watch-scope")
    swarm.cli("send", "t", "0", "go", "--wait", "--timeout", "60")
    run = RunDir(swarm.run_dir)
    wait_until(lambda: watch_events(run), timeout=15, what="the scope report")
    [event] = watch_events(run)
    assert (event["type"], event["rule"], event["action"]) == (
        "watch.out_of_scope",
        "scope",
        "report",
    )
    [path] = event["evidence"]["paths"]
    assert path.endswith("src/b.py") and len(event["evidence"]["tasks"]) == 1
    assert (swarm.workdir / "src" / "b.py").exists()  # reported, not denied
    [row] = wait_until(lambda: audit(swarm, "watch."), timeout=15, what="the audit row")
    assert (row["kind"], row["subject"], row["agent"].split("#")[0]) == (
        "watch.out_of_scope", "scope", "t_0"
    )  # fmt: skip


def test_scope_deny_refuses_a_write_outside_the_held_task_up_front(swarm: Swarm) -> None:
    (swarm.workdir / "src").mkdir()
    script = {
        "agents": {
            "0": [
                {"tool": "task_add", "arguments": {"title": "a", "files": ["src/a.py"]}},
                {"tool": "task_claim", "arguments": {}},
                {"patch": add("src/a.py", "inside")},
                {"patch": add("src/b.py", "outside")},
                {"exec": "echo sneaky > src/c.py"},
                {"text": "done"},
            ]
        }
    }
    swarm.up(1, script, "--watch-scope", "--watch-action", "scope=deny")
    spec = json.loads((swarm.run_dir / "swarm.json").read_text())
    assert spec["watch"]["scope_deny"] is True and spec["watch"]["scope_actions"] == ["report"]
    swarm.cli("send", "t", "0", "go", "--wait", "--timeout", "60")
    assert (swarm.workdir / "src" / "a.py").exists()  # inside: written
    assert not (swarm.workdir / "src" / "b.py").exists()  # a patch outside: denied
    assert not (swarm.workdir / "src" / "c.py").exists()  # a shell write outside: denied

    def denials() -> list[dict[str, Any]]:
        rows = audit(swarm, "scope.denied")
        return rows if len(rows) >= 2 else []

    rows = wait_until(denials, timeout=15, what="two scope.denied rows")
    subjects = sorted(r["subject"] for r in rows)
    assert subjects == ["src/b.py", "src/c.py"] and all(r["agent"].startswith("t_0#") for r in rows)
    assert "outside the files of your task" in rows[0]["data"]["reasons"][0]
    assert not watch_events(RunDir(swarm.run_dir))  # nothing got through to report


def test_no_watch_flags_no_watcher(swarm: Swarm) -> None:
    swarm.up(1, {"agents": {"*": [LOOP] * 4 + [{"text": "done"}]}})
    swarm.cli("send", "t", "0", "go", "--wait", "--timeout", "60")
    assert json.loads((swarm.run_dir / "swarm.json").read_text()).get("watch") is None
    assert not (swarm.run_dir / "watch.jsonl").exists()


def test_bad_watch_flags_start_nothing(swarm: Swarm) -> None:
    for flags, says in (
        (["--watch-loop", "1"], "--watch-loop"),
        (["--watch-stall", "0"], "--watch-stall"),
        (["--watch-loop", "3", "--watch-action", "loop=explode"], "unknown action"),
        (["--watch-action", "stop"], "need a rule"),
        (["--watch-loop", "3", "--watch-action", "scope=deny"], "needs --watch-scope"),
        (["--watch-scope", "--watch-action", "deny"], "scope=deny"),
    ):
        proc = swarm.cli(*swarm.up_args(1, {"agents": {"*": ["hi"]}}, *flags), check=False)
        assert proc.returncode == 2, proc.stderr
        assert says in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not swarm.run_dir.exists()
