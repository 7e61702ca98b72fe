"""A personal session's identity: its hooks and its MCP server name it after the Codex (or
Claude Code) process that started them, so they act as one agent, and two sessions started at
the same moment never share a name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from codeswarm.coordination import Coord
from codeswarm.hooks.context import client_process, session_identity
from codeswarm.mcp.identity import Identity

PATCH_Y = "*** Begin Patch\n*** Update File: src/y.py\n@@\n-a\n+b\n*** End Patch\n"

# a child of the fake client: the hook's session start, then the MCP server's identity, each in
# a process of its own (as Codex starts them), printing what each acts as
CHILDREN = r"""
import json, os, subprocess, sys
python, db, repo = sys.argv[1:4]
env = {k: v for k, v in os.environ.items() if not k.startswith("CODESWARM_")}
env.update(CODESWARM_DB=db, CODESWARM_SCOPE=repo)
payload = json.dumps({"session_id": "01a22c9a-0c59-75d0-8ed7-155c47071441", "cwd": repo})
hook = subprocess.run([python, "-m", "codeswarm.hooks", "codex", "session-start"], input=payload,
                      capture_output=True, text=True, env=env, check=True)
mcp = subprocess.run([python, "-c", (
    "import os; from codeswarm.coordination import Coord; from codeswarm.mcp.identity import "
    "Identity\nwith Coord.open(os.environ['CODESWARM_DB'], root=os.environ['CODESWARM_SCOPE']) "
    "as c: print(Identity(c, os.environ).id)")], capture_output=True, text=True, env=env,
    check=True)
print(json.dumps({"pid": os.getpid(), "hook": json.loads(hook.stdout),
                  "mcp": mcp.stdout.strip()}))
"""


def fake_client(tmp_path: Path, name: str) -> Path:
    """An executable called ``name`` (its process is named so): a link to this Python."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / name
    if not exe.exists():
        exe.symlink_to(os.path.realpath(sys.executable))
    return exe


def sessions(tmp_path: Path, n: int) -> list[dict[str, object]]:
    """``n`` fake Codex sessions started at once, each running a hook and an MCP identity."""
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    db = str(tmp_path / "coord.db")
    codex = fake_client(tmp_path, "codex")
    procs = [
        subprocess.Popen(
            [str(codex), "-I", "-c", CHILDREN, sys.executable, db, str(repo)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    return [json.loads(o) for o in outs]


def test_hooks_and_mcp_server_of_one_session_are_one_agent_and_sessions_differ(
    tmp_path: Path,
) -> None:
    runs = sessions(tmp_path, 3)
    names = []
    for run in runs:
        context = run["hook"]["hookSpecificOutput"]["additionalContext"]  # type: ignore[index]
        name = context.split("You are agent ", 1)[1].split(" ", 1)[0]
        assert name.startswith(f"codex-{run['pid']}-"), name
        assert run["mcp"] == f"{name}#1"  # the MCP server adopted the hooks' registration
        names.append(name)
    assert len(set(names)) == 3  # started together, named apart
    with Coord.open(str(tmp_path / "coord.db"), root=str(tmp_path / "repo")) as coord:
        agents = {a.name: a for a in coord.agents()}
    assert set(names) <= set(agents)
    for run, name in zip(runs, names, strict=True):
        assert agents[name].pid == run["pid"]  # the session's process, not the hook's parent


def test_the_nearest_client_ancestor_names_it_and_a_set_name_wins(tmp_path: Path) -> None:
    claude = fake_client(tmp_path, "claude")
    code = (
        "import json, os, sys; from codeswarm.hooks.context import client_process, "
        "session_identity\n"
        "print(json.dumps([client_process(), os.getppid(), "
        "session_identity(None, {}).name, session_identity('codex', {'CODESWARM_AGENT_NAME': "
        "'me'}).name]))"
    )
    inner = f"import subprocess, sys; subprocess.run([{sys.executable!r}, '-c', {code!r}])"
    out = subprocess.run(
        [str(claude), "-I", "-c", inner], capture_output=True, text=True, check=True, timeout=60
    )
    found, parent, name, named = json.loads(out.stdout)
    assert found[0] == "claude" and found[1] == parent
    assert name.startswith(f"claude-{parent}-")
    assert named == "me"


def test_without_a_client_process_the_session_id_names_it() -> None:
    if client_process() is not None:
        return  # run inside Codex or Claude Code: covered by the tests above
    a = session_identity("codex", {}, "01a22c9a-0c59-75d0-8ed7-155c47071441")
    b = session_identity("codex", {}, "01a22c9a-0c59-75d0-8ed7-155c47071442")
    assert a.name != b.name and a.name.startswith("codex-")  # the whole id, not its prefix
    c = session_identity(None, {"CLAUDE_CODE_SESSION_ID": "s1"})
    assert c.name == session_identity("claude", {"CLAUDE_CODE_SESSION_ID": "s1"}, "s1").name


def test_the_mcp_identity_follows_a_new_registration_of_its_session(tmp_path: Path) -> None:
    """A session started anew (its hooks register again) fences the old generation: the MCP
    server then adopts the new one instead of registering a third (which would drop the
    hooks' leases)."""
    with Coord.open(str(tmp_path / "coord.db"), root=str(tmp_path)) as coord:
        first = coord.register("codex-1-abc")
        me = Identity(coord, {"CODESWARM_AGENT_NAME": "codex-1-abc"})
        assert me.id == first.id
        second = coord.register("codex-1-abc")  # SessionStart again
        coord.lease(second.id, "x.py")
        assert me.renew() == second.id
        assert [le.path for le in coord.leases()] == ["x.py"]


def test_session_end_is_done_well_within_codexs_three_seconds(repo: Path) -> None:
    """Codex kills a SessionEnd hook after 3 s: deregistering must take a fraction of that
    (a whole process, interpreter start included)."""
    from hookkit import coord, hook

    hook(repo, "codex", "session-start", {"source": "startup"})
    hook(repo, "codex", "pre-tool-use", {"tool_name": "apply_patch", "tool_use_id": "1",
         "tool_input": {"command": PATCH_Y}})  # fmt: skip
    with coord(repo) as c:
        assert [le.path for le in c.leases()] == ["src/y.py"]  # auto-leased: on by default
    started = time.monotonic()
    hook(repo, "codex", "session-end", {"reason": "exit"})
    elapsed = time.monotonic() - started
    with coord(repo) as c:
        assert c.leases() == [] and c.agents() == []
    assert elapsed < 1.5, f"session-end took {elapsed:.2f} s"
