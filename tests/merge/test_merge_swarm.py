"""The merge queue with real Codex, real git and scripted agents in their worktrees: the agents
change one file and call the MCP tool ``submit``; the queue process the supervisor runs merges
them in order (the check run on every state the target takes), rejects a conflicting change
with its paths and a failing one with the check's output (each told by a message that wakes
it), bisects a batch of four with one bad in at most 1 + ⌈log₂ 4⌉ extra check runs, and a
rejected agent fixes its change and submits again."""

from __future__ import annotations

import json
import math
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codeswarm.control.merge import journal
from codeswarm.core.swarm import RunDir
from swarmkit import Swarm, wait_until
from worktree_repo import GIT_ENV

pytestmark = [pytest.mark.codex, pytest.mark.slow]

FILE = "src/m.py"
UP = (
    "--approval-policy",
    "never",
    "--sandbox",
    "workspace-write",
    "--isolation",
    "worktree",
    "--no-worktree-leases",
)  # each agent alone in its tree: the queue integrates


def git(cwd: Path, *args: str) -> str:
    import subprocess

    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, f"git {args}: {done.stderr}"
    return done.stdout.strip()


def line(k: int, value: object = None) -> str:
    return f"x{k} = {k if value is None else repr(value)}"


def change(*pairs: tuple[str, str]) -> str:
    hunks = "".join(f"@@\n-{old}\n+{new}\n" for old, new in pairs)
    return f"*** Begin Patch\n*** Update File: {FILE}\n{hunks}*** End Patch\n"


def step(when: str, **entry: Any) -> dict[str, Any]:
    return {"when": when, **entry}


def submitting(when: str, patch: str, summary: str) -> list[dict[str, Any]]:
    return [
        step(when, patch=patch),
        step(when, tool="submit", arguments={"summary": summary}),
        step(when, text=f"submitted: {summary}"),
    ]


def script() -> dict[str, Any]:
    agents: dict[str, list[dict[str, Any]]] = {str(r): [] for r in range(4)}
    for r, k in ((0, 5), (1, 15), (2, 30)):  # part one: one file, three places
        agents[str(r)] += submitting("part one", change((line(k), line(k, f"by s_{r}"))),
                                     f"part one by s_{r}")  # fmt: skip
    for r in (0, 1):  # part two: the same line, twice
        agents[str(r)] += submitting("part two", change((line(20), line(20, f"by s_{r}"))),
                                     f"part two by s_{r}")  # fmt: skip
    fix = change((line(20, "by s_1"), line(20, "by s_0")), (line(25), line(25, "by s_1")))
    agents["1"] += submitting(r"conflicts with main in src/m\.py", fix, "part two, fixed")
    for r, k in ((0, 8), (1, 11), (2, 35), (3, 38)):  # part three: four, one bad
        value = f"BAD by s_{r}" if r == 2 else f"by s_{r}"
        agents[str(r)] += submitting("part three", change((line(k), line(k, value))),
                                     f"part three by s_{r}")  # fmt: skip
    agents["2"].append(step(r"rejected: the check", text="I will fix it"))
    return {"agents": agents}


def ended(run: RunDir) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in journal.records(run):
        if r["kind"] in journal.ENDED:
            assert r["sub"] not in out, f"{r['sub']} ended twice"
            out[r["sub"]] = r["kind"].removeprefix("merge.")
    return out


def queued(run: RunDir, summary: str) -> str:
    found = [r["id"] for r in journal.records(run)
             if r["kind"] == journal.QUEUED and r["summary"] == summary]  # fmt: skip
    return found[0] if found else ""


def agent_inputs(swarm: Swarm, agent: str) -> str:
    return json.dumps([r["body"]["input"] for r in swarm.model_requests() if r["agent"] == agent])


def test_merge_queue_with_scripted_agents(
    swarm_factory: Callable[[str], Swarm], tmp_path: Path
) -> None:
    swarm = swarm_factory("s")
    swarm.env.update(GIT_ENV)
    repo = swarm.workdir
    git(repo, "init", "-q", "-b", "main")
    (repo / "src").mkdir()
    (repo / FILE).write_text("".join(line(k) + "\n" for k in range(1, 41)))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    checked, gate = tmp_path / "checked", tmp_path / "gate"
    check = (f"git rev-parse HEAD >> {checked}; if [ -f {gate} ]; then exit 127; fi; "
             "! grep -rq BAD src/")  # fmt: skip
    swarm.up(4, script(), *UP, "--check", check)
    run = RunDir(swarm.run_dir)

    def merged_targets() -> set[str]:
        return {r["target"] for r in journal.records(run) if r["kind"] == journal.MERGED}

    def send(ranks: str, text: str) -> None:
        swarm.cli("send", "s", ranks, text, "--wait", "--json", timeout=300)

    # -- part one: three changes to one file, merged in order, each once ----------------------
    send("0,1,2", "part one")
    ids = [wait_until(lambda r=r: queued(run, f"part one by s_{r}"), 60, "a submission")
           for r in range(3)]  # fmt: skip
    wait_until(lambda: all(ended(run).get(i) for i in ids), 180, "part one merged")
    assert [ended(run)[i] for i in ids] == ["merged"] * 3
    text = git(repo, "show", f"main:{FILE}")
    for r, k in ((0, 5), (1, 15), (2, 30)):
        assert text.count(line(k, f"by s_{r}")) == 1
    order = [r["sub"] for r in journal.records(run) if r["kind"] == journal.MERGED]
    assert order == sorted(ids, key=lambda i: int(i.rsplit("-", 1)[1]))  # in submission order
    firsts = git(repo, "log", "--first-parent", "--format=%s", f"{base}..main").splitlines()
    assert len(firsts) == 3  # one merge per submission: each change once
    checks = set(checked.read_text().split())
    assert merged_targets() <= checks  # the check ran on every state main took
    assert (repo / FILE).read_text() == text + "\n"  # the person's clean tree followed main

    # the supervisor keeps the queue process alive: killed, it comes back
    lock = run.merge_dir / "runner.pid"
    pid = int(lock.read_text())
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: lock.exists() and lock.read_text().strip() not in ("", str(pid)), 60,
               "a new queue process")  # fmt: skip

    # -- part two: a conflict, rejected with its paths, fixed by its agent, merged -------------
    send("0", "part two")
    first = wait_until(lambda: queued(run, "part two by s_0"), 60, "s_0's submission")
    wait_until(lambda: ended(run).get(first), 120, "s_0's part two merged")
    send("1", "part two")
    second = wait_until(lambda: queued(run, "part two by s_1"), 60, "s_1's submission")
    wait_until(lambda: ended(run).get(second), 120, "s_1's part two ended")
    assert ended(run)[second] == "rejected"
    rejected = [r for r in journal.records(run) if r.get("sub") == second][-1]
    assert rejected["reason"] == "conflict" and rejected["paths"] == [FILE]
    fixed = wait_until(lambda: queued(run, "part two, fixed"), 180, "s_1's fixed submission")
    wait_until(lambda: ended(run).get(fixed), 120, "the fix merged")
    assert ended(run)[fixed] == "merged"
    assert "conflicts with main in src/m.py" in agent_inputs(swarm, "s_1")
    text = git(repo, "show", f"main:{FILE}")
    assert line(20, "by s_0") in text and line(25, "by s_1") in text

    # -- part three: four at once, one bad: bisected ------------------------------------------
    gate.touch()  # the check "cannot start" until all four wait: one batch
    send("0,1,2,3", "part three")
    four = [wait_until(lambda r=r: queued(run, f"part three by s_{r}"), 60, "a submission")
            for r in range(4)]  # fmt: skip
    wait_until(lambda: journal.state(run).waiting, 60, "the queue to wait")
    status = json.loads(swarm.cli("merge", "status", "s", "--json").stdout)
    assert "cannot start" in status["waiting"] and status["runner"]
    assert {s["id"]: s["state"] for s in status["submissions"]}[four[0]] in ("queued", "testing")
    mark = journal.records(run)[-1]["seq"]
    gate.unlink()
    wait_until(lambda: all(ended(run).get(i) for i in four), 180, "part three ended")
    assert [ended(run)[i] for i in four] == ["merged", "merged", "rejected", "merged"]
    runs = [r for r in journal.records(run)
            if r["kind"] == journal.TESTING and r["seq"] > mark]  # fmt: skip
    assert len(runs) - 1 <= 1 + math.ceil(math.log2(4))
    assert set(runs[0]["ids"]) == set(four)  # one batch of four
    bad = [r for r in journal.records(run) if r.get("sub") == four[2]][-1]
    assert bad["reason"] == "check" and "BAD" not in git(repo, "show", f"main:{FILE}")
    wait_until(lambda: "rejected: the check" in agent_inputs(swarm, "s_2"), 120,
               "s_2 to be told")  # fmt: skip
    assert merged_targets() <= set(checked.read_text().split())
    # the audit log has every step
    kinds = {e["kind"] for e in json.loads(swarm.cli("coord", "events", "--kind", "merge.",
                                                     "--json").stdout)}  # fmt: skip
    assert {"merge.queued", "merge.testing", "merge.merged", "merge.rejected"} <= kinds
