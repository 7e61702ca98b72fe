"""Leases enforced in a real swarm: real Codex running our hooks, the scripted model, the real
coordination store (SQLite) shared by every agent and the `codeswarm coord` CLI."""

from __future__ import annotations

import json
from typing import Any

import pytest

from swarmkit import Swarm, wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow]


def patch_update(path: str, move_to: str | None = None) -> str:
    move = f"*** Move to: {move_to}\n" if move_to else ""
    return f"*** Begin Patch\n*** Update File: {path}\n{move}@@\n-a\n+b\n*** End Patch\n"


def patch_add(path: str) -> str:
    return f"*** Begin Patch\n*** Add File: {path}\n+new\n*** End Patch\n"


def requests_of(swarm: Swarm, agent: str) -> list[dict[str, Any]]:
    return [r for r in swarm.model_requests() if r["agent"] == agent]


def last_input(request: dict[str, Any]) -> str:
    return json.dumps(request["body"]["input"][-1])


def coord(swarm: Swarm, *args: str) -> Any:
    proc = swarm.cli("coord", *args, "--json")
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def make_repo(swarm: Swarm) -> None:
    (swarm.workdir / "src").mkdir()
    for name in ("x.py", "y.py", "z.py"):
        (swarm.workdir / "src" / name).write_text("a\n")


def test_patch_on_a_peer_lease_is_denied_with_the_reason_and_works_once_released(
    swarm: Swarm,
) -> None:
    make_repo(swarm)
    script = {
        "agents": {
            "0": ["idle"],
            "1": [
                {"when": "edit x", "patch": patch_update("src/x.py")},
                {"patch": patch_update("src/y.py")},
                {"text": "x was held, so I edited y"},
                {"when": "retry x", "patch": patch_update("src/x.py")},
                {"text": "x done"},
                {"when": "rename", "patch": patch_update("src/y.py", move_to="src/z.py")},
                {"text": "rename refused"},
            ],
        }
    }
    swarm.up(2, script, "--approval-policy", "never", "--sandbox", "workspace-write")
    coord(swarm, "--as", "t_0", "lease", "src/x.py", "--note", "refactoring x")
    coord(swarm, "--as", "t_0", "lease", "src/z.py", "--note", "keep z")

    out = json.loads(swarm.cli("send", "t", "1", "edit x", "--wait", "--json").stdout)
    assert out["t_1"]["text"] == "x was held, so I edited y"
    reqs = requests_of(swarm, "t_1")
    denial = last_input(reqs[1])  # the model's next request carries the hook's reason
    assert "src/x.py" in denial and "t_0#1" in denial and "refactoring x" in denial
    assert (swarm.workdir / "src" / "x.py").read_text() == "a\n"  # untouched
    assert (swarm.workdir / "src" / "y.py").read_text() == "b\n"  # the free file was edited

    coord(swarm, "--as", "t_0", "release", "src/x.py")
    out = json.loads(swarm.cli("send", "t", "1", "retry x", "--wait", "--json").stdout)
    assert out["t_1"]["text"] == "x done"
    assert (swarm.workdir / "src" / "x.py").read_text() == "b\n"

    # a rename whose destination a peer holds is refused too
    out = json.loads(swarm.cli("send", "t", "1", "rename y to z", "--wait", "--json").stdout)
    assert out["t_1"]["text"] == "rename refused"
    assert "src/z.py" in last_input(requests_of(swarm, "t_1")[-1])
    assert (swarm.workdir / "src" / "y.py").exists() and (
        swarm.workdir / "src" / "z.py"
    ).read_text() == "a\n"


def test_shell_writes_caught_before_or_undone_after(swarm: Swarm) -> None:
    make_repo(swarm)
    sneaky = "python3 -c \"open('src/x.py', 'w').write('sneaky')\""
    script = {
        "agents": {
            "0": ["idle"],
            "1": [
                {"when": "shell", "exec": "echo hi > src/x.py"},
                {"exec": sneaky},
                {"text": "done"},
            ],
        }
    }
    swarm.up(2, script, "--approval-policy", "never", "--sandbox", "workspace-write")
    coord(swarm, "--as", "t_0", "lease", "src/x.py", "--note", "mine")
    swarm.cli("send", "t", "1", "shell writes please", "--wait")
    reqs = requests_of(swarm, "t_1")
    # the redirect was seen before it ran: denied, file untouched by it
    assert "src/x.py" in last_input(reqs[1]) and "t_0#1" in last_input(reqs[1])
    # the python write could not be seen before: it ran, was undone, and the model was told
    assert (swarm.workdir / "src" / "x.py").read_text() == "a\n"
    assert "changed files a peer holds" in last_input(reqs[2])
    assert "undone" in last_input(reqs[2])
    for kind in ("lease.denied", "lease.violated", "lease.restored"):
        events = coord(swarm, "events", "--kind", kind)
        assert [e["subject"] for e in events] == ["src/x.py"], kind
        assert events[0]["agent"].startswith("t_1#"), kind


def test_auto_lease_and_a_message_wakes_an_idle_agent(swarm: Swarm) -> None:
    make_repo(swarm)
    script = {
        "agents": {
            "0": [{"when": "new file", "patch": patch_add("src/new.py")}, {"text": "created"}],
            "1": [
                {"when": "touch new", "patch": patch_update("src/new.py")},
                {"text": "refused"},
                {"when": "please look at y", "text": "looking at y now"},
            ],
        }
    }
    swarm.up(2, script, "--approval-policy", "never", "--sandbox", "workspace-write")
    swarm.cli("send", "t", "0", "make a new file", "--wait")
    leases = coord(swarm, "leases")
    assert [(le["path"], le["holder"]) for le in leases] == [("src/new.py", "t_0#1")]
    # and `status` shows who holds what
    agents = swarm.status()["agents"]
    assert [le["path"] for le in agents[0]["leases"]] == ["src/new.py"] and agents[1][
        "leases"
    ] == []
    out = json.loads(swarm.cli("send", "t", "1", "touch new", "--wait", "--json").stdout)
    assert out["t_1"]["text"] == "refused"
    assert "t_0#1" in last_input(requests_of(swarm, "t_1")[1])

    # a coordination message to an idle agent starts a turn by itself
    sent = coord(swarm, "--as", "t_0", "send", "t_1", "please look at y")
    msg_id = sent["id"]

    def accepted() -> dict[str, Any] | None:
        return next(
            (
                r
                for r in swarm.outbox(1)
                if r["kind"] == "turn.accepted" and r["inbox_id"] == f"coord-{msg_id}"
            ),
            None,
        )

    acceptance = wait_until(accepted, what="the message to start a turn")
    wait_until(
        lambda: swarm.status()["agents"][1]["last_message"] == "looking at y now", what="the answer"
    )
    assert "please look at y" in json.dumps(requests_of(swarm, "t_1")[-1]["body"]["input"])
    # acknowledged (the ack follows the turn's acceptance; the answer may be quicker), and only
    # after the turn was accepted
    wait_until(lambda: coord(swarm, "--as", "t_1", "inbox") == [], what="the message's ack")
    (acked,) = [
        e for e in coord(swarm, "events", "--kind", "message.acked") if msg_id in e["data"]["ids"]
    ]
    assert acked["ts"] * 1000 >= acceptance["ts"] - 1
