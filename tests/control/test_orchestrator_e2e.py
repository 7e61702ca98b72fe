"""The orchestrator's tools end to end: real workers and Codex, the scripted model as the
orchestrator (rank 0) and three workers. Three tasks delegated, the third depending on the other
two: its worker starts only after both are done; the orchestrator is woken by each completion
(no polling call in its request log); `converse` returns a worker's final message; `finish`
writes `run.finished` (docs/coordination.md, "Delegation")."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from codeswarm.coordination import Coord
from codeswarm.mockmodel.script import latest_user_text
from swarmkit import Swarm, wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow]

ROLES = "orchestrator,implementer,implementer,implementer"


def _tool(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool": name, "arguments": arguments}


def _script(s: Swarm) -> dict[str, Any]:
    w1, w2, w3 = s.agent(1), s.agent(2), s.agent(3)
    done = "task #3 done"
    orchestrator = [
        _tool("delegate", title="part a", instructions="write part a", agent=w1),
        _tool("delegate", title="part b", instructions="write part b", agent=w2),
        _tool(
            "delegate",
            title="join",
            instructions="join a and b",
            agent=w3,
            depends_on=[1, 2],
            budget_tokens=100000,
        ),
        {"text": "Delegated three tasks; waiting for them."},
        {"when": "task #1 done", "text": "Part a is done."},
        {"when": "task #2 done", "text": "Part b is done."},
        {"when": done, **_tool("converse", agent=w3, message="What did you do?", timeout=60)},
        {"when": done, **_tool("end", task=3, verdict="accepted", summary="joined")},
        {"when": done, **_tool("finish", summary="parts a and b written and joined")},
        {"when": done, "text": "Finished."},
    ]

    def worker(task: int, delay: float) -> list[dict[str, Any]]:
        wake = f"Task #{task}:"
        return [
            {"when": wake, "delay": delay,
             **_tool("task_update", id=task, status="done", result=f"did task {task}")},
            {"when": wake, "text": f"Task {task} is done."},
            {"when": "What did you do", "text": f"I did task {task} from a and b."},
        ]  # fmt: skip

    return {"agents": {"0": orchestrator, "1": worker(1, 0.5), "2": worker(2, 2.0),
                       "3": worker(3, 0.0)}}  # fmt: skip


def _latest_user_text(request: dict[str, Any]) -> str:
    """The latest user message of a request, skipping the context Codex writes itself."""
    return latest_user_text(request["body"])


def _outputs(request: dict[str, Any]) -> list[str]:
    out = []
    for item in request["body"].get("input", []):
        if item.get("type") == "function_call_output":
            output = item.get("output")
            out.append(output if isinstance(output, str) else json.dumps(output))
    return out


def test_delegation_with_a_dependency_end_to_end(swarm: Swarm) -> None:
    # a project of its own: the store's scope is its root, whatever a parent directory holds
    subprocess.run(["git", "init", "-q", str(swarm.workdir)], check=True)
    swarm.up(4, _script(swarm), "--roles", ROLES)
    coord = Coord.open(str(swarm.state / "coord.db"), root=str(swarm.workdir))
    try:
        assert {a.name: a.role for a in coord.agents()}[swarm.agent(0)] == "orchestrator"
        swarm.cli("send", swarm.name, "0", "The goal: write parts a and b, then join them.")
        wait_until(lambda: coord.events(kind="run.finished"), timeout=120, what="run.finished")
        [finished] = coord.events(kind="run.finished")
        assert finished.data == {"summary": "parts a and b written and joined"}
        entry = coord.kv_get("run/finished")
        assert entry is not None and "joined" in entry.value

        tasks = {t.id: t for t in coord.tasks()}
        assert {i: (t.status, t.result, t.assignee) for i, t in tasks.items()} == {
            1: ("done", "did task 1", f"{swarm.agent(1)}#1"),
            2: ("done", "did task 2", f"{swarm.agent(2)}#1"),
            3: ("done", "did task 3", f"{swarm.agent(3)}#1"),
        }
        assert tasks[3].verdict == "accepted" and tasks[3].budget_tokens == 100000
        assert tasks[3].depends_on == [1, 2]

        # the dependent task's worker started only after both were done: in the store (the
        # wake-up came in the transaction that completed the last one) and in the request log
        done_seq = max(e.seq for e in coord.events(kind="task.done") if e.subject in ("1", "2"))
        [assigned] = coord.events(kind="task.assigned", subject="3")
        assert assigned.seq > done_seq
        requests = swarm.model_requests()
        by_agent: dict[str, list[dict[str, Any]]] = {}
        for r in requests:
            by_agent.setdefault(r["agent"], []).append(r)
        reported = {
            i: next(r["seq"] for r in by_agent[swarm.agent(i)]
                    if (r.get("entry") or {}).get("tool") == "task_update")
            for i in (1, 2)
        }  # fmt: skip
        first_of_3 = by_agent[swarm.agent(3)][0]
        assert first_of_3["seq"] > max(reported.values())
        assert "join a and b" in _latest_user_text(first_of_3)

        # the orchestrator: woken by each completion (a turn per message), never polling
        mine = by_agent[swarm.agent(0)]
        called = [(r.get("entry") or {}).get("tool") for r in mine]
        assert [c for c in called if c] == ["delegate", "delegate", "delegate", "converse",
                                            "end", "finish"]  # fmt: skip
        prompts = []
        for r in mine:
            text = _latest_user_text(r)
            if text not in prompts:
                prompts.append(text)
        assert len(prompts) == 4, prompts  # the goal, then one per completion
        assert "The goal" in prompts[0]
        for i, prompt in zip((1, 2, 3), prompts[1:], strict=True):
            assert f"task #{i} done" in prompt and f"did task {i}" in prompt
        accepted = [r for r in swarm.outbox(0) if r["kind"] == "turn.accepted"]
        assert len(accepted) == 4  # and nothing more: the converse reply woke nobody

        # converse returned the worker's final message of that turn
        after_converse = mine[called.index("converse") + 1]
        assert any("I did task 3 from a and b." in o for o in _outputs(after_converse))
        assert coord.inbox(swarm.agent(0)) == []  # every message to it was read by a turn
    finally:
        coord.close()


def test_a_task_turn_without_a_report_needs_review(swarm: Swarm) -> None:
    subprocess.run(["git", "init", "-q", str(swarm.workdir)], check=True)
    review = "task #1 needs_review"
    script = {
        "agents": {
            "0": [
                _tool("delegate", title="part a", instructions="write part a"),
                {"text": "Delegated."},
                {"when": review, **_tool("end", task=1, verdict="rejected", summary="no report")},
                {"when": review, **_tool("finish", summary="part a was not reported")},
                {"when": review, "text": "Finished."},
            ],
            "1": [{"when": "Task #1:", "text": "I looked at it but did not report."}],
        }
    }
    swarm.up(2, script, "--roles", "orchestrator,implementer")
    coord = Coord.open(str(swarm.state / "coord.db"), root=str(swarm.workdir))
    try:
        swarm.cli("send", swarm.name, "0", "The goal: write part a.")
        wait_until(lambda: coord.events(kind="run.finished"), timeout=120, what="run.finished")
        [flagged] = coord.events(kind="task.needs_review")
        assert flagged.subject == "1" and flagged.agent == f"{swarm.agent(1)}#1"
        task = coord.task(1)
        assert (task.status, task.verdict, task.result) == ("failed", "rejected", "no report")
        woken = [
            _latest_user_text(r)
            for r in swarm.model_requests()
            if r["agent"] == swarm.agent(0) and (r.get("entry") or {}).get("tool") == "end"
        ]
        assert len(woken) == 1 and review in woken[0]
    finally:
        coord.close()
