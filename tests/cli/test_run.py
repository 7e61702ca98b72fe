"""``codeswarm run``: the real CLI, real workers and Codex, a scripted orchestrator (rank 0) and
scripted workers; how a run ends (finish, a failed turn, --max-time, Ctrl-C, a budget), its
summary against the store and the scripted model's request log, and that nothing is left running
(docs/run.md)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swarmkit import Swarm, open_swarms, wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow]

RUN_TIMEOUT = 120.0


class Run:
    """One ``codeswarm run`` in a swarm's directory (the swarm helper reaps what it leaves)."""

    def __init__(self, swarm: Swarm) -> None:
        self.swarm = swarm
        self.summary_path = swarm.state.parent / f"{swarm.name}-summary.json"
        self.proc: subprocess.Popen[str] | None = None
        subprocess.run(["git", "init", "-q", str(swarm.workdir)], check=True)
        (swarm.workdir / "README").write_text("a project\n")
        git = ["git", "-C", str(swarm.workdir), "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run([*git, "add", "README"], check=True)
        subprocess.run([*git, "commit", "-qm", "start"], check=True)

    def args(self, script: dict[str, Any], *extra: str, n: int = 1) -> list[str]:
        s = self.swarm
        return [
            sys.executable, "-P", "-m", "codeswarm", "run", "the goal", "-n", str(n),
            "--name", s.name, "--cwd", str(s.workdir), "--model-provider", "mock",
            "--script", str(s.write_script(script)), "--summary-json", str(self.summary_path),
            *extra,
        ]  # fmt: skip

    def start(self, script: dict[str, Any], *extra: str, n: int = 1) -> subprocess.Popen[str]:
        self.proc = subprocess.Popen(
            self.args(script, *extra, n=n), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=self.swarm.env, cwd=self.swarm.workdir,
        )  # fmt: skip
        return self.proc

    def wait(self) -> tuple[int, str, str]:
        assert self.proc is not None
        out, err = self.proc.communicate(timeout=RUN_TIMEOUT)
        return self.proc.returncode, out, err

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = json.loads(self.summary_path.read_text())
        # the run keeps its own copy, which the API serves (GET /api/swarms/S/run)
        assert json.loads((self.swarm.run_dir / "run-summary.json").read_text()) == summary
        return summary

    def coord(self):  # type: ignore[no-untyped-def]
        from codeswarm.coordination import Coord

        url = self.swarm.env.get("CODESWARM_DB") or str(self.swarm.state / "coord.db")
        return Coord.open(url, root=str(self.swarm.workdir))

    def turn_events(self, rank: int, method: str) -> list[dict[str, Any]]:
        if not (
            self.swarm.run_dir / "mailbox" / "outbox" / f"{self.swarm.agent(rank)}.jsonl"
        ).exists():
            return []
        return [
            r
            for r in self.swarm.outbox(rank)
            if r.get("kind") == "codex" and (r.get("msg") or {}).get("method") == method
        ]


@pytest.fixture
def make_run(tmp_path: Path, codex_binary) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with open_swarms(Swarm, tmp_path, codex_binary.path) as make:

        def run(name: str = "r") -> Run:
            return Run(make(name))

        yield run


def usage_by_agent(requests: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """(input, output) tokens the scripted model reported, per agent, from its request log
    (a request cut short by a kill, scripted with ``cut_by_kill``, was never answered)."""
    out: dict[str, tuple[int, int]] = {}
    for r in requests:
        entry = r.get("entry") or {}
        if entry.get("note") == "cut_by_kill":
            continue
        usage = entry.get("usage")
        assert usage, f"a request the script did not answer with usage: {entry}"
        i, o = out.get(r["agent"], (0, 0))
        out[r["agent"]] = (i + usage["input_tokens"], o + usage["output_tokens"])
    return out


def assert_tokens_exact(run: Run, summary: dict[str, Any]) -> None:
    logged = usage_by_agent(run.swarm.model_requests())
    agents = summary["tokens"]["agents"]
    for agent, row in agents.items():
        assert (row["input"], row["output"]) == logged.get(agent, (0, 0)), agent
    total = summary["tokens"]["total"]
    assert total["input"] == sum(i for i, _ in logged.values())
    assert total["output"] == sum(o for _, o in logged.values())
    assert total["counted"] == total["input"] + total["output"]


def test_a_run_ends_when_the_orchestrator_finishes(make_run) -> None:  # type: ignore[no-untyped-def]
    run = make_run()
    script = {
        "agents": {
            "0": [
                {
                    "tool": "codeswarm/finish",
                    "arguments": {"summary": "all done"},
                    "usage": {"input_tokens": 120, "output_tokens": 12},
                },
                {"text": "Finished.", "usage": {"input_tokens": 130, "output_tokens": 2}},
            ],
            "*": [],
        }
    }
    run.start(script)
    rc, out, err = run.wait()
    assert rc == 0, err
    assert run.swarm.processes() == []  # nothing left running
    summary = run.summary()
    assert summary["outcome"] == "finished" and summary["exit_code"] == 0
    assert summary["orchestrator_summary"] == "all done"
    assert summary["tokens"]["agents"]["r_0"]["role"] == "orchestrator"
    assert summary["tokens"]["agents"]["r_1"]["role"] == "implementer"
    assert_tokens_exact(run, summary)
    # its turn ran to its end before the swarm went down (its last words are not cut short)
    orch = [r["entry_index"] for r in run.swarm.model_requests() if r["agent"] == "r_0"]
    assert orch == [0, 1]
    # the orchestrator was primed with the goal and its tools
    first = next(r for r in run.swarm.model_requests() if r["agent"] == "r_0")
    prompt = json.dumps(first["body"]["input"])
    assert "the goal" in prompt
    for tool in ("delegate", "converse", "check", "end", "list", "finish"):
        assert f"{tool}(" in prompt
    assert "run r: finished" in out and "r_0" in out
    assert "the orchestrator finished the run" in err


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_a_run_delegates_and_ends_when_the_orchestrator_calls_finish(
    make_run,  # type: ignore[no-untyped-def]
    store: str,
    request: pytest.FixtureRequest,
) -> None:
    """The orchestrator's real tools: delegate → the worker does it and reports done → the
    orchestrator is woken by the completion, ends the task accepted and calls finish; on
    either store."""
    run = make_run()
    if store == "postgresql":
        run.swarm.env["CODESWARM_DB"] = request.getfixturevalue("pg_url")
    patch = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch"
    script = {
        "agents": {
            "0": [
                {"tool": "codeswarm/delegate", "usage": u(100, 10), "arguments": {
                    "title": "write hello", "instructions": "Create hello.txt saying hello.",
                    "agent": "r_1", "files": ["hello.txt"]}},
                {"text": "Delegated; waiting.", "usage": u(110, 5)},
                {"tool": "codeswarm/end", "usage": u(120, 8), "arguments": {
                    "task": 1, "verdict": "accepted", "summary": "good"}},
                {"tool": "codeswarm/finish", "usage": u(130, 8),
                 "arguments": {"summary": "hello.txt is written"}},
                {"text": "Finished.", "usage": u(140, 4)},
            ],
            "1": [
                {"patch": patch, "usage": u(50, 5)},
                {"tool": "codeswarm/task_update", "usage": u(60, 6), "arguments": {
                    "id": 1, "status": "done", "result": "wrote hello.txt",
                    "files_changed": ["hello.txt"]}},
                {"text": "Done.", "usage": u(70, 3)},
            ],
        }
    }  # fmt: skip
    run.start(script, "--sandbox", "workspace-write")
    rc, out, err = run.wait()
    assert rc == 0, err
    assert run.swarm.processes() == []
    assert (run.swarm.workdir / "hello.txt").read_text() == "hello\n"
    summary = run.summary()
    assert summary["outcome"] == "finished"
    assert summary["orchestrator_summary"] == "hello.txt is written"
    assert_tokens_exact(run, summary)
    assert summary["tokens"]["agents"]["r_1"]["counted"] == 50 + 5 + 60 + 6 + 70 + 3
    # the tasks as the store has them
    with run.coord() as coord:
        stored = coord.tasks()
    assert [t["id"] for t in summary["tasks"]] == [t.id for t in stored] == [1]
    (task,) = summary["tasks"]
    assert task["status"] == stored[0].status == "done"
    assert task["verdict"] == stored[0].verdict == "accepted"
    assert task["assignee"] == "r_1" and task["files_changed"] == ["hello.txt"]
    # the task's tokens: what the worker's turn for it spent (the request log's figures)
    assert summary["tokens"]["tasks"] == {"1": 194}
    assert summary["tokens"]["tasks_by_agent"] == {"1": {"r_1": 194}}
    assert task["tokens"] == 194
    assert summary["files_changed"] == ["hello.txt"]
    assert "hello.txt" in summary["diff_stat"]
    # the orchestrator was woken by the task's end (a message), it never polled
    calls = [
        (r.get("entry") or {}).get("tool")
        for r in run.swarm.model_requests()
        if r["agent"] == "r_0"
    ]
    assert "codeswarm/list" not in calls and "codeswarm/check" not in calls
    assert "accepted" in out and "hello.txt" in out
    # not on a terminal: a line per change of a task
    assert "codeswarm: task #1 'write hello': done r_1" in err.splitlines()


def u(i: int, o: int) -> dict[str, int]:
    return {"input_tokens": i, "output_tokens": o}


def worker_steps(task: int, path: str, base: int) -> list[dict[str, Any]]:
    """A worker that writes ``path`` for ``task`` and reports it done."""
    patch = f"*** Begin Patch\n*** Add File: {path}\n+{path}\n*** End Patch"
    return [
        {"patch": patch, "usage": u(base, 5)},
        {"tool": "codeswarm/task_update", "usage": u(base + 10, 6), "arguments": {
            "id": task, "status": "done", "result": f"wrote {path}", "files_changed": [path]}},
        {"text": "Done.", "usage": u(base + 20, 3)},
    ]  # fmt: skip


def test_three_tasks_one_depending_on_two_run_to_the_end(make_run) -> None:  # type: ignore[no-untyped-def]
    """The acceptance run: three tasks to three workers, the third after the first two; the
    orchestrator woken by each end (no polling), checks, ends each task, finishes; the summary
    agrees with the store and with the scripted model's request log."""
    run = make_run()

    def on(task: int, **entry: Any) -> dict[str, Any]:
        return {"when": f"task #{task} done", **entry}

    def delegate(title: str, agent: str, **more: Any) -> dict[str, Any]:
        return {"tool": "codeswarm/delegate", "usage": u(200, 20), "arguments": {
            "title": title, "instructions": f"{title}, then report it done.", "agent": agent,
            **more}}  # fmt: skip

    def end(task: int) -> dict[str, Any]:
        return on(task, tool="codeswarm/end", usage=u(300, 9),
                  arguments={"task": task, "verdict": "accepted", "summary": "good"})  # fmt: skip

    script = {
        "agents": {
            "0": [
                delegate("write a.txt", "r_1", files=["a.txt"]),
                delegate("write b.txt", "r_2", files=["b.txt"]),
                delegate("write c.txt", "r_3", files=["c.txt"], depends_on=[1, 2]),
                {"text": "Three tasks out.", "usage": u(210, 4)},
                end(1), on(1, text="1 accepted.", usage=u(310, 3)),
                end(2), on(2, text="2 accepted.", usage=u(320, 3)),
                on(3, tool="codeswarm/check", arguments={"task": 3}, usage=u(330, 7)),
                end(3),
                on(3, tool="codeswarm/finish", arguments={"summary": "a, b and c written"},
                   usage=u(340, 8)),
                on(3, text="Finished.", usage=u(350, 2)),
            ],
            "1": worker_steps(1, "a.txt", 40),
            "2": worker_steps(2, "b.txt", 50),
            "3": worker_steps(3, "c.txt", 60),
        }
    }  # fmt: skip
    run.start(script, "--sandbox", "workspace-write", n=3)
    rc, _, err = run.wait()
    assert rc == 0, err
    assert run.swarm.processes() == []
    requests = run.swarm.model_requests()
    orch = [r for r in requests if r["agent"] == "r_0"]
    # every scripted step played once, none twice, nothing else (no polling, no reminder)
    assert sorted(r["entry_index"] for r in orch) == list(range(12))
    for rank in (1, 2, 3):
        mine = [r["entry_index"] for r in requests if r["agent"] == f"r_{rank}"]
        assert mine == [0, 1, 2]
    # the dependent task started only after both of its dependencies were done
    reported = {
        r["agent"]: r["seq"] for r in requests if r["entry_index"] == 2 and r["agent"] != "r_0"
    }  # the request after task_update: the task is done by then
    first_of_3 = min(r["seq"] for r in requests if r["agent"] == "r_3")
    assert first_of_3 > reported["r_1"] and first_of_3 > reported["r_2"]
    # the orchestrator was woken once per task's end, by the message saying so
    woken = [r for r in orch if r["entry"].get("when")]
    assert {r["entry"]["when"] for r in woken} == {f"task #{k} done" for k in (1, 2, 3)}
    summary = run.summary()
    assert summary["outcome"] == "finished"
    assert summary["orchestrator_summary"] == "a, b and c written"
    assert_tokens_exact(run, summary)
    with run.coord() as coord:
        stored = {t.id: t for t in coord.tasks()}
    assert sorted(stored) == [t["id"] for t in summary["tasks"]] == [1, 2, 3]
    for task in summary["tasks"]:
        t = stored[task["id"]]
        assert (task["status"], task["verdict"]) == (t.status, t.verdict) == ("done", "accepted")
        assert task["assignee"] == f"r_{task['id']}"
        assert task["depends_on"] == t.depends_on
    assert summary["tasks"][2]["depends_on"] == [1, 2]
    # tokens per task: exactly the worker's turn for it, as the request log has them
    logged = usage_by_agent(requests)
    assert summary["tokens"]["tasks_by_agent"] == {
        str(k): {f"r_{k}": sum(logged[f"r_{k}"])} for k in (1, 2, 3)
    }
    assert summary["files_changed"] == ["a.txt", "b.txt", "c.txt"]


def worker_pid(run: Run, rank: int) -> int:
    return int((run.swarm.run_dir / "agents" / f"r_{rank}" / "worker.pid").read_text())


def test_kill_9_of_a_worker_mid_task_and_of_the_orchestrators_worker(make_run) -> None:  # type: ignore[no-untyped-def]
    """The run goes on: the orchestrator's worker comes back and still hears of the task's end,
    the killed worker continues its cut-short turn (the task's), nothing runs twice, tokens
    stay exact."""
    run = make_run()
    script = {
        "agents": {
            "0": [
                {"tool": "codeswarm/delegate", "usage": u(100, 10), "arguments": {
                    "title": "write a.txt", "instructions": "Write a.txt.", "agent": "r_1",
                    "files": ["a.txt"]}},
                {"text": "Out.", "usage": u(110, 5)},
                {"when": "task #1 done", "tool": "codeswarm/end", "usage": u(120, 8),
                 "arguments": {"task": 1, "verdict": "accepted", "summary": "good"}},
                {"when": "task #1 done", "tool": "codeswarm/finish", "usage": u(130, 8),
                 "arguments": {"summary": "a.txt written"}},
                {"when": "task #1 done", "text": "Finished.", "usage": u(140, 4)},
            ],
            "1": [
                {"delay": 60, "text": "never", "note": "cut_by_kill"},
                *worker_steps(1, "a.txt", 40),
            ],
        }
    }  # fmt: skip
    run.start(script, "--sandbox", "workspace-write")

    def slow_request_and_orchestrator_idle() -> bool:
        requests = run.swarm.model_requests()
        slow = any(r["agent"] == "r_1" and r["entry_index"] == 0 for r in requests)
        return slow and len(run.turn_events(0, "turn/completed")) >= 1

    wait_until(slow_request_and_orchestrator_idle, RUN_TIMEOUT, "the worker busy, r_0 idle")
    os.kill(worker_pid(run, 0), signal.SIGKILL)
    wait_until(
        lambda: any(r["kind"] == "agent.ready" and r.get("resumed") for r in run.swarm.outbox(0)),
        RUN_TIMEOUT,
        "the orchestrator's worker back",
    )
    os.kill(worker_pid(run, 1), signal.SIGKILL)
    rc, _, err = run.wait()
    assert rc == 0, err
    assert run.swarm.processes() == []
    requests = run.swarm.model_requests()
    assert [r["entry_index"] for r in requests if r["agent"] == "r_1"] == [0, 1, 2, 3]
    assert [r["entry_index"] for r in requests if r["agent"] == "r_0"] == [0, 1, 2, 3, 4]
    summary = run.summary()
    assert summary["outcome"] == "finished"
    (task,) = summary["tasks"]
    assert (task["status"], task["verdict"]) == ("done", "accepted")
    assert_tokens_exact(run, summary)
    logged = usage_by_agent(requests)
    assert summary["tokens"]["tasks_by_agent"] == {"1": {"r_1": sum(logged["r_1"])}}
    assert summary["tokens"]["agents"]["r_0"]["counted"] == sum(logged["r_0"])


def test_a_failed_orchestrator_turn_with_nothing_left_ends_the_run(make_run) -> None:  # type: ignore[no-untyped-def]
    run = make_run()
    run.start({"agents": {"0": [{"fail": "boom"}], "*": []}})
    rc, _, err = run.wait()
    assert rc == 1, err
    assert "the orchestrator's turn failed" in err and "boom" in err
    assert run.swarm.processes() == []
    assert run.summary()["outcome"] == "failed"


def test_an_orchestrator_that_stops_without_finishing_is_told_once(make_run) -> None:  # type: ignore[no-untyped-def]
    run = make_run()
    said = {"text": "Thinking.", "usage": {"input_tokens": 10, "output_tokens": 1}}
    run.start({"agents": {"0": [said, said], "*": []}})
    rc, _, err = run.wait()
    assert rc == 1, err
    assert "stopped without calling finish" in err
    requests = [r for r in run.swarm.model_requests() if r["agent"] == "r_0"]
    assert len(requests) == 2  # the goal, then the one reminder
    assert "Nothing is running and nothing is queued" in json.dumps(requests[1]["body"]["input"])
    assert_tokens_exact(run, run.summary())


def test_the_run_budget_stops_the_run_with_exit_4(make_run) -> None:  # type: ignore[no-untyped-def]
    run = make_run()
    step = {"usage": {"input_tokens": 100, "output_tokens": 10}}
    script = {
        "agents": {
            "0": [
                {"exec": "true", **step},
                {"exec": "true", **step},  # 220 > 150: the turn is interrupted here
                {"exec": "true", **step},
                {"text": "never", **step},
            ],
            "*": [],
        }
    }
    run.start(script, "--budget", "150")
    rc, _, err = run.wait()
    assert rc == 4, err
    assert "stopped: the run's budget is spent: 220 of 150 tokens" in err
    assert run.swarm.processes() == []
    summary = run.summary()
    assert summary["outcome"] == "budget" and summary["budget"]["swarm"] == 150
    assert summary["tokens"]["total"]["counted"] == 220  # overshoot: one response
    assert_tokens_exact(run, summary)


def test_max_time_stops_the_run(make_run) -> None:  # type: ignore[no-untyped-def]
    run = make_run()
    run.start({"agents": {"0": [{"delay": 60, "text": "late"}], "*": []}}, "--max-time", "3s")
    rc, _, err = run.wait()
    assert rc == 1, err
    assert "--max-time (3s) passed" in err
    assert run.swarm.processes() == []
    assert run.summary()["outcome"] == "max_time"


def test_ctrl_c_stops_the_run_with_130_and_leaves_nothing(make_run) -> None:  # type: ignore[no-untyped-def]
    run = make_run()
    proc = run.start({"agents": {"0": [{"delay": 60, "text": "late"}], "*": []}})
    wait_until(lambda: run.turn_events(0, "turn/started"), RUN_TIMEOUT, "the orchestrator busy")
    proc.send_signal(signal.SIGINT)
    rc, _, err = run.wait()
    assert rc == 130, err
    assert "interrupted" in err
    assert run.swarm.processes() == []
    assert run.summary()["outcome"] == "interrupted"


def test_ctrl_c_while_the_agents_start_leaves_nothing(make_run) -> None:  # type: ignore[no-untyped-def]
    run = make_run()
    proc = run.start({"agents": {"*": []}})
    wait_until(lambda: (run.swarm.run_dir / "swarm.json").exists(), RUN_TIMEOUT, "the launch")
    proc.send_signal(signal.SIGINT)
    rc, _, err = run.wait()
    assert rc == 130, err
    assert "interrupted" in err
    assert run.swarm.processes() == []


def test_keep_leaves_the_swarm_up(make_run) -> None:  # type: ignore[no-untyped-def]
    run = make_run()
    run.start({"agents": {"0": [{"fail": "boom"}], "*": []}}, "--keep")
    rc, _, err = run.wait()
    assert rc == 1, err
    assert "is still up" in err
    assert run.swarm.processes()  # the teardown brings it down (and fails if it cannot)
    run.swarm.cli("down", "r")
    assert run.swarm.processes() == []


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["-n", "0"], "-n must be 1 to 511 workers, got 0"),
        (["--budget", "0"], "--budget must be a positive number of tokens, not 0"),
        (["--agent-budget", "-5"], "--agent-budget must be a positive number of tokens, not -5"),
        (["--backend", "nope"], "--backend must be one of local, slurm, got 'nope'"),
        (["--budget-warn", "1.5"], "--budget-warn must be a fraction above 0 and at most 1"),
        (["--watch-loop", "1"], "--watch-loop must be a count from 2"),
        (["--max-time", "0"], "--max-time must be more than 0 seconds"),
        (["--max-time", "soon"], "--max-time 'soon': a duration like 90s, 10m, 1h30m"),
        (["--name", "9bad"], "bad swarm name '9bad'"),
        (["--runtime", "gpt"], "--runtime gpt: unknown runtime 'gpt' (codex or claude)"),
        (["--runtime", "codex:1,claude:1"], "--runtime codex:1,claude:1 makes 2 agents, -n says 1"),
        (["--orchestrator-runtime", "gpt"], "--orchestrator-runtime must be codex or claude"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_starts_nothing(
    make_run,  # type: ignore[no-untyped-def]
    extra: list[str],
    said: str,
) -> None:
    run = make_run()
    args = run.args({"agents": {"*": []}}, *extra)
    done = subprocess.run(args, capture_output=True, text=True, env=run.swarm.env, timeout=60)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert said in line
    assert not (run.swarm.state / "runs").exists()
    assert not run.summary_path.exists()


def test_an_empty_goal_is_refused(make_run) -> None:  # type: ignore[no-untyped-def]
    run = make_run()
    args = run.args({"agents": {"*": []}})
    args[args.index("the goal")] = "  "
    done = subprocess.run(args, capture_output=True, text=True, env=run.swarm.env, timeout=60)
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "codeswarm: error: the goal is empty: say what the swarm should get done"
    )
    assert not (run.swarm.state / "runs").exists()


def test_on_a_terminal_the_board_is_drawn_live(make_run) -> None:  # type: ignore[no-untyped-def]
    import pty
    import threading

    run = make_run()
    script = {
        "agents": {
            "0": [
                {"text": "thinking", "delay": 1.5, "usage": u(40, 4)},
                {"tool": "codeswarm/finish", "arguments": {"summary": "ok"}, "usage": u(50, 5)},
                {"text": "Finished.", "usage": u(60, 6)},
            ],
            "*": [],
        }
    }
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        run.args(script, "--budget", "100000"), stdout=subprocess.PIPE, stderr=slave,
        stdin=subprocess.DEVNULL, env={**run.swarm.env, "COLUMNS": "120"}, cwd=run.swarm.workdir,
    )  # fmt: skip
    os.close(slave)
    screen = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return  # the child closed its end
            if not chunk:
                return
            screen.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    reader.join(timeout=10)
    os.close(master)
    assert proc.returncode == 0, screen.decode(errors="replace")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode(errors="replace"))
    assert "r_0" in text and "orchestrator" in text and "implementer" in text
    assert "of 100000 (cached input 0)" in text  # tokens against the budget
    assert "run r: finished" in out.decode()


def test_the_runtimes_of_a_run_put_the_orchestrator_first() -> None:
    """``run``'s ``--runtime`` says what drives the workers, ``--orchestrator-runtime`` what
    drives rank 0; ``up`` gets the whole swarm's mix (None: every agent Codex)."""
    from codeswarm.cli.run import run_runtimes

    assert run_runtimes(None, None, "codex") == (3, None)
    assert run_runtimes(2, "codex", "codex") == (2, None)
    assert run_runtimes(None, "codex:1,claude:1", "codex") == (2, "codex:1,codex:1,claude:1")
    assert run_runtimes(2, "claude", "codex") == (2, "codex:1,claude:1,claude:1")
    assert run_runtimes(1, None, "claude") == (1, "claude:1,codex:1")
