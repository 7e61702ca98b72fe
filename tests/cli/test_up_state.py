"""Where `up` puts a swarm's state, and its warning when the agents could write it
(docs/security/state.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeswarm.core.paths import project_key
from swarmkit import Swarm, open_swarms

pytestmark = [pytest.mark.codex, pytest.mark.slow]

HELLO = {"agents": {"*": [{"when": ".", "text": "hi", "repeat": True}]}}


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("codeswarm: warning: ")]


def test_up_warns_when_the_agents_sandbox_can_write_the_state(swarm: Swarm) -> None:
    # the test's state directory is under /tmp, which workspace-write lets every agent write
    up = swarm.cli(*swarm.up_args(1, HELLO, "--sandbox", "workspace-write"))
    # (one line per writable root; a checkout under /tmp adds codeswarm's code to the /tmp line)
    (line,) = [w for w in warnings(up.stderr) if "inside /tmp," in w]
    assert line.startswith("codeswarm: warning: the swarm's state (")
    assert f"the swarm's state ({swarm.run_dir})" in line
    assert f"coordination store ({swarm.state / 'coord.db'})" in line
    assert "workspace-write sandbox can write" in line


@pytest.fixture
def default_state(tmp_path: Path, codex_binary) -> Iterator[tuple[Swarm, Path]]:  # type: ignore[no-untyped-def]
    """A swarm with no CODESWARM_STATE_DIR (XDG_STATE_HOME under /var/tmp, out of reach)."""
    base = Path(tempfile.mkdtemp(prefix="codeswarm-test-", dir="/var/tmp"))
    try:
        with open_swarms(Swarm, tmp_path, codex_binary.path, state=base / "unused") as make:
            swarm = make("t")
            del swarm.env["CODESWARM_STATE_DIR"]
            swarm.env["XDG_STATE_HOME"] = str(base / "xdg")
            (swarm.workdir / ".git").mkdir()
            (swarm.workdir / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # a repository
            (swarm.workdir / "sub").mkdir()
            projects = base / "xdg" / "codeswarm" / "projects"
            swarm.state = projects / project_key(swarm.workdir)  # for the teardown's checks
            swarm.run_dir = swarm.state / "runs" / swarm.name
            projects.mkdir(parents=True)  # the script goes beside the state
            yield swarm, projects
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_state_goes_to_the_xdg_directory_of_the_cwd_project(
    default_state: tuple[Swarm, Path], tmp_path: Path
) -> None:
    swarm, projects = default_state
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # `up --cwd` from another directory: the state is --cwd's project's
    argv = [sys.executable, "-m", "codeswarm", *swarm.up_args(1, HELLO, "--sandbox",
            "workspace-write")]  # fmt: skip
    up = subprocess.run(argv, cwd=elsewhere, env=swarm.env, capture_output=True, text=True,
                        timeout=120)  # fmt: skip
    assert up.returncode == 0, up.stderr
    # nothing of the state is in the agents' reach (codeswarm itself may be, in a /tmp checkout)
    exposed = [w for w in warnings(up.stderr) if "swarm's state" in w or "coordination store" in w]
    assert exposed == []
    (state,) = [p for p in projects.iterdir() if p.is_dir()]
    assert state.name.startswith("t-repo-") and state == swarm.state
    assert (state / "project").read_text() == f"{swarm.workdir.resolve()}\n"
    assert (state / "runs" / "t" / "swarm.json").exists() and (state / "coord.db").exists()
    assert not (swarm.workdir / ".codeswarm").exists()
    spec = json.loads((state / "runs" / "t" / "swarm.json").read_text())
    assert spec["coord_db"] == str(state / "coord.db")
    # any directory of the project finds it; another directory is told where it is
    status = subprocess.run([sys.executable, "-m", "codeswarm", "status", "t", "--json"],
                            cwd=swarm.workdir / "sub", env=swarm.env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert status.returncode == 0 and json.loads(status.stdout)["swarm"] == "t", status.stderr
    # another directory finds the one swarm of that name (as the demo does: up --cwd, then send)
    found = subprocess.run([sys.executable, "-m", "codeswarm", "status", "t", "--json"],
                           cwd=elsewhere, env=swarm.env, capture_output=True, text=True,
                           timeout=60)  # fmt: skip
    assert found.returncode == 0 and json.loads(found.stdout)["swarm"] == "t", found.stderr
    # with two of that name elsewhere, it is told where they are
    twin = projects / "twin-000000000000"
    (twin / "runs" / "t").mkdir(parents=True)
    (twin / "project").write_text(f"{tmp_path / 'twin'}\n")
    (twin / "runs" / "t" / "swarm.json").write_bytes(
        (state / "runs" / "t" / "swarm.json").read_bytes()
    )
    lost = subprocess.run([sys.executable, "-m", "codeswarm", "status", "t"], cwd=elsewhere,
                          env=swarm.env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert lost.returncode == 2
    assert f"swarms 't' belong to {swarm.workdir.resolve()}, {tmp_path / 'twin'}" in lost.stderr
    assert "run the command from there" in lost.stderr


@pytest.mark.codex
@pytest.mark.parametrize("after", [0.0, 0.1], ids=["at-once", "a-moment-later"])
def test_ctrl_c_while_the_agents_start_leaves_nothing_running(swarm: Swarm, after: float) -> None:
    """Ctrl-C during `up`'s launch stops what came up (exit 130, a line saying so), at once:
    the supervisor and hub it started, handed over or not, do not outlive it; the run
    directory stays, and `up` again starts the swarm."""
    import signal
    import time

    from swarmkit import wait_until

    script = {"agents": {"*": ["hi"]}}
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "codeswarm", *swarm.up_args(2, script)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=swarm.env,
        cwd=swarm.workdir,
    )  # fmt: skip
    wait_until(lambda: (swarm.run_dir / "swarm.json").exists(), 60, "the launch")
    time.sleep(after)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "had to kill" not in err, err  # everything stopped as asked, nothing waited for
    assert f"interrupted: swarm {swarm.name} stopped while its agents started" in err, err
    assert swarm.processes() == []
    assert swarm.up(2, script)["agents"]  # nothing in the way of a new `up`


def test_ctrl_c_as_the_spec_lands_stops_the_launch_as_any_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The spec is visible once renamed into place, and the directory's fsync follows: a Ctrl-C
    then (a person, or test_ctrl_c_while_the_agents_start_leaves_nothing_running's signal as
    it sees the file) is an interrupted launch like any later one: what this `up` started is
    let go and stopped, and it says so (it used to end as a bare "interrupted")."""
    from codeswarm.cli.swarm import up
    from codeswarm.control.launch import base
    from codeswarm.core.swarm import RunDir, SwarmSpec

    run = RunDir(tmp_path / "runs" / "t")
    spec = SwarmSpec(name="t", size=1, cwd=str(tmp_path), codex_bin="")
    real = base.create_run

    def landed_then_ctrl_c(run: RunDir, spec: SwarmSpec) -> None:
        real(run, spec)
        raise KeyboardInterrupt

    stopped: list[tuple[Path, bool]] = []
    monkeypatch.setattr(base, "create_run", landed_then_ctrl_c)
    monkeypatch.setattr(
        up, "bring_down", lambda r, launching=False: stopped.append((r.root, launching))
    )
    with pytest.raises(KeyboardInterrupt):
        up._launch(object(), run, spec, fresh=True, timeout=1.0, json_out=False)  # type: ignore[arg-type]
    assert run.spec_path.is_file() and stopped == [(run.root, True)]
    assert "interrupted: swarm t stopped while its agents started" in capsys.readouterr().err
