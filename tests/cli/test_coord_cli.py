"""``codeswarm coord …``: every command, exit codes, --json, and a start path free of heavy
imports (on every backend, in-process; a few runs as real processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from codeswarm.cli.coord.command import run
from swarmkit import python_env


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str], db_url: str, root: Path) -> None:
        self.capsys = capsys
        self.base = ["--db", db_url, "--scope", str(root)]

    def __call__(self, *args: str, code: int = 0) -> str:
        rc = run([*self.base, *args])
        out, err = self.capsys.readouterr()
        assert rc == code, (rc, out, err)
        if code:
            assert err.startswith("codeswarm: error: ") and err.count("\n") == 1, err
        return out

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self("--json", *args, code=code))


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], db_url: str, root: Path, monkeypatch: pytest.MonkeyPatch
) -> Cli:
    monkeypatch.chdir(root)
    monkeypatch.delenv("CODESWARM_AGENT_ID", raising=False)
    return Cli(capsys, db_url, root)


def test_agents_and_leases(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("register", "alice", "--role", "coder").strip() == "alice#1"
    bob = cli.json("register", "bob", "--lease-s", "300")
    assert (bob["id"], bob["lease_s"]) == ("bob#1", 300.0)
    monkeypatch.setenv("CODESWARM_AGENT_ID", "alice#1")
    lease = cli.json("lease", "src/app.py", "--note", "refactor", "--ttl", "60")
    assert (lease["path"], lease["holder"], lease["token"]) == ("src/app.py", "alice#1", 1)
    cli("--as", "bob#1", "lease", "src/", code=3)
    cli("--as", "bob#1", "check", "src/app.py", code=3)
    assert cli.json("--as", "bob#1", "check", "docs/x.md") == []
    cli("--as", "bob", "lease", "src/app.py", "--shared", code=3)
    assert "src/app.py" in cli("leases")
    assert [x["path"] for x in cli.json("leases", "--mine")] == ["src/app.py"]
    assert len(cli.json("renew")) == 1
    cli("release", "src/app.py")
    cli("release", "src/app.py", code=2)
    cli("--as", "bob", "lease", "src/")
    assert [a["id"] for a in cli.json("agents")] == ["alice#1", "bob#1"]
    cli("heartbeat")
    cli("deregister")
    cli("heartbeat", code=3)  # fenced: deregistered
    cli("--as", "bob", "release", "--all")
    assert cli.json("leases") == []


def test_tasks(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("register", "w")
    monkeypatch.setenv("CODESWARM_AGENT_ID", "w#1")
    first = cli.json("task", "add", "build", "--file", "src/a.py", "--priority", "2", "--key", "b")
    assert cli.json("task", "add", "build again", "--key", "b")["id"] == first["id"]
    second = cli.json("task", "add", "ship", "--depends-on", str(first["id"]))
    assert second["status"] == "blocked"
    claimed = cli.json("task", "claim-next")
    assert (claimed["id"], claimed["assignee"]) == (first["id"], "w#1")
    assert cli("task", "claim-next").strip() == "no open task"
    cli("task", "claim", str(first["id"]), code=3)
    cli("task", "start", str(first["id"]))
    cli("task", "progress", str(first["id"]), "compiling")
    done = cli.json("task", "done", str(first["id"]), "--result", "ok", "--changed", "src/a.py",
                    "--tests", "pytest -q")  # fmt: skip
    assert (done["status"], done["tests_run"]) == ("done", ["pytest -q"])
    shown = cli.json("task", "show", str(first["id"]))
    assert [n["text"] for n in shown["notes"]] == ["compiling"]
    assert "note" in cli("task", "show", str(first["id"]))
    assert cli.json("tasks", "--status", "open")[0]["id"] == second["id"]
    cli("task", "claim", str(second["id"]))
    cli("task", "fail", str(second["id"]), "--reason", "flaky")
    third = cli.json("task", "add", "later")
    cli("task", "cancel", str(third["id"]))
    fourth = cli.json("task", "add", "loop")
    cli("task", "depend", str(fourth["id"]), str(fourth["id"]), code=2)
    cli("task", "show", "999", code=2)
    cli("task", "claim", str(fourth["id"]))
    cli("task", "unclaim", str(fourth["id"]))
    assert cli.json("task", "show", str(fourth["id"]))["status"] == "open"


def test_kv_messages_events(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("register", "a")
    cli("register", "b")
    assert cli.json("kv", "set", "cfg/x", "1")["version"] == 1
    assert cli("kv", "get", "cfg/x") == "1\n"
    cli("kv", "cas", "cfg/x", "1", "2")
    cli("kv", "cas", "cfg/x", "1", "3", code=3)
    cli("kv", "set", "cfg/x", "4", "--expect-version", "9", code=3)
    assert [e["key"] for e in cli.json("kv", "ls", "cfg/")] == ["cfg/x"]
    cli("kv", "del", "cfg/x")
    cli("kv", "get", "cfg/x", code=2)
    sent = cli.json("--as", "a", "send", "b", "hello")
    assert cli("--as", "a", "send", "*", "all hands").startswith("sent #")
    inbox = cli.json("--as", "b", "inbox")
    assert [m["text"] for m in inbox] == ["hello", "all hands"]
    assert cli.json("--as", "b", "ack", str(sent["id"])) == {"acked": 1}
    assert [m["text"] for m in cli.json("--as", "b", "inbox", "--wait", "0.01")] == ["all hands"]
    kinds = [e["kind"] for e in cli.json("events", "--kind", "message.")]
    assert kinds == ["message.sent", "message.sent", "message.acked"]
    assert cli.json("events", "--since", "999999", "--wait", "0.05") == []
    assert "kv.set" in cli("events")


def test_usage_errors(cli: Cli) -> None:
    assert "exit codes" in cli("--help")
    assert "usage: codeswarm coord lease PATH" in cli("lease", "--help")
    cli("bogus", code=2)
    cli("task", "bogus", code=2)
    cli("lease", "x", code=2)  # no agent
    cli("register", "a")
    cli("--as", "a", "lease", "x", "--ttl", "soon", code=2)
    cli("--as", "a", "lease", "x", "--frobnicate", code=2)
    cli("--as", "a", "lease", code=2)
    cli("--as", "a", "lease", "../outside", code=2)
    cli("--as", "a", "lease", "a", "b", code=2)
    cli("--as", "a#7", "lease", "x", code=2)


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codeswarm", "coord", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_real_process_exit_codes_and_one_line_errors(tmp_path: Path, root: Path) -> None:
    env = python_env(CODESWARM_DB=str(tmp_path / "c.db"), CODESWARM_SCOPE=str(root))
    assert _run(["register", "a"], env, root).stdout == "a#1\n"
    assert _run(["register", "b"], env, root).returncode == 0
    assert _run(["--as", "a", "lease", "x"], env, root).returncode == 0
    held = _run(["--as", "b", "lease", "x"], env, root)
    assert held.returncode == 3 and held.stdout == ""
    assert held.stderr.startswith("codeswarm: error: x is held (exclusive) by a#1")
    assert held.stderr.count("\n") == 1 and "Traceback" not in held.stderr
    bad = _run(["--as", "b", "lease", "/"], env, root)
    assert bad.returncode == 2 and "outside the scope root" in bad.stderr
    broken = _run(["agents"], {**env, "CODESWARM_DB": "postgresql://u@127.0.0.1:1/x"}, root)
    assert broken.returncode == 1 and broken.stderr.count("\n") == 1
    debug = _run(["--as", "b", "lease", "x"], {**env, "CODESWARM_DEBUG": "1"}, root)
    assert "Traceback" in debug.stderr


def test_the_start_path_stays_light(tmp_path: Path, root: Path) -> None:
    code = (
        "import sys\n"
        "from codeswarm.cli.coord.command import run\n"
        "rc = run(['register', 'a'])\n"
        "heavy = sorted(m for m in ('typer', 'click', 'rich', 'msgspec', 'psycopg', 'mcp',"
        " 'pydantic', 'argparse', 'json', 'asyncio', 'dataclasses', 'tomllib') if m in sys.modules)\n"
        "print(rc, heavy)\n"
    )
    env = python_env(CODESWARM_DB=str(tmp_path / "c.db"), CODESWARM_SCOPE=str(root))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "0 []"
