"""``codeswarm sessions list|show|logs|kill|clean`` (issue 12, Deliver 5) over real swarms: the
real supervisor, workers and Codex, the scripted model. The threads are Codex's own rollouts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from codeswarm.control.sessions import parse_duration, read_rollouts
from codeswarm.core.errors import UsageError
from codeswarm.core.swarm import RunDir, SwarmSpec
from swarmkit import Swarm, pids_of, wait_until

# rank 0: a command that fails (exit 3), an answer; then a new file, an answer. Declared usage,
# so the tokens are exact.
SCRIPT = {
    "agents": {
        "0": [
            {"exec": "echo hi > out.txt; exit 3", "usage": {"input_tokens": 100, "output_tokens": 10}},
            {"text": "wrote out.txt", "usage": {"input_tokens": 120, "output_tokens": 12,
                                                "cached_input_tokens": 50}},
            {"patch": "*** Begin Patch\n*** Add File: b.txt\n+hello\n*** End Patch",
             "usage": {"input_tokens": 130, "output_tokens": 13}},
            {"text": "added b.txt", "usage": {"input_tokens": 140, "output_tokens": 14}},
        ],
        "*": [
            {"when": "(?i)take your time", "text": "late", "delay": 120},
            {"text": "hello from a peer", "usage": {"input_tokens": 7, "output_tokens": 3}},
        ],
    }
}  # fmt: skip


def sessions(swarm: Swarm, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return swarm.cli("sessions", *args, check=check)


def listed(swarm: Swarm) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = json.loads(sessions(swarm, "list", "--json").stdout)
    return out


def refused(swarm: Swarm, *args: str, code: int = 2) -> str:
    """``sessions ARGS`` fails with ``code`` and exactly one line on stderr, nothing on stdout."""
    done = sessions(swarm, *args, check=False)
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == code, (args, done.returncode, done.stderr)
    assert len(lines) == 1 and lines[0].startswith("codeswarm: error: "), (args, done.stderr)
    assert done.stdout == "", args
    return lines[0]


def tree(root: Path) -> dict[str, int]:
    """Every file under ``root`` and its size (to show that nothing changed)."""
    return {str(p): p.stat().st_size for p in root.rglob("*") if p.is_file()}


@pytest.mark.codex
@pytest.mark.slow
def test_a_swarm_that_ran_two_turns_then_went_down_is_listed_shown_and_cleaned(
    swarm: Swarm,
) -> None:
    swarm.up(2, SCRIPT)
    swarm.cli("send", "t", "0", "write out.txt", "--wait", check=False)
    swarm.cli("send", "t", "0", "add b.txt", "--wait")
    swarm.cli("send", "t", "1", "say hello", "--wait")
    swarm.cli("down", "t", "--grace", "5")

    # list: every thread, ended, with its turns and exact tokens (from Codex's usage records)
    rows = {r["agent"]: r for r in listed(swarm)}
    assert set(rows) == {"t_0", "t_1"}
    first, peer = rows["t_0"], rows["t_1"]
    assert first["swarm"] == "t" and first["state"] == "ended" and first["current"]
    assert first["thread_id"] == swarm.ready_threads(0)[-1]
    assert first["turns"] == 2
    assert first["tokens"] == {"input": 490, "cached_input": 50, "output": 49, "total": 539}
    assert peer["turns"] == 1 and peer["tokens"]["total"] == 10
    assert first["last_activity_ms"] and first["rollouts"]
    plain = sessions(swarm, "list").stdout
    assert first["thread_id"] in plain and "ended" in plain and "539" in plain

    # show: the turns, rendered from the rollout: messages, the command and its exit code, the
    # file change, the usage per turn
    shown = json.loads(sessions(swarm, "show", "t", "0", "--json").stdout)
    assert shown["thread_id"] == first["thread_id"] and shown["turn_count"] == 2
    one, two = shown["turns"]
    assert [i["type"] for i in one["items"]] == ["user_message", "command", "agent_message"]
    assert one["items"][0]["text"] == "write out.txt"
    assert one["items"][1]["command"] == "echo hi > out.txt; exit 3"
    assert one["items"][1]["exit_code"] == 3
    assert one["items"][2]["text"] == "wrote out.txt"
    assert one["status"] == "completed"
    assert one["tokens"] == {"input": 220, "cached_input": 50, "output": 22, "total": 242}
    assert two["items"][1] == {
        "type": "file_change", "status": "completed",
        "changes": [{"path": "b.txt", "kind": "add"}],
    }  # fmt: skip
    assert two["tokens"]["total"] == 297
    # the same thread by (a prefix of) its id; rendered for a person
    text = sessions(swarm, "show", first["thread_id"][:13]).stdout
    for needle in ("user: write out.txt", "$ echo hi > out.txt; exit 3 (exit 3)",
                   "agent: added b.txt", "add b.txt", "539 tokens", "turn 2"):  # fmt: skip
        assert needle in text, (needle, text)

    # logs: the agent's worker log
    log = swarm.run_dir / "agents" / "t_0" / "worker.log"
    assert (
        sessions(swarm, "logs", first["thread_id"]).stdout.splitlines()
        == (log.read_text().splitlines()[-50:])
    )
    assert sessions(swarm, "logs", "t", "0", "--codex", "-n", "0").stdout.splitlines() == (
        (swarm.run_dir / "agents" / "t_0" / "codex.log").read_text().splitlines()
    )

    # bad input: one line, exit 2, nothing changed
    before = tree(swarm.state)
    assert "no thread 'feedface'" in refused(swarm, "show", "feedface")
    assert "no swarm 'nope'" in refused(swarm, "show", "nope", "0")
    assert "no agent '7'" in refused(swarm, "show", "t", "7")
    assert "name one agent" in refused(swarm, "logs", "t", "all")
    assert "not a duration" in refused(swarm, "clean", "--older-than", "3 days")
    assert "not a duration" in refused(swarm, "clean", "--older-than", "-1d")
    assert "no swarm 'nope'" in refused(swarm, "clean", "t", "nope")
    assert "no agent '9'" in refused(swarm, "kill", "t", "9")
    assert "nothing to kill" in refused(swarm, "kill", "t", "0", code=1)
    assert "nothing to kill" in refused(swarm, "kill", "t", code=1)
    assert tree(swarm.state) == before

    # clean: a dry run and a swarm too recent remove nothing; then it goes, threads and all
    dry = sessions(swarm, "clean", "--dry-run").stdout
    assert dry.startswith("would remove t (2 threads, ") and swarm.run_dir.is_dir()
    kept = json.loads(sessions(swarm, "clean", "--older-than", "1d", "--json").stdout)
    assert [(r["swarm"], r["action"]) for r in kept] == [("t", "kept")]
    assert swarm.run_dir.is_dir()
    assert sessions(swarm, "clean", "t").stdout.startswith("removed t (2 threads, ")
    assert not swarm.run_dir.exists()
    assert listed(swarm) == []
    assert sessions(swarm, "clean").stdout.strip() == "nothing to clean"


@pytest.mark.codex
@pytest.mark.slow
def test_clean_never_touches_a_live_swarm_and_kill_stops_one_agent(
    swarm: Swarm,
) -> None:
    swarm.up(2, SCRIPT)
    assert {r["agent"]: r["state"] for r in listed(swarm)} == {"t_0": "live", "t_1": "live"}

    # clean: a live swarm named is refused (exit 2, one line); unnamed, it is kept
    before = tree(swarm.run_dir / "agents")
    assert "swarm t is live" in refused(swarm, "clean", "t")
    assert sessions(swarm, "clean").stdout.startswith("kept t: live")
    assert (swarm.run_dir / "swarm.json").exists()
    assert set(tree(swarm.run_dir / "agents")) >= set(before)

    # a turn under way is shown running
    swarm.cli("send", "t", "1", "take your time")

    def last_turn() -> dict[str, Any]:
        shown = json.loads(sessions(swarm, "show", "t", "1", "--json").stdout)
        return shown["turns"][-1] if shown["turns"] else {}

    wait_until(lambda: last_turn().get("status") == "running", what="t_1's turn to run")
    assert last_turn()["items"] == [{"type": "user_message", "text": "take your time"}]

    # kill one agent mid-turn: the turn is interrupted, its worker (and its Codex) are gone,
    # not restarted; its peer goes on
    t1_home = str(swarm.run_dir / "agents" / "t_1" / "codex-home")
    assert pids_of(t1_home)
    done = sessions(swarm, "kill", "t", "1")
    assert done.stdout.startswith("t_1 stopped")
    assert last_turn()["status"] == "interrupted"
    wait_until(lambda: not pids_of(t1_home), what="t_1's Codex to exit")
    assert {r["agent"]: r["state"] for r in listed(swarm)} == {"t_0": "live", "t_1": "stopped"}
    stopped = [r for r in swarm.outbox(1) if r["kind"] == "agent.stopped"]
    assert stopped and stopped[-1]["requested"] is True
    out = json.loads(swarm.cli("send", "t", "0", "still there?", "--wait", "--json").stdout)
    assert out["t_0"]["status"] == "completed"
    assert "nothing to kill: t_1 is stopped" in refused(swarm, "kill", "t", "1", code=1)
    assert "swarm t is live" in refused(swarm, "clean", "t")

    # kill the swarm: down, as `down` is; then it is ended, and clean may remove it
    assert sessions(swarm, "kill", "t").stdout.startswith("swarm t is down")
    assert not swarm.processes()
    assert {r["state"] for r in listed(swarm)} == {"ended"}
    assert sessions(swarm, "clean", "t").stdout.startswith("removed t (")


@pytest.mark.codex
@pytest.mark.slow
def test_tokens_stay_exact_across_a_worker_killed_and_its_thread_resumed(swarm: Swarm) -> None:
    """kill -9 of the worker: the keeper restarts it, it resumes the same thread (Codex re-sends
    its last usage then); every model response is still counted once."""
    script = {"agents": {"*": [
        {"text": "one", "usage": {"input_tokens": 30, "output_tokens": 3}},
        {"text": "two", "usage": {"input_tokens": 40, "output_tokens": 4}},
    ]}}  # fmt: skip
    swarm.up(1, script)
    swarm.cli("send", "t", "0", "first", "--wait")
    pid = int((swarm.run_dir / "agents" / "t_0" / "worker.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: len(swarm.ready_threads(0)) == 2, what="the worker to come back")
    assert len(set(swarm.ready_threads(0))) == 1  # the same thread, resumed
    swarm.cli("send", "t", "0", "second", "--wait")
    (row,) = listed(swarm)
    assert row["state"] == "live" and row["turns"] == 2
    assert row["tokens"] == {"input": 70, "cached_input": 0, "output": 7, "total": 77}
    turns = json.loads(sessions(swarm, "show", row["thread_id"], "--json").stdout)["turns"]
    assert [t["tokens"]["total"] for t in turns] == [33, 44]


def test_tokens_count_each_model_response_once_and_torn_lines_are_skipped(tmp_path: Path) -> None:
    """A resumed thread's rollout may carry a usage record again (same response id): counted
    once. A line cut short by a crash is skipped, not fatal."""

    def record(kind: str, payload: dict[str, Any], at: str = "2026-11-30T14:07:14.339Z") -> bytes:
        return orjson.dumps({"timestamp": at, "type": kind, "payload": payload}) + b"\n"

    usage = {"input_tokens": 10, "cached_input_tokens": 4, "output_tokens": 2, "total_tokens": 12}
    rollout = tmp_path / "rollout-x.jsonl"
    rollout.write_bytes(
        record("session_meta", {"id": "th", "cwd": "/w", "timestamp": "2026-11-30T14:07:13Z"})
        + record("event_msg", {"type": "task_started", "turn_id": "u1", "started_at": 5})
        + record("token_usage_record", {"turn_id": "u1", "response_id": "r1", "usage": usage})
        + record("token_usage_record", {"turn_id": "u1", "response_id": "r1", "usage": usage})
        + record(
            "event_msg",
            {
                "type": "item_completed",
                "turn_id": "u1",
                "item": {
                    "type": "FileChange",
                    "status": "completed",
                    "changes": {"/w/a/b.py": {"type": "update"}},
                },
            },
        )
        + record(
            "event_msg", {"type": "task_complete", "turn_id": "u1"}, at="2026-11-30T14:07:20.000Z"
        )
        + b'{"timestamp": "2026-11-30T14:07:21.000Z", "type": "event_msg", "payl'
    )
    read = read_rollouts([rollout])
    assert read["tokens"].as_json() == {"input": 10, "cached_input": 4, "output": 2, "total": 12}
    (turn,) = read["turns"]
    assert turn.status == "completed" and turn.started_ms == 5000
    assert turn.items == [
        {"type": "file_change", "status": "completed",
         "changes": [{"path": "a/b.py", "kind": "update"}]}
    ]  # fmt: skip
    assert read["last_ms"] == 1796047640000  # the last whole record


def test_showing_one_thread_reads_that_thread_s_rollouts_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent with many threads (each a rollout of its own, megabytes for a long one): `show`
    reads the items of the one it shows, the current one or the one named."""
    from codeswarm.control.sessions import threads

    run = RunDir(tmp_path / "runs" / "t")
    spec = SwarmSpec(name="t", size=1, cwd=str(tmp_path), codex_bin="")
    day = run.codex_home("t_0") / "sessions" / "2026" / "11" / "30"
    day.mkdir(parents=True)
    ids = [f"0000000{i}-0000-4000-8000-000000000000" for i in range(3)]
    for i, thread in enumerate(ids):
        meta = {"id": thread, "cwd": str(tmp_path), "timestamp": f"2026-11-30T14:0{i}:00Z"}
        (day / f"rollout-2026-11-30T14-0{i}-00-{thread}.jsonl").write_bytes(
            orjson.dumps({"timestamp": meta["timestamp"], "type": "session_meta", "payload": meta})
            + b"\n"
        )
    read: list[tuple[list[str], bool]] = []
    real = threads.read_rollouts

    def counted(paths: list[Path], *, items: bool = True) -> dict[str, Any]:
        read.append(([p.name for p in paths], items))
        return real(paths, items=items)

    monkeypatch.setattr(threads, "read_rollouts", counted)
    run.agent_state("t_0").write_text(json.dumps({"thread_id": ids[1]}))
    assert threads.load_thread(run, spec, "t_0", None).thread_id == ids[1]  # the current one
    assert [(names[0][-42:-6], items) for names, items in read] == [(ids[1], True)]
    read.clear()
    assert threads.load_thread(run, spec, "t_0", ids[0]).thread_id == ids[0]
    assert [(names[0][-42:-6], items) for names, items in read] == [(ids[0], True)]
    read.clear()
    run.agent_state("t_0").unlink()  # no current thread: the latest, told without items
    assert threads.load_thread(run, spec, "t_0", None).thread_id == ids[2]
    assert [items for _, items in read] == [False, False, False, True]
    assert read[-1][0][0][-42:-6] == ids[2]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("2h", 7200.0), ("7d", 604800.0),
     ("1w", 604800.0), ("1h30m", 5400.0), ("0.5d", 43200.0)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "d", "3x", "-1d", "1 d", "1d2", "nan", "1e3s", "h1"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="not a duration"):
        parse_duration(text)
