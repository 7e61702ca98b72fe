"""Personal Codex sessions that join (issue 11): real `codex exec` sessions, hooks installed by
`codeswarm install codex` into a throwaway Codex home, no bypass flag, the scripted model.

- Two sessions at once in one project: the second is denied the file the first is editing
  (leased on its first edit), naming it; each session's MCP tools and its hooks act as one agent.
- `$swarm`: the skill reaches the model, and the MCP tool it calls returns the swarm's picture.
- A fleet agent (`up` run from another directory, `--cwd` the project) and a personal session
  see each other's leases.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from codeswarm.coordination import Coord
from codeswarm.coordination.target import resolve_url
from codeswarm.mockmodel import MockModel, Script, to_codex_flags
from swarmkit import pids_of, wait_until_async

pytestmark = [pytest.mark.codex, pytest.mark.slow]

EXEC_TIMEOUT = 60.0
"""How long one ``codex exec`` may take. A session that must keep its leases while the others
run holds its last answer (``hold``) until the test releases it."""


def patch_add(path: str, text: str) -> str:
    return f"*** Begin Patch\n*** Add File: {path}\n+{text}\n*** End Patch\n"


def patch_update(path: str, old: str, new: str) -> str:
    return f"*** Begin Patch\n*** Update File: {path}\n@@\n-{old}\n+{new}\n*** End Patch\n"


@dataclass
class Person:
    """One person's machine: a home, a Codex home with codeswarm installed, a project."""

    env: dict[str, str]
    project: Path
    codex: Path

    def cli(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([sys.executable, "-P", "-m", "codeswarm", *args], env=self.env,
                             cwd=cwd or self.project, capture_output=True, text=True, timeout=180)  # fmt: skip
        assert out.returncode == 0, f"codeswarm {' '.join(args)}: {out.stderr}"
        return out

    def coord(self) -> Coord:
        """The project's store, as the hooks and the MCP server find it."""
        old = {k: os.environ.get(k) for k in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "HOME")}
        os.environ.update({k: self.env[k] for k in old})
        try:
            return Coord.open(resolve_url(start=self.project), root=str(self.project))
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    async def exec(self, mm: MockModel, agent: str, prompt: str) -> dict[str, Any]:
        """``codex exec --json`` in the project as the scripted model's ``agent``."""
        proc = await asyncio.create_subprocess_exec(
            str(self.codex), "exec", "--json", "--skip-git-repo-check", "-C", str(self.project),
            "-s", "workspace-write", *to_codex_flags(mm.codex_config(agent=agent)), prompt,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self.env,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), EXEC_TIMEOUT)
        events = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
        return {"rc": proc.returncode, "events": events, "stderr": err.decode()}


@pytest.fixture
def person(tmp_path: Path, codex_bin: Path) -> Person:
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True, timeout=30)
    (project / "app.py").write_text("print('v1')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODESWARM_", "XDG_"))}
    env.update(HOME=str(home), CODEX_HOME=str(home / ".codex"),
               XDG_STATE_HOME=str(tmp_path / "state"), XDG_CONFIG_HOME=str(home / ".config"),
               CODESWARM_CODEX_BIN=str(codex_bin))  # fmt: skip
    me = Person(env, project, codex_bin)
    me.cli("install", "codex")
    return me


def outputs(requests: list[dict[str, Any]]) -> list[str]:
    """The tool outputs each request carries, as text (one string per request)."""
    texts = []
    for req in requests:
        found = [
            item.get("output")
            for item in req["body"].get("input", [])
            if str(item.get("type", "")).endswith("_call_output")
        ]
        texts.append(json.dumps(found))
    return texts


def status_of(text: str) -> dict[str, Any]:
    """The ``swarm_status`` result inside a request's last tool output."""
    outs = json.loads(text)
    last = outs[-1]
    last = last if isinstance(last, str) else " ".join(p.get("text", "") for p in last)
    return dict(json.loads(last[last.index("{") : last.rindex("}") + 1]))


async def test_two_sessions_one_project_the_second_is_denied_what_the_first_edits(
    person: Person, tmp_path: Path
) -> None:
    script = {
        "agents": {
            "a": [
                {"patch": patch_update("app.py", "print('v1')", "print('a')")},  # auto-leased
                {"tool": "lease", "arguments": {"path": "app.py", "note": "mine"}},  # same agent
                {"tool": "swarm_status"},
                {"text": "done", "hold": "a"},  # A still holds app.py while B and C run
            ],
            "b": [
                {"tool": "lease", "arguments": {"path": "b.py"}},  # B's MCP server leases b.py
                {"patch": patch_add("b.py", "b")},  # B's hooks let B write it: one agent
                {"patch": patch_update("app.py", "print('a')", "print('b')")},  # A's: denied
                {"tool": "lease", "arguments": {"path": "app.py"}},  # conflict, naming A
                {"text": "done"},
            ],
            "c": [{"tool": "swarm_status"}, {"text": "the picture"}],
        }
    }
    async with MockModel(Script.from_obj(script), log_path=tmp_path / "model.jsonl") as mm:
        a_run = asyncio.create_task(person.exec(mm, "a", "edit app.py"))
        with person.coord() as coord:
            held = await wait_until_async(
                lambda: [le for le in coord.leases() if le.path == "app.py"],
                within=EXEC_TIMEOUT, what="session A to lease app.py",
            )  # fmt: skip
            a_name = held[0].holder.split("#")[0]
            assert a_name.startswith("codex-") and held[0].note == "auto: first edit"
            b, c = await asyncio.gather(
                person.exec(mm, "b", "edit app.py too"),
                person.exec(mm, "c", "$swarm"),
            )
            assert b["rc"] == 0, b["stderr"]
            assert c["rc"] == 0, c["stderr"]
            assert not a_run.done(), "session A ended before B tried: the test proves nothing"
        mm.release("a")
        a = await a_run
        assert a["rc"] == 0, a["stderr"]
        with person.coord() as coord:
            left = coord.leases()
            agents = [x.name for x in coord.agents()]

    a_out, b_out, c_out = (outputs(mm.requests_for(x)) for x in "abc")
    # B was denied A's file, naming it and its holder; the file is A's
    assert "PreToolUse" in b_out[3] and "app.py" in b_out[3] and a_name in b_out[3], b_out[3]
    assert (person.project / "app.py").read_text() == "print('a')\n"
    assert "conflict" in b_out[4] and a_name in b_out[4], b_out[4]
    # each session's MCP server acts as the agent its hooks are: A's MCP lease renewed the
    # lease A's hooks took, B's hooks let B write the file B's MCP server leased
    assert "conflict" not in a_out[2] and "mine" in a_out[2], a_out[2]
    me_a = status_of(a_out[3])["me"]
    assert me_a.split("#")[0] == a_name
    assert (person.project / "b.py").read_text() == "b\n"
    assert "PreToolUse" not in b_out[2], b_out[2]
    b_name = status_of(b_out[1])["holder"].split("#")[0]  # B's MCP lease on b.py
    assert b_name.startswith("codex-") and b_name != a_name
    # no clamp warning or error item for SessionEnd, and the sessions left nothing behind
    for run in (a, b, c):
        assert not [e for e in run["events"] if e["type"] == "error"], run["events"]
    assert left == [] and a_name not in agents and b_name not in agents

    # $swarm: the skill's text reached the model, and the tool it called returned the picture
    first_c = json.dumps(mm.requests_for("c")[0]["body"]["input"])
    assert "<skill>" in first_c and "swarm_status" in first_c
    picture = status_of(c_out[1])
    assert any(le["path"] == "app.py" and a_name in le["holder"] for le in picture["leases"])
    assert {a_name, picture["me"].split("#")[0]} <= {
        x["id"].split("#")[0] for x in picture["agents"]
    }


async def test_a_fleet_agent_and_a_personal_session_see_each_others_leases(
    person: Person, tmp_path: Path
) -> None:
    """`up` run from another directory with `--cwd` the project: its agent and a personal
    session in the project share one store."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    fleet_script = {
        "agents": {
            "0": [
                {"when": "take f.py", "patch": patch_add("f.py", "fleet")},  # auto-leased
                {"when": "take f.py", "text": "took f.py"},
                {"when": "status", "tool": "swarm_status"},
                {"when": "status", "text": "that is the picture"},
            ]
        }
    }
    (tmp_path / "fleet.json").write_text(json.dumps(fleet_script))
    mine = {
        "agents": {
            "p": [
                {"patch": patch_update("f.py", "fleet", "mine")},  # the fleet's: denied
                {"patch": patch_add("p.py", "p")},  # auto-leased
                {"text": "done", "hold": "p"},  # holds p.py while the fleet looks
            ]
        }
    }
    person.cli("up", "-n", "1", "--name", "f", "--cwd", str(person.project),
               "--model-provider", "mock", "--script", str(tmp_path / "fleet.json"),
               "--approval-policy", "never", "--sandbox", "workspace-write", "--json",
               cwd=elsewhere)  # fmt: skip
    try:
        person.cli("send", "f", "0", "take f.py", "--wait")
        with person.coord() as coord:
            assert [(le.path, le.holder) for le in coord.leases()] == [("f.py", "f_0#1")]
        async with MockModel(Script.from_obj(mine), log_path=tmp_path / "model.jsonl") as mm:
            run = asyncio.create_task(person.exec(mm, "p", "edit f.py"))
            with person.coord() as coord:
                held = await wait_until_async(
                    lambda: [le for le in coord.leases() if le.path == "p.py"],
                    within=EXEC_TIMEOUT, what="the personal session to lease p.py",
                )  # fmt: skip
            p_name = held[0].holder.split("#")[0]
            answer = json.loads(person.cli("send", "f", "0", "status", "--wait", "--json").stdout)
            assert not run.done(), "the session ended before the fleet looked"
            mm.release("p")
            p = await run
            assert p["rc"] == 0, p["stderr"]
        denied = outputs(mm.requests_for("p"))[1]
        assert "PreToolUse" in denied and "f.py" in denied and "f_0#1" in denied, denied
        assert (person.project / "f.py").read_text() == "fleet\n"
        assert answer["f_0"]["text"] == "that is the picture"
        run_dir = next((tmp_path / "state").rglob("runs/f"))
        requests = [
            json.loads(x) for x in (run_dir / "model-requests.jsonl").read_text().splitlines()
        ]
        picture = status_of(outputs([requests[-1]])[0])
        assert {(le["path"], le["holder"].split("#")[0]) for le in picture["leases"]} == {
            ("f.py", "f_0"), ("p.py", p_name)
        }  # fmt: skip
    finally:
        person.cli("down", "f", "--grace", "5", cwd=person.project)
    survivors = [pid for d in (tmp_path / "state").rglob("runs/f") for pid in pids_of(str(d))]
    for pid in survivors:
        os.kill(pid, 9)
    assert not survivors, f"processes of swarm f survived down: {survivors}"
