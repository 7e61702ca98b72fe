"""Every REST endpoint of ``codeswarm serve`` with an HTTP client, against a live server over two
real swarms at once (supervisor, workers, Codex, scripted model), both brought up through the
API: list and get swarms and agents; send to one, some and all, queued and steered, each answer
checked in the status; interrupt; an approval approved and one declined; leases, tasks and
messages; budgets; down. The tests run in file order and share the module's server and swarms."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from apikit import Project, Served, error_of, read_inbox
from swarmkit import wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow]

TALK = "ta"  # 2 agents: messages, steering, interrupts, coordination, budgets
GATE = "tb"  # 1 agent, every command asks: approvals
TALK_SCRIPT: dict[str, Any] = {
    "agents": {
        "*": [
            {"when": "(?i)first", "text": "first answer"},
            {"when": "(?i)second", "text": "second answer"},
            {"when": "(?i)third", "text": "third answer"},
            {"when": "(?i)long job", "exec": "sleep 6"},
            {"when": "(?i)long job", "text": "long job done"},
            {"when": "(?i)steered", "text": "steered answer"},
            {"when": "(?i)take your time", "text": "slow answer", "delay": 120},
            {"when": "(?i)parser is yours", "text": "on it"},
        ]
    }
}
GATE_SCRIPT: dict[str, Any] = {
    "agents": {
        "*": [
            {"when": "(?i)write the file", "exec": "echo approved > f.txt"},
            {"when": "(?i)write the file", "text": "wrote it"},
            {"when": "(?i)remove the file", "exec": "rm f.txt"},
            {"when": "(?i)remove the file", "text": "left it"},
        ]
    }
}
BUDGET = 1_000_000
AGENT_BUDGET = 400_000
WAIT_S = 120.0  # generous: a loaded 2-core machine runs three Codex processes here


@pytest.fixture(scope="module")
def api(live_api: Served) -> httpx.Client:
    with live_api.client() as client:
        yield client  # type: ignore[misc]


@pytest.fixture(scope="module")
def ups(api_project: Project, api: httpx.Client) -> dict[str, httpx.Response]:
    """Both swarms, brought up through the API (the ``POST /api/swarms`` answers)."""
    talk = api_project.up_body(
        TALK, 2, TALK_SCRIPT, roles=["orchestrator", "implementer"], budget=BUDGET,
        agent_budget=AGENT_BUDGET,
    )  # fmt: skip
    gate = api_project.up_body(
        GATE, 1, GATE_SCRIPT, approval_policy="untrusted", approvals="forward",
        sandbox="workspace-write", coord=False,
    )  # fmt: skip
    return {TALK: api.post("/api/swarms", json=talk), GATE: api.post("/api/swarms", json=gate)}


def agent(api: httpx.Client, swarm: str, name: str) -> dict[str, Any]:
    response = api.get(f"/api/swarms/{swarm}/agents/{name}")
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def until(predicate: Callable[[], Any], what: str) -> Any:
    return wait_until(predicate, timeout=WAIT_S, what=what)


def answered(api: httpx.Client, swarm: str, name: str, text: str, turns: int) -> None:
    """Wait until agent ``name`` finished turn number ``turns`` answering ``text``."""
    until(
        lambda: (
            (a := agent(api, swarm, name))["turns"] == turns
            and a["last_message"] == text
            and a["state"] == "idle"
        ),
        f"{name} to answer {text!r}",
    )


def test_up_list_and_get_two_swarms_at_once(
    api: httpx.Client, ups: dict[str, httpx.Response], api_project: Project
) -> None:
    for name, size in ((TALK, 2), (GATE, 1)):
        response = ups[name]
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["swarm"] == name
        assert [a["id"] for a in body["status"]["agents"]] == [f"{name}_{r}" for r in range(size)]
    rows = {r["swarm"]: r for r in api.get("/api/swarms").json()["swarms"]}
    assert set(rows) == {TALK, GATE}
    assert rows[TALK]["running"] and rows[GATE]["running"]
    assert rows[TALK]["agents"] == 2 and rows[TALK]["backend"] == "local"
    assert rows[TALK]["model_provider"] == "mock"
    assert rows[GATE]["cwd"] == str(api_project.made[GATE].workdir)

    # the status --json object, from the API and from the CLI alike
    status = api.get(f"/api/swarms/{TALK}").json()
    cli = api_project.made[TALK].status()
    assert status["swarm"] == TALK == cli["swarm"]
    assert [(a["id"], a["role"]) for a in status["agents"]] == [
        (f"{TALK}_0", "orchestrator"),
        (f"{TALK}_1", "implementer"),
    ]
    assert [a["id"] for a in status["agents"]] == [a["id"] for a in cli["agents"]]
    assert status["supervisor"]["running"] is True

    agents = api.get(f"/api/swarms/{TALK}/agents").json()["agents"]
    assert [a["id"] for a in agents] == [f"{TALK}_0", f"{TALK}_1"]
    assert agent(api, TALK, "1")["id"] == agent(api, TALK, f"{TALK}_1")["id"] == f"{TALK}_1"

    # a second up of a running swarm: refused, nothing changes
    again = api.post("/api/swarms", json=api_project.up_body(TALK, 2, TALK_SCRIPT))
    assert error_of(again) == (409, "already_running")
    # up's own refusals come back as its one line
    bad = api.post("/api/swarms", json=api_project.up_body("tc", 1, TALK_SCRIPT, sandbox="nope"))
    assert error_of(bad) == (400, "bad_request")
    assert "sandbox" in bad.json()["error"]["message"]


def test_send_to_one_some_and_all_queued(api: httpx.Client, api_project: Project) -> None:
    swarm = api_project.made[TALK]
    one = api.post(f"/api/swarms/{TALK}/send", json={"to": f"{TALK}_0", "text": "first one"})
    assert one.status_code == 202, one.text
    (sent,) = one.json()["sent"].items()
    assert sent[0] == f"{TALK}_0"
    assert read_inbox(swarm, 0)[-1]["id"] == sent[1]["id"]  # the inbox record it appended
    answered(api, TALK, "0", "first answer", 1)
    assert agent(api, TALK, "1")["turns"] == 0

    some = api.post(f"/api/swarms/{TALK}/send", json={"to": ["0", "1"], "text": "second"})
    assert some.status_code == 202 and set(some.json()["sent"]) == {f"{TALK}_0", f"{TALK}_1"}
    answered(api, TALK, "0", "second answer", 2)
    answered(api, TALK, "1", "second answer", 1)

    every = api.post(f"/api/swarms/{TALK}/send",
                     json={"to": "all", "text": "third", "mode": "queue"})  # fmt: skip
    assert every.status_code == 202 and set(every.json()["sent"]) == {f"{TALK}_0", f"{TALK}_1"}
    assert read_inbox(swarm, 1)[-1]["mode"] == "queue"
    answered(api, TALK, "0", "third answer", 3)
    answered(api, TALK, "1", "third answer", 2)


def test_a_steered_message_joins_the_running_turn(api: httpx.Client, api_project: Project) -> None:
    swarm = api_project.made[TALK]
    turns = agent(api, TALK, "1")["turns"]
    api.post(f"/api/swarms/{TALK}/send", json={"to": "1", "text": "long job"})
    until(lambda: agent(api, TALK, "1")["state"] == "busy", "ta_1 busy")
    steer = api.post(f"/api/swarms/{TALK}/send",
                     json={"to": "1", "text": "steered: stop there", "mode": "steer"})  # fmt: skip
    assert steer.status_code == 202, steer.text
    inbox_id = steer.json()["sent"][f"{TALK}_1"]["id"]
    answered(api, TALK, "1", "steered answer", turns + 1)  # one turn: the steer joined it
    steered = [r for r in swarm.outbox(1) if r["kind"] == "turn.steered"]
    assert [r["inbox_id"] for r in steered] == [inbox_id]


def test_interrupt(api: httpx.Client) -> None:
    turns = agent(api, TALK, "0")["turns"]
    api.post(f"/api/swarms/{TALK}/send", json={"to": "0", "text": "take your time"})
    until(lambda: agent(api, TALK, "0")["state"] == "busy", "ta_0 busy")
    done = api.post(f"/api/swarms/{TALK}/interrupt", json={"to": "all"})
    assert done.status_code == 202, done.text
    assert done.json() == {
        "interrupted": [f"{TALK}_0"],
        "skipped": [f"nothing to interrupt: {TALK}_1 is idle"],
    }
    until(
        lambda: (a := agent(api, TALK, "0"))["state"] == "idle" and a["turns"] == turns + 1,
        "the interrupt",
    )
    assert agent(api, TALK, "0")["last_message"] != "slow answer"
    # nothing left to interrupt: 409, nothing sent
    idle = api.post(f"/api/swarms/{TALK}/interrupt", json={"to": ["0", "1"]})
    assert error_of(idle) == (409, "nothing_to_interrupt")


def pending(api: httpx.Client) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = api.get(f"/api/swarms/{GATE}/approvals").json()["approvals"]
    return rows


def test_an_approval_approved_and_one_declined(api: httpx.Client, api_project: Project) -> None:
    workdir = api_project.made[GATE].workdir
    assert pending(api) == []
    api.post(f"/api/swarms/{GATE}/send", json={"to": "all", "text": "write the file"})
    (request,) = until(lambda: pending(api), "the approval request")
    assert request["agent"] == f"{GATE}_0" and request["kind"] == "command"
    assert "echo approved" in request["command"]
    assert set(request) == {"agent", "request_id", "kind", "method", "command", "cwd", "reason",
                            "item_id"}  # fmt: skip
    assert agent(api, GATE, "0")["state"] == "waiting_approval"
    assert not (workdir / "f.txt").exists()
    rid = request["request_id"]
    ok = api.post(f"/api/swarms/{GATE}/approvals",
                  json={"agent": "0", "request_id": rid, "decision": "accept"})  # fmt: skip
    assert ok.status_code == 202, ok.text
    answered(api, GATE, "0", "wrote it", 1)
    assert (workdir / "f.txt").read_text() == "approved\n"
    # answered already: 409, nothing sent
    twice = api.post(f"/api/swarms/{GATE}/approvals",
                     json={"agent": f"{GATE}_0", "request_id": rid, "decision": "decline"})  # fmt: skip
    assert error_of(twice) == (409, "not_pending")

    api.post(f"/api/swarms/{GATE}/send", json={"to": "0", "text": "remove the file"})
    (request,) = until(lambda: pending(api), "the second approval request")
    assert "rm f.txt" in request["command"]
    no = api.post(f"/api/swarms/{GATE}/approvals",
                  json={"agent": "0", "request_id": str(request["request_id"]),
                        "decision": "decline"})  # fmt: skip
    assert no.status_code == 202, no.text
    answered(api, GATE, "0", "left it", 2)
    assert (workdir / "f.txt").exists()  # declined: not removed
    assert pending(api) == []


def test_leases_tasks_and_messages(api: httpx.Client, api_project: Project) -> None:
    swarm = api_project.made[TALK]
    assert api.get(f"/api/swarms/{GATE}/leases").json() == {"leases": []}  # --no-coord
    assert api.get(f"/api/swarms/{GATE}/tasks").json() == {"tasks": []}
    assert api.get(f"/api/swarms/{GATE}/messages").json() == {"messages": []}

    def coord(*args: str) -> str:
        return swarm.cli("coord", "--scope", str(swarm.workdir.resolve()), *args).stdout

    def registered() -> set[str]:
        return {a["id"].split("#")[0] for a in json.loads(coord("agents", "--json") or "[]")}

    until(lambda: {f"{TALK}_0", f"{TALK}_1"} <= registered(), "both agents in the store")
    coord("--as", f"{TALK}_1", "lease", "src/parser.py", "--note", "rewriting")
    coord("--as", f"{TALK}_0", "task", "add", "Write the parser")
    coord("--as", f"{TALK}_0", "task", "add", "Test the parser", "--depends-on", "1")
    (lease,) = api.get(f"/api/swarms/{TALK}/leases").json()["leases"]
    assert lease["path"] == "src/parser.py" and lease["note"] == "rewriting"
    assert lease["agent"] == f"{TALK}_1" and lease["holder"].startswith(f"{TALK}_1#")
    assert lease["mode"] and lease["token"] > 0 and "expires_at" in lease  # None: while it lives
    tasks = api.get(f"/api/swarms/{TALK}/tasks").json()["tasks"]
    assert [(t["id"], t["title"], t["status"], t["depends_on"]) for t in tasks] == [
        (1, "Write the parser", "open", []),
        (2, "Test the parser", "blocked", [1]),
    ]
    assert {"assignee", "verdict", "result", "budget_tokens"} <= set(tasks[0])

    # last: a message wakes its recipient (a turn of its own, waited for)
    turns = agent(api, TALK, "1")["turns"]
    coord("--as", f"{TALK}_0", "send", f"{TALK}_1", "the parser is yours")
    answered(api, TALK, "1", "on it", turns + 1)
    (message,) = api.get(f"/api/swarms/{TALK}/messages").json()["messages"]
    assert message["text"] == "the parser is yours" and message["to"] == f"{TALK}_1"
    assert message["sender"].startswith(f"{TALK}_0#")
    mine = api.get(f"/api/swarms/{TALK}/messages", params={"agent": "1", "limit": 5}).json()
    assert mine["messages"] == [message]
    assert api.get(f"/api/swarms/{TALK}/messages", params={"agent": GATE + "_0"}).status_code == 404
    assert error_of(api.get(f"/api/swarms/{TALK}/messages", params={"limit": "0"})) == (
        400,
        "bad_request",
    )


def test_run_budgets_and_usage(api: httpx.Client) -> None:
    run = api.get(f"/api/swarms/{TALK}/run").json()
    status = api.get(f"/api/swarms/{TALK}").json()
    assert (run["budget"], run["agent_budget"], run["budget_warn"]) == (BUDGET, AGENT_BUDGET, 0.8)
    assert run["orchestrator"] == f"{TALK}_0"
    assert run["summary"] is None  # no `codeswarm run` wrote one
    for view in status["agents"]:
        usage = run["usage"][view["id"]]
        assert usage["total"] == view["tokens"]["total"] > 0
        assert usage["input_tokens"] == view["tokens"]["input"]
        assert usage["output_tokens"] == view["tokens"]["output"]
    assert (
        run["total"] == status["tokens"]["total"] == sum(u["total"] for u in run["usage"].values())
    )
    gate = api.get(f"/api/swarms/{GATE}/run").json()
    assert (gate["budget"], gate["agent_budget"], gate["orchestrator"]) == (None, None, None)


def test_down(api: httpx.Client, api_project: Project) -> None:
    assert error_of(api.delete(f"/api/swarms/{GATE}", params={"grace": "soon"})) == (
        400,
        "bad_request",
    )
    down = api.delete(f"/api/swarms/{GATE}", params={"grace": "5"})
    assert down.status_code == 200, down.text
    assert down.json()["swarm"] == GATE and down.json()["down"] is True
    assert isinstance(down.json()["killed"], list)
    assert api_project.made[GATE].processes() == []
    rows = {r["swarm"]: r["running"] for r in api.get("/api/swarms").json()["swarms"]}
    assert rows == {TALK: True, GATE: False}
    # down, the swarm is still there to read (its run directory stays unless purge)
    assert agent(api, GATE, "0")["last_message"] == "left it"
    purged = api.delete(f"/api/swarms/{TALK}", params={"grace": "5", "purge": "true"})
    assert purged.status_code == 200 and purged.json()["purged"] is True
    assert error_of(api.get(f"/api/swarms/{TALK}")) == (404, "unknown_swarm")
    assert [r["swarm"] for r in api.get("/api/swarms").json()["swarms"]] == [GATE]
