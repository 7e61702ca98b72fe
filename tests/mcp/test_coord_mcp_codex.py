"""A real Codex agent, its scripted model calling the ``codeswarm`` MCP tools, takes a lease and
completes a task through them (the server mounted as every agent gets it: stdio, required, tools
pre-approved, identity passed in its env)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from codeswarm.codex import AppServer
from codeswarm.coordination import Coord, open_store
from swarmkit import PYTHON, python_env

pytestmark = pytest.mark.codex

TURN_TIMEOUT = 60


def mount(db_url: str, root: Path, agent: str) -> dict[str, Any]:
    env = python_env(CODESWARM_DB=db_url, CODESWARM_SCOPE=str(root), CODESWARM_AGENT_ID=agent)
    keep = ("PYTHONPATH", "CODESWARM_DB", "CODESWARM_SCOPE", "CODESWARM_AGENT_ID")
    return {
        "command": PYTHON,
        "args": ["-m", "codeswarm.mcp"],
        "env": {k: env[k] for k in keep},
        "required": True,
        "startup_timeout_sec": 30,
        "tool_timeout_sec": 60,
        "default_tools_approval_mode": "approve",
    }


def tool_outputs(requests: list[dict[str, Any]]) -> list[str]:
    out = []
    for req in requests:
        for item in req["body"].get("input", []):
            if item.get("type") == "function_call_output":
                output = item.get("output")
                out.append(output if isinstance(output, str) else json.dumps(output))
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
async def test_codex_takes_a_lease_and_completes_a_task_through_mcp(rig: Any, db_url: str) -> None:
    root = rig.workspace
    with Coord(open_store(db_url), root=str(root)) as coord:
        task = coord.add_task("rename the parser", files=["src/parser.py"], priority=5)
        script = {
            "agents": {
                "t_0": [
                    {"tool": "lease", "arguments": {"path": "src/parser.py", "note": "renaming"}},
                    {"tool": "task_claim", "arguments": {}},
                    {"tool": "task_update", "arguments": {
                        "id": task.id, "status": "done", "result": "renamed",
                        "files_changed": ["src/parser.py"], "tests_run": ["pytest -q"]}},
                    {"text": "Leased src/parser.py and finished the task."},
                ]
            }
        }  # fmt: skip
        mm = await rig.model(script)
        codex = await AppServer.spawn(
            rig.binary,
            codex_home=rig.home,
            cwd=root,
            config={
                **mm.codex_config(agent="t_0"),
                "mcp_servers.codeswarm": mount(db_url, root, "t_0"),
            },
            stderr_log=rig.tmp_path / "codex-stderr.log",
        )
        rig.stack.push_async_callback(codex.aclose)
        thread = await codex.thread_start(cwd=root, approval_policy="never", sandbox="read-only")
        turn = await codex.turn_start(thread.id, "Take the parser task.")
        result = await asyncio.wait_for(turn.wait(), TURN_TIMEOUT)
        assert result.status == "completed", result
        calls = [i for i in result.items if i.get("type") == "mcpToolCall"]
        assert [(c["server"], c["tool"], c["status"]) for c in calls] == [
            ("codeswarm", "lease", "completed"),
            ("codeswarm", "task_claim", "completed"),
            ("codeswarm", "task_update", "completed"),
        ]
        assert calls[0]["result"]["structuredContent"]["holder"] == "t_0#1"
        outputs = tool_outputs(mm.requests)
        assert any('"holder": "t_0#1"' in o or '"holder":"t_0#1"' in o for o in outputs)

        [lease] = coord.leases()
        assert (lease.path, lease.holder, lease.note) == ("src/parser.py", "t_0#1", "renaming")
        done = coord.task(task.id)
        assert (done.status, done.assignee, done.result) == ("done", "t_0#1", "renamed")
        assert done.files_changed == ["src/parser.py"] and done.tests_run == ["pytest -q"]
        kinds = [e.kind for e in coord.events(agent="t_0")]
        assert kinds == ["agent.registered", "lease.acquired", "task.claimed", "task.done"]
