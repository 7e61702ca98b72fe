"""The swarm commands' numeric flags: out of range (or NaN, or infinite) is one line, exit 2, before
anything starts (issue 10: ``up --timeout -5`` started the swarm, then exited 1 and left it
running)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from codeswarm.cli.app import _typer
from codeswarm.cli.swarm import send
from codeswarm.core.errors import run_guarded
from swarmkit import python_env

UP = ["up", "-n", "1", "--name", "t", "--model-provider", "mock", "--script", "s.json"]

BAD: list[tuple[str, list[str], str]] = [
    ("up-timeout-negative", [*UP, "--timeout", "-5"], "--timeout must be between 1 and 604800"),
    ("up-timeout-zero", [*UP, "--timeout", "0"], "--timeout must be"),
    ("up-timeout-nan", [*UP, "--timeout", "nan"], "not nan"),
    ("up-timeout-inf", [*UP, "--timeout", "inf"], "not inf"),
    ("up-timeout-huge", [*UP, "--timeout", "1e308"], "--timeout must be"),
    ("up-agents-zero", ["up", "-n", "0", "--name", "t"], "'-n' / '--agents'"),
    ("up-agents-many", ["up", "-n", "513", "--name", "t"], "'-n' / '--agents'"),
    ("up-nodes-zero", [*UP, "--nodes", "0"], "'--nodes'"),
    ("up-tasks-per-node-zero", [*UP, "--ntasks-per-node", "0"], "'--ntasks-per-node'"),
    ("up-stop-grace-zero", [*UP, "--stop-grace", "0"], "'--stop-grace'"),
    ("up-stop-grace-huge", [*UP, "--stop-grace", "99999"], "'--stop-grace'"),
    ("down-grace-negative", ["down", "t", "--grace", "-1"], "--grace must be between 0 and 3600"),
    ("down-grace-nan", ["down", "t", "--grace", "nan"], "--grace must be"),
    ("down-grace-inf", ["down", "t", "--grace", "inf"], "--grace must be"),
    ("logs-lines-negative", ["logs", "t", "0", "--lines", "-1"], "'--lines' / '-n'"),
]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project whose state directory does not exist yet (it must stay so)."""
    proj = tmp_path / "proj"
    (proj / ".git").mkdir(parents=True)
    (proj / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # a repository
    (proj / "s.json").write_text('{"agents": {"*": [{"text": "hi"}]}}')
    monkeypatch.chdir(proj)
    for key in ("CODESWARM_DB", "CODESWARM_AGENT_ID", "CODESWARM_DEBUG"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CODESWARM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    return proj


def one_line(err: str, words: str) -> None:
    assert err.startswith("codeswarm: error: ") and err.count("\n") == 1, err
    assert words in err, err


@pytest.mark.parametrize(("case", "args", "words"), BAD, ids=[b[0] for b in BAD])
def test_refused_before_anything_starts(
    project: Path, capsys: pytest.CaptureFixture[str], case: str, args: list[str], words: str
) -> None:
    before = sorted(p.name for p in project.parent.iterdir())
    assert run_guarded(lambda: _typer(args)) == 2  # what `codeswarm` runs
    out, err = capsys.readouterr()
    assert out == ""
    one_line(err, words)
    assert sorted(p.name for p in project.parent.iterdir()) == before  # no state, no run dir


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "1e9"])
def test_send_timeout(project: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    assert send.main(["t", "all", "hello", "--wait", "--timeout", value]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    one_line(err, "--timeout must be between 1 and 604800 seconds")
    assert not (project.parent / "state").exists()


def test_up_with_a_negative_timeout_as_a_real_process(project: Path) -> None:
    env = python_env(
        CODESWARM_STATE_DIR=str(project.parent / "state"),
        XDG_STATE_HOME=str(project.parent / "xdg-state"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "codeswarm", *UP, "--timeout", "-5"],
        cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    one_line(done.stderr, "--timeout must be between 1 and 604800 seconds, not -5")
    assert not (project.parent / "state").exists()  # nothing was started
    assert not (project.parent / "xdg-state").exists()
