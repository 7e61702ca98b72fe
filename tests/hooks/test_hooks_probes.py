"""The audit rows a finished call earns when its output shows the sandbox refusing something, or
its command names codeswarm's own state (codeswarm.hooks.probes): the pure reading, and the hook
process writing the row with the calling agent as the actor."""

from __future__ import annotations

from pathlib import Path

from hookkit import coord, hook

from codeswarm.hooks.probes import SCAN_CAP, named_state, refused, sightings, state_paths

ENV = {
    "CODESWARM_RUN_DIR": "/var/lib/cs/state/runs/t",
    "CODESWARM_DB": "/var/lib/cs/state/coord.db",
}


def test_refusal_lines_of_the_shell_python_and_sqlite() -> None:
    out = (
        "/bin/bash: line 1: /s/runs/t/mailbox/inbox/t_0.jsonl: Read-only file system\n"
        "denied append [Errno 30] Read-only file system: '/s/runs/t/swarm.json'\n"
        "sqlite3.OperationalError: attempt to write a readonly database\n"
        "socket: Operation not permitted\nok\n"
    )
    lines = refused(out)
    assert len(lines) == 4 and "ok" not in lines
    assert refused("all fine\n") == []
    assert len(refused("x: Read-only file system\n" * 50)) == 1  # the same line once


def test_the_subject_is_the_path_refused() -> None:
    cmd = {"command": "echo x >> /s/runs/t/mailbox/inbox/t_0.jsonl"}
    out = "/bin/bash: line 1: /s/runs/t/mailbox/inbox/t_0.jsonl: Read-only file system"
    kind, subject, data = sightings(cmd, out, {})  # type: ignore[misc]
    assert (kind, subject) == ("sandbox.refused", "/s/runs/t/mailbox/inbox/t_0.jsonl")
    assert data["names"] == ["inbox/t_0.jsonl"] and data["command"] == cmd["command"]
    link = "[Errno 30] Read-only file system: '/tmp/elsewhere' -> '/s/inbox/t_0.jsonl.link'"
    assert sightings({"command": "python3 x.py"}, link, {})[1] == "/s/inbox/t_0.jsonl.link"  # type: ignore[index]
    fd = "for f in /proc/[0-9]*/fd/*; do case $(readlink $f) in *inbox/t_0.jsonl) echo;; esac"
    assert named_state(fd, {}) == ["inbox/t_0.jsonl"]
    py = "denied replace [Errno 30] Read-only file system: '/s/runs/t/swarm.json'"
    assert sightings({"command": "python3 x.py"}, py, {})[1] == "/s/runs/t/swarm.json"  # type: ignore[index]
    sql = "Error: attempt to write a readonly database (8)"
    seen = sightings(
        {"command": "sqlite3 /var/lib/cs/state/coord.db 'delete from leases'"}, sql, ENV
    )
    assert seen is not None and seen[:2] == ("sandbox.refused", "/var/lib/cs/state")


def test_state_named_without_a_refusal_is_a_reach() -> None:
    assert state_paths(ENV) == ["/var/lib/cs/state", "/var/lib/cs/state/coord.db"]
    seen = sightings(
        {"command": "cat /var/lib/cs/state/runs/t/agents/t_0/inbox.cursor"}, "3\n", ENV
    )
    assert seen is not None and seen[:2] == ("state.reached", "/var/lib/cs/state")
    probe = "cat /proc/*/environ | grep -i ^codeswarm_"
    assert named_state(probe, {}) == ["CODESWARM_"]
    assert sightings({"command": "make test"}, "passed\n", ENV) is None
    assert sightings({"command": "ls /var/lib"}, "cs\n", {"CODESWARM_RUN_DIR": "/"}) is None


def test_claude_code_objects_and_huge_outputs() -> None:
    response = {"stdout": "", "stderr": "x: Read-only file system", "interrupted": False}
    seen = sightings({"command": "touch /etc/x"}, response, {})
    assert seen is not None and seen[0] == "sandbox.refused"
    huge = "y" * (SCAN_CAP + 10) + "Read-only file system"
    assert sightings({"command": "yes"}, huge, {}) is None  # past the scanned head


def test_the_hook_audits_a_refusal_as_the_calling_agent(repo: Path) -> None:
    with coord(repo) as c:
        c.register("A")
    call = {"tool_name": "Bash", "tool_use_id": "7",
            "tool_input": {"command": "sqlite3 ../coord.db 'delete from leases'"}}  # fmt: skip
    out, _ = hook(repo, "codex", "pre-tool-use", call, CODESWARM_AGENT_ID="B")
    assert out is None
    response = "Error: stepping, attempt to write a readonly database (8)"
    out, _ = hook(repo, "codex", "post-tool-use", {**call, "tool_response": response},
                  CODESWARM_AGENT_ID="B")  # fmt: skip
    assert out is None  # the model read the refusal already
    with coord(repo) as c:
        (ev,) = c.events(kind="sandbox.refused")
        assert ev.agent == "B#1" and ev.data["tool_use_id"] == "7" and ev.data["tool"] == "Bash"
        assert ev.data["names"] == ["coord.db"] and "readonly database" in ev.data["refused"][0]
    # a call that shows nothing of the kind leaves no row
    plain = {**call, "tool_use_id": "8", "tool_input": {"command": "ls"}, "tool_response": "a\n"}
    hook(repo, "codex", "pre-tool-use", plain, CODESWARM_AGENT_ID="B")
    hook(repo, "codex", "post-tool-use", plain, CODESWARM_AGENT_ID="B")
    with coord(repo) as c:
        assert len(c.events(kind="sandbox.")) == 1 and c.events(kind="state.") == []
