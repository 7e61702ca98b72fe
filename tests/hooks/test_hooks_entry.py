"""The hook entry point as Codex and Claude Code run it: a process per event, JSON in and out,
against a real coordination store (SQLite here; the store's own suite covers PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hookkit import PATCH_X, coord, denied, hook

from codeswarm.coordination import DEFAULT_LEASE_S


def test_patch_on_a_peer_lease_is_denied_naming_the_holder(repo: Path) -> None:
    with coord(repo) as c:
        a = c.register("A")
        c.lease(a, "src/x.py", note="refactoring x")
    out, _ = hook(repo, "codex", "pre-tool-use",
                  {"tool_name": "apply_patch", "tool_use_id": "1", "tool_input": {"command": PATCH_X}},
                  CODESWARM_AGENT_ID="B")  # fmt: skip
    reason = denied(out)
    assert reason and "src/x.py" in reason and "A#1" in reason and "refactoring x" in reason
    # a free file goes ahead (no auto leases outside fleets unless asked)
    patch_y = PATCH_X.replace("src/x.py", "src/y.py")
    out, _ = hook(repo, "codex", "pre-tool-use",
                  {"tool_name": "apply_patch", "tool_use_id": "2", "tool_input": {"command": patch_y}},
                  CODESWARM_AGENT_ID="B", CODESWARM_LEASES_AUTO="0")  # fmt: skip
    assert out is None
    with coord(repo) as c:
        c.release("A", "src/x.py")
    out, _ = hook(repo, "codex", "pre-tool-use",
                  {"tool_name": "apply_patch", "tool_use_id": "3", "tool_input": {"command": PATCH_X}},
                  CODESWARM_AGENT_ID="B", CODESWARM_LEASES_AUTO="0")  # fmt: skip
    assert out is None


def test_rename_destination_counts(repo: Path) -> None:
    with coord(repo) as c:
        c.lease(c.register("A"), "src/z.py")
    move = "*** Begin Patch\n*** Update File: src/y.py\n*** Move to: src/z.py\n@@\n-a\n+b\n*** End Patch\n"
    out, _ = hook(repo, "codex", "pre-tool-use",
                  {"tool_name": "apply_patch", "tool_use_id": "1", "tool_input": {"command": move}},
                  CODESWARM_AGENT_ID="B")  # fmt: skip
    assert "src/z.py" in (denied(out) or "")


def test_auto_lease_on_first_edit(repo: Path) -> None:
    out, _ = hook(repo, "codex", "pre-tool-use",
                  {"tool_name": "apply_patch", "tool_use_id": "1", "tool_input": {"command": PATCH_X}},
                  CODESWARM_AGENT_ID="A", CODESWARM_LEASES_AUTO="1")  # fmt: skip
    assert out is None
    with coord(repo) as c:
        (lease,) = c.leases()
        assert lease.holder == "A#1" and lease.path == "src/x.py"
    out, _ = hook(repo, "codex", "pre-tool-use",
                  {"tool_name": "apply_patch", "tool_use_id": "2", "tool_input": {"command": PATCH_X}},
                  CODESWARM_AGENT_ID="B", CODESWARM_LEASES_AUTO="1")  # fmt: skip
    assert "A#1" in (denied(out) or "")


def test_shell_write_caught_before_and_after(repo: Path) -> None:
    with coord(repo) as c:
        c.lease(c.register("A"), "src/x.py", note="mine")
    out, _ = hook(repo, "codex", "pre-tool-use",
                  {"tool_name": "Bash", "tool_use_id": "1", "tool_input": {"command": "echo hi > src/x.py"}},
                  CODESWARM_AGENT_ID="B")  # fmt: skip
    assert "src/x.py" in (denied(out) or "")
    # not detectable before (python writes it): PostToolUse notices, puts the holder's content
    # back, tells the model, audits
    sneaky = {"tool_name": "Bash", "tool_use_id": "2", "tool_input": {"command": "python3 fix.py"}}
    out, _ = hook(repo, "codex", "pre-tool-use", sneaky, CODESWARM_AGENT_ID="B")
    assert out is None
    (repo / "src" / "x.py").write_text("changed behind the hooks' back\n")
    out, _ = hook(
        repo, "codex", "post-tool-use", {**sneaky, "tool_response": "ok"}, CODESWARM_AGENT_ID="B"
    )
    assert out is not None and out["decision"] == "block" and "src/x.py" in out["reason"]
    assert "undone" in out["reason"]
    assert (repo / "src" / "x.py").read_text() == "a\n"
    with coord(repo) as c:
        (ev,) = c.events(kind="lease.violated")
        assert ev.subject == "src/x.py" and ev.agent == "B#1" and ev.data["holder"] == "A#1"
        assert ev.data["restored"] is True
        (ev,) = c.events(kind="lease.restored")
        assert ev.subject == "src/x.py" and ev.agent == "B#1"


def test_claude_write_tools(repo: Path) -> None:
    with coord(repo) as c:
        c.lease(c.register("A"), "src/")
    for tool, key in (("Write", "file_path"), ("Edit", "file_path"), ("MultiEdit", "file_path"),
                      ("NotebookEdit", "notebook_path")):  # fmt: skip
        out, _ = hook(repo, "claude", "pre-tool-use",
                      {"tool_name": tool, "tool_use_id": "1", "tool_input": {key: str(repo / "src" / "x.py")}})  # fmt: skip
        assert "src/" in (denied(out) or ""), tool
    out, _ = hook(repo, "claude", "pre-tool-use",
                  {"tool_name": "Read", "tool_use_id": "1", "tool_input": {"file_path": "src/x.py"}})  # fmt: skip
    assert out is None


def test_session_lifecycle_of_a_personal_session(repo: Path) -> None:
    from codeswarm.hooks.context import session_identity

    # the hook runs as a child of this process: it names itself as this process does
    name = session_identity("claude", {}, "b0000001-1111-2222-3333-444455556666", os.getpid()).name
    with coord(repo) as c:
        a = c.register("A", role="planner")
        c.lease(a, "src/x.py", note="plan")
        c.register(name)  # an earlier session of the same name
        c.send(name, "please review x", sender=a)
    out, _ = hook(repo, "claude", "session-start", {"source": "startup"}, CODESWARM_ROLE="reviewer")
    assert out is not None
    context = out["hookSpecificOutput"]["additionalContext"]
    assert name in context and "A (planner)" in context
    assert "src/x.py" in context and "please review x" in context
    with coord(repo) as c:
        me = next(x for x in c.agents() if x.name == name)
        assert me.role == "reviewer"
    assert (
        hook(repo, "claude", "stop", {"stop_hook_active": False})[0] is None
    )  # per turn: no deregistration
    with coord(repo) as c:
        assert any(x.name == name for x in c.agents())
    hook(repo, "claude", "session-end", {"reason": "exit"})
    with coord(repo) as c:
        assert not any(x.name == name for x in c.agents())


def test_a_fleet_session_registers_with_the_default_lease_and_sees_its_own_work(
    repo: Path,
) -> None:
    out, _ = hook(repo, "codex", "session-start", {"source": "startup"}, CODESWARM_AGENT_ID="F")
    with coord(repo) as c:
        me = c.agent("F")  # the worker's registration was gone: the hook made one
        assert me.lease_s == DEFAULT_LEASE_S
        c.lease(me, "src/x.py", note="mine")
        c.lease(c.register("P"), "src/y.py", note="theirs")
        task = c.add_task("fix y")
        c.claim(me, task.id)
    out, _ = hook(repo, "codex", "session-start", {"source": "resume"}, CODESWARM_AGENT_ID="F")
    assert out is not None
    context = out["hookSpecificOutput"]["additionalContext"]
    held = context.split("Files held by peers")[1]
    assert "src/y.py" in held and "src/x.py" not in held  # its own lease is not a peer's
    assert f"#{task.id} fix y [claimed]" in context


def test_unreachable_coordinator_fails_open_or_closed(repo: Path) -> None:
    payload = {"tool_name": "apply_patch", "tool_use_id": "1", "tool_input": {"command": PATCH_X}}
    dead = "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2"
    out, _ = hook(repo, "codex", "pre-tool-use", payload, CODESWARM_DB=dead)
    assert out is not None and "unreachable" in out["systemMessage"] and not denied(out)
    out, _ = hook(
        repo, "codex", "pre-tool-use", payload, CODESWARM_DB=dead, CODESWARM_HOOKS_FAIL="closed"
    )
    assert "unreachable" in (denied(out) or "")


def test_garbage_in_never_blocks(repo: Path) -> None:
    env = {
        **os.environ,
        "CODESWARM_DB": str(repo.parent / "coord.db"),
        "CODESWARM_SCOPE": str(repo),
    }
    garbage_patch = json.dumps(
        {
            "tool_name": "apply_patch",
            "cwd": str(repo),
            "tool_input": {"command": "*** Begin Pat\x00ch\n+++"},
        }
    )
    missing = json.dumps({"tool_name": "apply_patch"})  # no cwd, no session, no input
    for stdin in (
        "not json",
        "[1,2]",
        "",
        '{"tool_name": 5, "tool_input": "x"}',
        garbage_patch,
        missing,
    ):
        proc = subprocess.run([sys.executable, "-m", "codeswarm.hooks", "codex", "pre-tool-use"],
                              input=stdin, capture_output=True, text=True, env=env, timeout=30)  # fmt: skip
        assert proc.returncode == 0 and proc.stdout == ""
    proc = subprocess.run([sys.executable, "-m", "codeswarm.hooks", "codex", "bogus"],
                          input="{}", capture_output=True, text=True, env=env, timeout=30)  # fmt: skip
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_a_path_the_store_cannot_check_is_denied_not_let_through(repo: Path) -> None:
    """Fail closed: a path the store refuses (longer than it accepts) cannot be checked
    against a peer's directory lease, so the write is denied."""
    with coord(repo) as c:
        a = c.register("A")
        c.lease(a, "src/", note="all of src")
    long = "src/" + "/".join(["d" * 200] * 90) + "/x.py"  # 18 KB, components within NAME_MAX
    patch = PATCH_X.replace("src/x.py", long)
    out, _ = hook(repo, "codex", "pre-tool-use",
                  {"tool_name": "apply_patch", "tool_use_id": "1", "tool_input": {"command": patch}},
                  CODESWARM_AGENT_ID="B", CODESWARM_LEASES_AUTO="0")  # fmt: skip
    reason = denied(out)
    assert reason and "leases cannot be checked" in reason
