"""The command line: ``codeswarm exec`` end to end, and one clear line for every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from swarmkit import ROOT

SCRIPT = {
    "agents": {
        "*": [
            {"exec": "echo hi > out.txt"},
            {"patch": "*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch\n"},
            {
                "text": "Done: out.txt and a.txt.",
                "usage": {"input_tokens": 120, "output_tokens": 30},
            },
            {"text": "second answer"},
        ]
    }
}


def run(
    *args: str, env: dict[str, str] | None = None, input: str | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codeswarm", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=input if input is not None else "",
    )


def exec_mock(
    prompt: str, script: Path, ws: Path, *args: str, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """``codeswarm exec <prompt>`` in ``ws`` against the scripted model."""
    return run(
        "exec", prompt, "--model-provider", "mock", "--script", str(script), "--cwd", str(ws),
        *args, **kw,
    )  # fmt: skip


def one_clear_line(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("codeswarm: error: ")
    assert needle in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


@pytest.fixture
def script_file(tmp_path: Path) -> Path:
    p = tmp_path / "script.json"
    p.write_text(json.dumps(SCRIPT))
    return p


@pytest.mark.codex
def test_exec_json_end_to_end(
    tmp_path: Path, workspace: Path, script_file: Path, codex_binary: Any
) -> None:
    proc = exec_mock(
        "make the files", script_file, workspace, "--json", "--sandbox", "workspace-write",
        "--approval-policy", "never", "--model-log", str(tmp_path / "model.jsonl"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[0] == "agent.ready" and types[-1] == "turn.completed"
    for t in ("turn.started", "command.started", "command.completed", "file.changed",
              "message.delta", "message.completed", "usage.updated"):  # fmt: skip
        assert t in types
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["agent"] == "exec_0" and isinstance(e["ts"], int) for e in events)
    text = "".join(e["delta"] for e in events if e["type"] == "message.delta")
    assert text == "Done: out.txt and a.txt."
    assert (workspace / "out.txt").read_text() == "hi\n" and (
        workspace / "a.txt"
    ).read_text() == "hello\n"
    log = [json.loads(line) for line in (tmp_path / "model.jsonl").read_text().splitlines()]
    assert len(log) == 3


@pytest.mark.codex
def test_exec_terminal_output_and_interactive(
    workspace: Path, script_file: Path, codex_binary: Any
) -> None:
    proc = exec_mock(
        "make the files", script_file, workspace, "--interactive", "--approve", "all",
        input="one more thing\n",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "$ " in out and "echo hi > out.txt" in out
    assert "add " in out and "a.txt" in out
    assert "Done: out.txt and a.txt." in out
    assert "tokens: input " in out and " · total " in out
    assert "second answer" in out  # the interactive second turn on the same thread


@pytest.mark.codex
def test_exec_failed_turn_exits_1(tmp_path: Path, codex_binary) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "s.yaml"
    p.write_text("agents:\n  '*':\n    - fail: the model is down\n")
    proc = run("exec", "hi", "--model-provider", "mock", "--script", str(p), "--cwd", str(tmp_path))
    assert proc.returncode == 1
    assert "the model is down" in proc.stdout


def test_bad_flag(tmp_path: Path) -> None:
    one_clear_line(run("exec", "hi", "--bogus"), "--bogus")
    one_clear_line(run("exec", "hi", "--sandbox", "wide-open"), "wide-open")
    one_clear_line(run("no-such-command"), "no-such-command")


def test_missing_script(tmp_path: Path) -> None:
    proc = run("exec", "hi", "--model-provider", "mock", "--script", str(tmp_path / "nope.json"))
    one_clear_line(proc, "nope.json")
    assert proc.returncode == 2


def test_invalid_script(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text('{"agents": {"*": [{"txt": "typo"}]}}')
    proc = run("exec", "hi", "--model-provider", "mock", "--script", str(p))
    one_clear_line(proc, "txt")
    assert proc.returncode == 2
    p.write_text("{not json")
    one_clear_line(run("exec", "hi", "--model-provider", "mock", "--script", str(p)), "bad.json")


def test_inconsistent_options(tmp_path: Path) -> None:
    one_clear_line(run("exec", "hi", "--model-provider", "mock"), "--script")
    one_clear_line(run("exec", "  "), "empty")
    one_clear_line(run("exec", "hi", "--cwd", str(tmp_path / "nowhere")), "not a directory")
    one_clear_line(run("exec", "hi", "-c", "novalue"), "KEY=VALUE")


def test_missing_binary(tmp_path: Path, script_file: Path) -> None:
    proc = run(
        "exec", "hi", "--model-provider", "mock", "--script", str(script_file),
        env={"CODESWARM_CODEX_BIN": str(tmp_path / "no-codex")},
    )  # fmt: skip
    one_clear_line(proc, "does not exist")
    assert proc.returncode == 1


def test_bad_config_file(tmp_path: Path) -> None:
    (tmp_path / "codeswarm.toml").write_text("[codex]\nsandbox = 'sideways'\n")
    proc = run("toolchain", "path", cwd=tmp_path, env={"CODESWARM_STATE_DIR": str(tmp_path / "s")})
    one_clear_line(proc, "codeswarm.toml")
    (tmp_path / "codeswarm.toml").write_text("[codex\n")
    one_clear_line(run("toolchain", "path", cwd=tmp_path), "codeswarm.toml")


def test_toolchain_doctor_json(codex_binary) -> None:  # type: ignore[no-untyped-def]
    proc = run("toolchain", "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    assert checks["codex version"]["ok"] and proc.returncode == 0
    assert "login (real model)" in checks
    claude = checks["claude (optional)"]
    assert claude["required"] is False and ("claude" in claude["detail"]), claude


def test_mock_model_serve_bad_script(tmp_path: Path) -> None:
    one_clear_line(run("mock-model", "serve", "--script", str(tmp_path / "x.yaml")), "x.yaml")


def test_help_works() -> None:
    proc = run("--help")
    assert proc.returncode == 0 and "exec" in proc.stdout
    proc = run("toolchain")
    assert proc.returncode == 0 and "doctor" in proc.stdout


def test_fast_commands_bad_input() -> None:
    for argv, needle in [
        (("send",), "(see 'codeswarm send --help')"),
        (("send", "s", "0", "hi", "--mode", "loud"), "--mode"),
        (("mcp", "extra"), "mcp takes no arguments"),
        (("coord", "no-such"), "see 'codeswarm coord --help'"),
    ]:
        proc = run(*argv)
        one_clear_line(proc, needle)
        assert proc.returncode == 2


def test_send_start_path_stays_light() -> None:
    code = (
        "import sys\n"
        "from codeswarm.cli.swarm.send import main\n"
        "rc = main(['s'])\n"
        "heavy = sorted(m for m in ('typer', 'click', 'rich', 'asyncio', 'pydantic', 'msgspec',"
        " 'orjson', 'codeswarm.control') if m in sys.modules)\n"
        "print(rc, heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True)  # fmt: skip
    assert done.stdout.strip() == "2 []"


@pytest.mark.parametrize(
    ("argv", "ends_at_once"),
    [
        (["down", "no-such-swarm"], True),
        (["up", "-n", "1", "--name", "bad name"], True),
        (["up", "--help"], True),
        (["sessions", "--help"], False),  # the interpreter's ordinary teardown
    ],
)
def test_up_and_down_end_without_the_interpreter_s_teardown(
    argv: list[str], ends_at_once: bool, tmp_path: Path
) -> None:
    """`up` and `down` end with os._exit once they are done (cli.app.ENDED_AT_ONCE): an exit
    handler does not run, and what they printed is all there (flushed first)."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('TEARDOWN', file=sys.stderr, flush=True))\n"
        "from codeswarm.cli import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60,
        cwd=tmp_path, env={**os.environ, "CODESWARM_STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip
    assert ("TEARDOWN" not in done.stderr) is ends_at_once, done.stderr
    if argv[-1] == "--help":
        assert done.returncode == 0 and "Usage: codeswarm" in done.stdout
    else:
        assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("name", ["send", "coord", "exec", "mcp"])
def test_typer_app_lists_and_forwards_fast_commands(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from codeswarm.cli import FAST_COMMANDS
    from codeswarm.cli.app import main

    assert name in FAST_COMMANDS
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0 and f" {name} " in capsys.readouterr().out
    # called through the app (not the fast dispatch), the command still gets its arguments
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    if name in ("exec", "send"):  # Typer's style, as every other command (test_swarm_answers)
        assert f" Usage: codeswarm {name} [OPTIONS]" in out
    else:
        assert out.startswith(f"usage: codeswarm {name}")


def _processes_in(directory: Path) -> list[int]:
    """Pids of processes whose working directory is ``directory``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == directory:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.codex
def test_bad_config_after_codex_started_leaves_nothing(
    tmp_path: Path, workspace: Path, script_file: Path, codex_binary: Any
) -> None:
    # Codex is started before the config is validated (it boots while codeswarm loads): a bad
    # config must still end in one line, and no Codex left running.
    (tmp_path / "codeswarm.toml").write_text("[codex]\nmodel = 5\n")
    proc = exec_mock(
        "hi", script_file, workspace,
        cwd=tmp_path, env={"CODESWARM_CODEX_BIN": str(codex_binary.path)},
    )  # fmt: skip
    one_clear_line(proc, "codeswarm.toml")
    assert _processes_in(workspace.resolve()) == []
