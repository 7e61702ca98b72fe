"""Gateway mode with the real clients (issue 16): a person's own `codex exec`, then their own
`claude -p`, installed with `codeswarm install codex|claude --gateway`, conduct a Codex swarm
running in the same project (`up -n 1`, scripted models everywhere).

Each session edits a file itself (leased by its hooks, so the worker it then delegates to is
denied that file, naming the session), delegates a task to the swarm's worker, waits for it with
`check` inside the same turn (nothing wakes a personal session), and reports the worker's result.
The primer reaches the model at the session's start; the session registers as the orchestrator
and gets no more codeswarm context than a fleet agent (no `$swarm` skill, no `/swarm`).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from codeswarm.coordination import Coord
from codeswarm.mcp.gateway import PRIMER
from codeswarm.mockmodel import MockModel, Script, to_codex_flags
from swarmkit import Swarm, open_swarms, plain_home

pytestmark = [pytest.mark.codex, pytest.mark.slow]

SESSION_TIMEOUT = 120.0
WAIT_S = 90
"""`check`'s wait for the delegated task (the worker takes a few seconds)."""
TASKS = 3
"""Tasks the swarm's worker is scripted for (each test delegates one)."""
WORK_S = 3.0
"""How long the worker takes before it reports: the gateway is inside `check` meanwhile."""


def patch_add(path: str, text: str) -> str:
    return f"*** Begin Patch\n*** Add File: {path}\n+{text}\n*** End Patch\n"


def tool(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool": name, "arguments": arguments}


def result_of(n: int) -> str:
    return f"RESULT-{n}: 42 tests pass"


def worker_script() -> list[dict[str, Any]]:
    """The swarm's worker, for task #n: write gw-n.txt (the gateway holds it: denied), then
    report the task done with its result."""
    entries: list[dict[str, Any]] = []
    for n in range(1, TASKS + 1):
        wake = f"Task #{n}:"
        entries += [
            {"when": wake, "patch": patch_add(f"gw-{n}.txt", "worker")},
            {
                "when": wake,
                "delay": WORK_S,
                **tool(
                    "task_update",
                    id=n,
                    status="done",
                    result=result_of(n),
                    files_changed=[f"out-{n}.txt"],
                ),
            },
            {"when": wake, "text": f"Task {n} is done."},
        ]
    return entries


@dataclass
class Project:
    swarm: Swarm
    worker: str

    def coord(self) -> Coord:
        return Coord.open(str(self.swarm.state / "coord.db"), root=str(self.swarm.workdir))

    def next_task(self) -> int:
        with self.coord() as coord:
            return max((t.id for t in coord.tasks()), default=0) + 1

    def env(self) -> dict[str, str]:
        """The person's environment (their HOME and Codex home, where the gateway is
        installed), offline and without the test runner's Claude or Anthropic settings."""
        dropped = ("ANTHROPIC_", "CLAUDE", "DISABLE_", "IS_SANDBOX")
        return {k: v for k, v in self.swarm.env.items() if not k.startswith(dropped)}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, codex_bin: Path) -> Iterator[Project]:
    tmp = tmp_path_factory.mktemp("gateway")
    with open_swarms(Swarm, tmp, codex_bin) as make:
        s = make("gw")
        plain_home(s, tmp)
        subprocess.run(["git", "init", "-q", str(s.workdir)], check=True, timeout=30)
        # the person installs both clients in gateway mode, then starts a swarm in the project
        # (its agents are seeded from the same Codex home: the gateway's block is left out)
        s.cli("install", "codex", "--gateway")
        s.cli("install", "claude", "--gateway")
        s.up(1, {"agents": {"0": worker_script()}})
        yield Project(s, s.agent(0))


def check_swarm_side(p: Project, n: int, gateway: str) -> None:
    """The task was the worker's and is done; the worker was denied the gateway's file, naming
    the gateway; the gateway registered as the orchestrator and left nothing behind."""
    with p.coord() as coord:
        task = coord.task(n)
        assert (task.status, task.result) == ("done", result_of(n))
        assert task.assignee is not None and task.assignee.startswith(p.worker + "#")
        assert task.created_by is not None and task.created_by.startswith(gateway + "#")
        denied = [e for e in coord.events(kind="lease.denied") if e.subject == f"gw-{n}.txt"]
        assert denied and denied[0].agent.startswith(p.worker + "#"), denied
        assert gateway in json.dumps(denied[0].data["reasons"]), denied[0].data
        roles = [e.data["role"] for e in coord.events(kind="agent.registered")
                 if e.subject == gateway]  # fmt: skip
        assert roles and set(roles) == {"orchestrator"}, roles
        assert gateway not in {a.name for a in coord.agents()}  # the session ended
        assert not [le for le in coord.leases() if le.holder.startswith(gateway + "#")]
    assert (p.swarm.workdir / f"gw-{n}.txt").read_text() == "gateway\n"


def codeswarm_context(body: dict[str, Any]) -> list[str]:
    """The developer messages of a Codex request that speak of codeswarm."""
    return [
        part.get("text", "")
        for item in body["input"]
        if item.get("role") == "developer"
        for part in item.get("content") or []
        if "codeswarm" in part.get("text", "")
    ]


async def fleet_orchestrator_tools(p: Project) -> set[str]:
    """The codeswarm tools a fleet's orchestrator is offered (its server, built here)."""
    from codeswarm.mcp.identity import Identity
    from codeswarm.mcp.server import build_server

    env = {"CODESWARM_AGENT_ID": "boss", "CODESWARM_AGENT_ROLE": "orchestrator"}
    with p.coord() as coord:
        server = build_server(coord, Identity(coord, env), heartbeat=False, env=env)
        return {t.name for t in await server.list_tools()}


def tool_json(output: Any) -> dict[str, Any]:
    """The JSON a tool returned, from a tool output as the client passed it to the model (Codex
    puts "Wall time: …\nOutput:\n" first; either may be a string or a list of text parts)."""
    if isinstance(output, list):
        output = "".join(part.get("text", "") for part in output if isinstance(part, dict))
    text = str(output)
    return dict(json.loads(text[text.index("{") : text.rindex("}") + 1]))


def check_waited(p: Project, gateway_requests: list[dict[str, Any]], n: int) -> None:
    """The gateway called `check` before the worker reported (the worker takes WORK_S), and
    heard back after it: the wait happened inside the gateway's one turn (the model requests'
    arrival times, the store's time of the report)."""
    with p.coord() as coord:
        (done,) = [e for e in coord.events(kind="task.done") if e.subject == str(n)]
    asked, heard = gateway_requests[2]["ts"], gateway_requests[3]["ts"]
    assert gateway_requests[2]["entry"]["tool"] == "check"
    assert asked < done.ts < heard, (asked, done.ts, heard)


async def test_codex_exec_in_gateway_mode_delegates_and_reports_the_result(
    project: Project, codex_bin: Path
) -> None:
    n = project.next_task()
    script = [
        {"patch": patch_add(f"gw-{n}.txt", "gateway")},  # its own edit: leased by its hooks
        tool(
            "delegate",
            title=f"job {n}",
            instructions="Run the tests and report.",
            agent=project.worker,
        ),
        tool("check", task=n, wait=WAIT_S),
        {"text": f"{project.worker} reports: {result_of(n)}"},
    ]
    async with MockModel(Script.from_obj({"agents": {"g": script}})) as mm:
        proc = await asyncio.create_subprocess_exec(
            str(codex_bin), "exec", "--json", "--skip-git-repo-check", "-C", str(project.swarm.workdir),
            "-s", "workspace-write", *to_codex_flags(mm.codex_config(agent="g")),
            "Run the tests through the swarm.",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=project.env(),
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), SESSION_TIMEOUT)
        requests = mm.requests_for("g")
    assert proc.returncode == 0, err.decode()[-2000:]
    events = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert not [e for e in events if e["type"] == "error"], events
    answers = [e["item"]["text"] for e in events
               if e["type"] == "item.completed" and e["item"]["type"] == "agent_message"]  # fmt: skip
    assert answers and result_of(n) in answers[-1]
    assert len(requests) == 4, [r.get("entry") for r in requests]

    # the primer reached the model at the start: a developer message of the first request;
    # beside it, what codeswarm puts in a fleet agent's context and nothing more (the MCP
    # namespace, the swarm's picture; no $swarm skill)
    mine = codeswarm_context(requests[0]["body"])
    fleet = codeswarm_context(
        next(r for r in project.swarm.model_requests() if r["agent"] == project.worker)["body"]
    )
    assert PRIMER in mine, mine
    pictures = [t for t in mine if t.startswith("You are agent codex-")]
    assert len(pictures) == 1 and len([t for t in fleet if t.startswith("You are agent ")]) == 1
    assert [t for t in mine if t not in (PRIMER, *pictures)] == [
        t for t in fleet if not t.startswith("You are agent ")
    ]
    assert "Show the codeswarm picture" not in json.dumps(requests[0]["body"])

    # within the one turn: `check` waited for the worker and returned its result to the model
    outputs = [
        item.get("output")
        for item in requests[3]["body"]["input"]
        if item.get("type") == "function_call_output"
    ]
    checked = tool_json(outputs[-1])
    assert (checked["status"], checked["result"]) == ("done", result_of(n)), checked
    assert checked["agent"] == project.worker and "timed_out" not in checked
    check_waited(project, requests, n)
    with project.coord() as coord:
        creator = coord.task(n).created_by
    assert creator is not None and creator.startswith("codex-")
    check_swarm_side(project, n, creator.split("#")[0])


async def test_claude_code_in_gateway_mode_delegates_and_reports_the_result(
    project: Project, claude_binary: Path
) -> None:
    n = project.next_task()
    script = [
        {"write": {"file_path": f"gw-{n}.txt", "content": "gateway\n"}},  # leased by its hooks
        tool(
            "delegate",
            title=f"job {n}",
            instructions="Run the tests and report.",
            agent=project.worker,
        ),
        tool("check", task=n, wait=WAIT_S),
        {"text": f"{project.worker} reports: {result_of(n)}"},
    ]
    async with MockModel(Script.from_obj({"agents": {"c": script}})) as mm:
        # acceptEdits: the person would say yes to the Write; the MCP tools need no flag, the
        # gateway's settings allow them
        proc = await asyncio.create_subprocess_exec(
            str(claude_binary), "-p", "Run the tests through the swarm.", "--output-format",
            "stream-json", "--verbose", "--permission-mode", "acceptEdits",
            cwd=project.swarm.workdir, env={**project.env(), **mm.claude_env("c")},
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), SESSION_TIMEOUT)
        requests = mm.requests_for("c")
    assert proc.returncode == 0, err.decode()[-2000:]
    events = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    (result,) = [e for e in events if e["type"] == "result"]
    assert not result["is_error"] and result["permission_denials"] == [], result
    assert result_of(n) in result["result"]
    init = next(e for e in events if e.get("subtype") == "init")
    assert "swarm" not in init["slash_commands"]  # no /swarm: nothing more than an agent gets
    assert {s["name"]: s["status"] for s in init["mcp_servers"]}.get("codeswarm") == "connected"
    assert len(requests) == 4, [r.get("entry") for r in requests]

    # the primer reached the model at the start (the SessionStart hook's additional context,
    # beside the swarm's picture), and codeswarm's tools are a fleet orchestrator's
    first = requests[0]["body"]
    assert json.dumps(PRIMER)[1:-1] in json.dumps(first), "no primer"
    assert "You are agent claude-" in json.dumps(first)
    offered = {t["name"] for t in first["tools"] if t["name"].startswith("mcp__codeswarm__")}
    assert offered == {f"mcp__codeswarm__{t}" for t in await fleet_orchestrator_tools(project)}

    # within the one turn: `check` waited for the worker and returned its result to the model
    uses = {
        block["id"]: block["name"]
        for e in events
        if e["type"] == "assistant"
        for block in e["message"]["content"]
        if block["type"] == "tool_use"
    }
    results = {
        uses[block["tool_use_id"]]: block
        for e in events
        if e["type"] == "user" and isinstance(e["message"]["content"], list)
        for block in e["message"]["content"]
        if block.get("type") == "tool_result"
    }
    block = results["mcp__codeswarm__check"]
    assert not block.get("is_error"), block
    checked = tool_json(block["content"])
    assert (checked["status"], checked["result"]) == ("done", result_of(n)), checked
    assert checked["agent"] == project.worker and "timed_out" not in checked
    check_waited(project, requests, n)
    last = json.dumps(requests[3]["body"]["messages"][-1])
    assert result_of(n) in last
    with project.coord() as coord:
        creator = coord.task(n).created_by
    assert creator is not None and creator.startswith("claude-")
    check_swarm_side(project, n, creator.split("#")[0])
