"""One project, one store: the state is keyed by the project, wherever a command runs from;
``--project DIR`` names it explicitly on every command that works on a project's state, and
relative paths given to ``coord`` resolve against the project root unless the working directory
is inside it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from swarmkit import Swarm, python_env, wait_until


@pytest.fixture
def user(tmp_path: Path) -> dict[str, str]:
    """The environment of a person with their own XDG state (no CODESWARM_STATE_DIR: the
    state is found per project)."""
    return python_env(
        XDG_STATE_HOME=str(tmp_path / "xdg-state"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
    )


def _repo(path: Path) -> Path:
    (path / ".git").mkdir(parents=True)
    (path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # a repository
    return path


def _cli(env: dict[str, str], cwd: Path, *args: str, code: int = 0) -> str:
    done = subprocess.run(
        [sys.executable, "-P", "-m", "codeswarm", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
    if code:
        assert done.stderr.startswith("codeswarm: error: ") and done.stderr.count("\n") == 1, (
            done.stderr
        )
        return done.stderr
    return done.stdout


def _json(env: dict[str, str], cwd: Path, *args: str) -> Any:
    return json.loads(_cli(env, cwd, *args, "--json"))


def _leases(env: dict[str, str], cwd: Path, *flags: str) -> list[tuple[str, str]]:
    return [(x["path"], x["holder"]) for x in _json(env, cwd, "coord", *flags, "leases")]


def test_coord_project_resolves_against_the_project_from_anywhere(
    user: dict[str, str], tmp_path: Path
) -> None:
    app = _repo(tmp_path / "app")
    (app / "src").mkdir()
    other = _repo(tmp_path / "other")
    assert _cli(user, other, "coord", "--project", str(app), "register", "alice").strip() == (
        "alice#1"
    )
    lease = _json(user, other, "coord", "--project", str(app), "--as", "alice", "lease",
                  "src/app.py")  # fmt: skip
    assert lease["path"] == "src/app.py"  # not other/src/app.py, which is outside the project
    # the same store as a session in the project itself, and not the other project's
    assert _leases(user, app) == [("src/app.py", "alice#1")]
    assert _leases(user, other) == []
    # --project names any directory of the project; inside it, paths are the shell's
    src = app / "src"
    assert _leases(user, other, "--project", str(src)) == [("src/app.py", "alice#1")]
    _cli(user, src, "coord", "--project", str(app), "register", "bob")
    held = _cli(user, src, "coord", "--as", "bob", "check", "app.py", code=3)
    assert "src/app.py" in held and "alice#1" in held
    mine = _json(user, src, "coord", "--project", str(app), "--as", "bob", "lease", "util.py")
    assert mine["path"] == "src/util.py"
    # --scope: the store of the project holding the scope, and paths against the scope
    _cli(user, other, "coord", "--scope", str(app), "--as", "bob", "lease", "src/app.py", code=3)
    scoped = _json(user, other, "coord", "--scope", str(app), "--as", "bob", "lease", "README")
    assert scoped["path"] == "README"
    assert ("README", "bob#1") in _leases(user, app)


def test_a_bad_project_is_one_line_and_touches_nothing(
    user: dict[str, str], tmp_path: Path
) -> None:
    here = _repo(tmp_path / "here")
    err = _cli(user, here, "coord", "--project", str(tmp_path / "nope"), "agents", code=2)
    assert "--project" in err and "no such directory" in err
    (tmp_path / "file").write_text("")
    err = _cli(user, here, "coord", "--project", str(tmp_path / "file"), "agents", code=2)
    assert "not a directory" in err
    err = _cli(user, here, "status", "s", "--project", str(tmp_path / "nope"), code=2)
    assert "--project" in err
    err = _cli(user, here, "send", "s", "all", "hi", "--project", str(tmp_path / "nope"), code=2)
    assert "--project" in err
    assert not (tmp_path / "xdg-state").exists()


@pytest.mark.slow
@pytest.mark.codex
def test_a_fleet_started_elsewhere_and_a_session_in_the_project_share_one_store(
    user: dict[str, str], tmp_path: Path, codex_binary
) -> None:  # type: ignore[no-untyped-def]
    from codeswarm.core.paths import project_key

    app = _repo(tmp_path / "app")
    (app / "src").mkdir()
    launcher = _repo(tmp_path / "checkout")  # where `up` is run from: not the project
    third = tmp_path / "third"
    third.mkdir()
    env = {**user, "CODESWARM_CODEX_BIN": str(codex_binary.path),
           "CODEX_HOME": str(tmp_path / "codex-home")}  # fmt: skip
    state = tmp_path / "xdg-state" / "codeswarm" / "projects" / project_key(app)
    swarm = Swarm("s", state, env, launcher)
    try:
        script = tmp_path / "script.json"
        script.write_text(json.dumps({"agents": {"*": [{"text": "hello"}]}}))
        _cli(env, launcher, "up", "-n", "2", "--name", "s", "--cwd", str(app),
             "--model-provider", "mock", "--script", str(script))  # fmt: skip
        assert swarm.run_dir.is_dir()  # the project's state, not the launcher's
        assert not (tmp_path / "xdg-state" / "codeswarm" / "projects" / project_key(launcher)
                    / "runs").exists()  # fmt: skip
        spec = json.loads((swarm.run_dir / "swarm.json").read_text())
        assert spec["coord_db"] == str(state / "coord.db")
        # the fleet's agents are in the store a session in the project opens by itself
        wait_until(
            lambda: {"s_0", "s_1"} <= {a["name"] for a in _json(env, app, "coord", "agents")},
            what="the fleet's agents registered",
        )
        # acting as a fleet agent from the launcher's directory, naming the project
        lease = _json(env, launcher, "coord", "--project", str(app), "--as", "s_0", "lease",
                      "src/app.py")  # fmt: skip
        assert lease["path"] == "src/app.py"
        _cli(env, app, "coord", "register", "me")
        held = _cli(env, app / "src", "coord", "--as", "me", "lease", "app.py", code=3)
        assert "s_0" in held
        # every swarm command takes the project, from a directory of no project of its own
        status = _json(env, third, "status", "s", "--project", str(app))
        assert [a["id"] for a in status["agents"]] == ["s_0", "s_1"]
        s0 = next(a for a in status["agents"] if a["id"] == "s_0")
        assert [x["path"] for x in s0["leases"]] == ["src/app.py"]
        sent = _cli(env, third, "send", "s", "0", "hi", "--wait", "--project", str(app))
        assert sent.strip() == "s_0: hello"
        assert "s" in _cli(env, third, "ls", "--project", str(app))
        _cli(env, third, "logs", "s", "0", "--project", str(app))
        # naming a project means that project: no fall back to a swarm of that name elsewhere
        err = _cli(env, third, "status", "s", "--project", str(launcher), code=2)
        assert "no swarm 's'" in err
        assert "is down" in _cli(env, third, "down", "s", "--project", str(app))
    finally:
        failures = swarm.reap()
    assert not failures, failures


@pytest.mark.slow
@pytest.mark.codex
def test_a_fleet_in_a_subdirectory_is_in_the_projects_scope(
    user: dict[str, str], tmp_path: Path, codex_binary
) -> None:  # type: ignore[no-untyped-def]
    from codeswarm.core.paths import project_key

    app = _repo(tmp_path / "app")
    sub = app / "services" / "api"
    sub.mkdir(parents=True)
    env = {**user, "CODESWARM_CODEX_BIN": str(codex_binary.path),
           "CODEX_HOME": str(tmp_path / "codex-home")}  # fmt: skip
    state = tmp_path / "xdg-state" / "codeswarm" / "projects" / project_key(app)
    swarm = Swarm("s", state, env, tmp_path)
    try:
        script = tmp_path / "script.json"
        script.write_text(json.dumps({"agents": {"*": [{"text": "hello"}]}}))
        _cli(env, tmp_path, "up", "-n", "1", "--name", "s", "--project", str(sub),
             "--model-provider", "mock", "--script", str(script))  # fmt: skip
        assert json.loads((swarm.run_dir / "swarm.json").read_text())["cwd"] == str(sub)
        # the agent works in the subdirectory, but in the project's scope: a session at the
        # project root sees it, and a path means one file to both
        wait_until(
            lambda: "s_0" in {a["name"] for a in _json(env, app, "coord", "agents")},
            what="the fleet's agent registered in the project's scope",
        )
        _cli(env, sub, "coord", "--as", "s_0", "lease", "handler.py")
        _cli(env, app, "coord", "register", "me")
        held = _cli(env, app, "coord", "--as", "me", "lease", "services/api/handler.py", code=3)
        assert "s_0" in held
        status = _json(env, tmp_path, "status", "s", "--project", str(app))
        assert [x["path"] for x in status["agents"][0]["leases"]] == ["services/api/handler.py"]
    finally:
        failures = swarm.reap()
    assert not failures, failures
