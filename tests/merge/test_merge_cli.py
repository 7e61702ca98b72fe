"""``codeswarm merge submit|status`` through the real CLI on a plain-git swarm (no workers):
what a person sees, and bad input as one line with exit 2 and nothing changed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from gitkit import GIT_ENV, Project, git, wait_for

from codeswarm.control.merge import journal


def cli(p: Project, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **GIT_ENV, "CODESWARM_STATE_DIR": str(p.run.root.parent.parent)}
    return subprocess.run([sys.executable, "-P", "-m", "codeswarm", *args], capture_output=True,
                          text=True, env=env, cwd=p.root, timeout=120, check=False)  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path, agents=2, check="true")


def test_submit_and_status(project: Project) -> None:
    p = project
    agent = p.agents[0]
    p.edit_line(agent, 4, "four", commit=False)
    out = cli(p, "merge", "submit", "s", "0", "--summary", "line four", "--json")
    assert out.returncode == 0, out.stderr
    done = json.loads(out.stdout)
    assert done["position"] == 1 and done["committed"] and done["branch"] == "codeswarm/s/s_0"
    assert git(p.tree(agent), "log", "-1", "--format=%an <%ae>|%s") == (
        f"codeswarm agent {agent} <{agent}@codeswarm.invalid>|line four"
    )
    text = cli(p, "merge", "status", "s")
    assert text.returncode == 0, text.stderr
    assert "no queue process running" in text.stdout and done["queued"] in text.stdout
    status = json.loads(cli(p, "merge", "status", "s", "--json").stdout)
    assert status["into"] == "main" and status["runner"] is None
    assert [s["state"] for s in status["submissions"]] == ["queued"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("merge", "submit", "s", "0"), "nothing to submit: codeswarm/s/s_0 has no commit"),
        (("merge", "submit", "s", "7"), "no agent"),
        (("merge", "submit", "nope", "0"), "no swarm 'nope'"),
        (("merge", "submit", "s", "0,1"), "name one agent"),
        (("merge", "status", "nope"), "no swarm 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    project: Project, args: tuple[str, ...], says: str
) -> None:
    out = cli(project, *args)
    assert out.returncode == 2, out.stderr
    assert out.stdout == "" and out.stderr.count("\n") == 1 and says in out.stderr
    assert journal.records(project.run) == []


def test_a_branch_that_does_not_exist(project: Project) -> None:
    p = project
    agent = p.agents[1]
    git(p.tree(agent), "checkout", "-q", "--detach")
    git(p.root, "branch", "-D", f"codeswarm/s/{agent}")
    (p.tree(agent) / "b.txt").write_text("uncommitted\n")
    out = cli(p, "merge", "submit", "s", agent)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert f"branch codeswarm/s/{agent} does not exist" in out.stderr
    assert journal.records(p.run) == []
    assert (p.tree(agent) / "b.txt").read_text() == "uncommitted\n"  # nothing committed
    assert "b.txt" in git(p.tree(agent), "status", "--porcelain")


def test_a_swarm_without_worktrees(project: Project) -> None:
    project.write_spec(isolation="shared")
    for args in (("merge", "submit", "s", "0"), ("merge", "status", "s")):
        out = cli(project, *args)
        assert out.returncode == 2 and "does not use worktrees" in out.stderr
        assert out.stderr.count("\n") == 1


def test_merge_run_in_the_foreground(project: Project) -> None:
    p = project
    env = {**os.environ, **GIT_ENV, "CODESWARM_STATE_DIR": str(p.run.root.parent.parent)}
    proc = subprocess.Popen([sys.executable, "-P", "-m", "codeswarm", "merge", "run", "s"],
                            env=env, cwd=p.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    try:
        agent = p.agents[0]
        p.edit_line(agent, 8, "eight")
        sid = json.loads(cli(p, "merge", "submit", "s", agent, "--json").stdout)["queued"]
        wait_for(lambda: p.ended().get(sid), what="the merge")
        status = json.loads(cli(p, "merge", "status", "s", "--json").stdout)
        assert status["runner"] == proc.pid  # it holds the lock
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "eight" in p.main_file()
