"""The hot path of ``send``, ``status`` and ``interrupt`` (codeswarm.cli.hot) says and does what
the ordinary commands say and do: the same output, errors and exit codes, byte for byte, for the
lines it serves; the lines it does not serve (help, bad input) go on to the ordinary command. Real swarms: supervisor, workers, Codex, scripted model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from swarmkit import Swarm, wait_until

TYPER = "import sys; from codeswarm.cli.app import main; main(sys.argv[1:])"
"""The ordinary command (the Typer app), without the hot path in front of it."""
SEND = "import sys; from codeswarm.cli.swarm.send import main; sys.exit(main(sys.argv[1:]))"


def ordinary(swarm: Swarm, code: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-P", "-c", code, *argv], capture_output=True,
                          text=True, env=swarm.env, cwd=swarm.workdir, timeout=120)  # fmt: skip


def same(a: subprocess.CompletedProcess[str], b: subprocess.CompletedProcess[str]) -> None:
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)


def same_status(swarm: Swarm, *argv: str) -> None:
    """``status`` from both paths, the same; asked again (up to 3 times) when the swarm moved
    in between (a record written between the two reads)."""
    for _ in range(3):
        hot, theirs, again = swarm.cli(*argv), ordinary(swarm, TYPER, *argv), swarm.cli(*argv)
        if hot.stdout == again.stdout:
            break
    same(hot, theirs)


@pytest.mark.codex
@pytest.mark.slow
def test_hot_lines_answer_as_the_ordinary_commands(swarm: Swarm) -> None:
    swarm.up(2, {"agents": {"0": [{"text": "one"}, {"text": "two", "delay": 30}], "1": ["a", "b"]}},
             "--roles", "planner,reviewer", "--budget", "100000")  # fmt: skip
    # what each agent holds in the coordination store (read with the store alone: .held)
    store = ("--db", str(swarm.state / "coord.db"), "--scope", str(swarm.workdir))
    swarm.cli("coord", "--as", "t_0", *store, "lease", "src/a.py", "--note", "a note")
    swarm.cli("coord", "--as", "t_1", *store, "lease", "docs/", "--shared")
    held = {a["id"]: a["leases"] for a in swarm.status()["agents"]}
    tokens = [x.pop("token") for x in held["t_0"] + held["t_1"]]
    assert held == {"t_0": [{"path": "src/a.py", "mode": "exclusive", "note": "a note"}],
                    "t_1": [{"path": "docs/", "mode": "shared", "note": ""}]}  # fmt: skip
    assert all(type(t) is int for t in tokens) and tokens == sorted(set(tokens))
    for argv in (("status", "t", "--json"), ("status", "t"), ("status", "--json", "t"),
                 ("status", "t", "--project", str(swarm.workdir))):  # fmt: skip
        same_status(swarm, *argv)
    # nothing to interrupt: one line, exit 1, nothing sent (and the same from both)
    same(swarm.cli("interrupt", "t", "all", check=False),
         ordinary(swarm, TYPER, "interrupt", "t", "all"))  # fmt: skip
    # send: the records are the writer's (seq continues, ids unique), the output the same shape
    sent = json.loads(swarm.cli("send", "t", "all", "hello", "--json").stdout)
    assert list(sent) == ["t_0", "t_1"]
    theirs = json.loads(ordinary(swarm, SEND, "t", "0", "again", "--json").stdout)
    assert list(theirs) == ["t_0"] and theirs["t_0"] != sent["t_0"]
    inbox = swarm.run_dir / "mailbox" / "inbox" / "t_0.jsonl"
    records = [json.loads(line) for line in inbox.read_text().splitlines()]
    assert [(r["seq"], r["id"], r["kind"], r["text"]) for r in records] == [
        (1, sent["t_0"], "message", "hello"), (2, theirs["t_0"], "message", "again")]  # fmt: skip
    out = swarm.cli("send", "t", "1", "-", "--mode", "steer", input="from stdin\n")
    assert out.stdout == "sent to t_1\n"
    wait_until(lambda: swarm.status()["agents"][0]["state"] == "busy", what="the second turn")
    # a busy agent and an idle one: the busy one interrupted, the idle one named
    wait_until(lambda: swarm.status()["agents"][1]["state"] == "idle", what="t_1 idle")
    out = swarm.cli("interrupt", "t", "all")
    assert out.stdout == "interrupt sent to t_0\nnothing to interrupt: t_1 is idle\n"
    wait_until(lambda: swarm.status()["agents"][0]["state"] == "idle", what="the interrupt")
    same_status(swarm, "status", "t", "--json")


@pytest.mark.codex
@pytest.mark.slow
def test_lines_it_does_not_serve_go_to_the_ordinary_command(swarm: Swarm) -> None:
    swarm.up(1, {"agents": {"*": ["hi"]}})
    for argv in (
        ("status", "--help"), ("interrupt", "-h"), ("status",), ("status", "t", "--jso"),
        ("status", "no_such"), ("status", "nope"), ("interrupt", "t", "7"),
        ("interrupt", "t", ""), ("status", "t", "--project", "/no/such/dir"),
    ):  # fmt: skip
        same(swarm.cli(*argv, check=False), ordinary(swarm, TYPER, *argv))
    for argv in (
        ("send", "--help"), ("send", "t", "0"), ("send", "t", "9", "x"), ("send", "t", "0", " "),
        ("send", "t", "0", "x", "--mode", "loud"), ("send", "t", "0", "x", "--timeout", "0"),
        ("send", "t", "0", "x", "--timeout", "nan"), ("send", "bad name", "0", "x"),
        ("send", "t", "0", "x", "--project", "/no/such/dir"), ("send", "other", "0", "x"),
    ):  # fmt: skip
        same(swarm.cli(*argv, check=False), ordinary(swarm, SEND, *argv[1:]))
    # --wait: sent by the hot path, then followed as before (from the outbox's end before it)
    out = swarm.cli("send", "t", "0", "answer me", "--wait")
    assert out.stdout == "t_0: hi\n"
    out = swarm.cli("send", "t", "0", "again", "--wait", "--json")
    assert json.loads(out.stdout)["t_0"]["status"] == "completed"
