"""The queue process for real (``python -m codeswarm.control.merge.runner``): it follows the
journal, one per swarm, and survives SIGKILL mid-check, mid-merge and between advancing the
target and recording it: the target never holds a commit whose check did not pass, and every
submission ends merged or rejected exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from gitkit import GIT_ENV, Project, git, stop, wait_for

from codeswarm.control.merge import journal
from codeswarm.control.merge.submit import submit


@pytest.fixture(autouse=True)
def _git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


def blocking_check(tmp: Path) -> str:
    """Blocks while ``tmp/block`` exists (saying so in ``tmp/started``); fails on BAD."""
    return (f"git rev-parse HEAD >> {tmp}/checked; "
            f"if [ -f {tmp}/block ]; then echo $$ > {tmp}/started; "
            f"while [ -f {tmp}/block ]; do sleep 0.05; done; fi; "
            "! grep -q BAD a.txt")  # fmt: skip


def hook(p: Project, name: str, tmp: Path, flag: str, where: Path | None = None) -> None:
    """A git hook that blocks while ``tmp/flag`` exists (saying so in ``tmp/flag.started``);
    ``where``: only in that working tree."""
    path = Path(git(p.root, "rev-parse", "--git-common-dir"))
    path = (path if path.is_absolute() else p.root / path) / "hooks" / name
    there = f' && [ "$(pwd -P)" = "{where.resolve()}" ]' if where is not None else ""
    path.write_text(f"#!/bin/sh\nif [ -f {tmp}/{flag} ]{there}; then touch {tmp}/{flag}.started; "
                    "sleep 600; fi\nexit 0\n")  # fmt: skip
    path.chmod(0o755)


def checked_tips(tmp: Path) -> set[str]:
    f = tmp / "checked"
    return set(f.read_text().split()) if f.exists() else set()


def assert_main_only_checked(p: Project, tmp: Path, *others: str) -> None:
    """Every state the queue moved main to (a batch: its last merge) had a check run on it,
    and main's reflog holds no other state since the base."""
    targets = {r["target"] for r in p.records(journal.MERGED)}
    assert p.tip() in targets and targets <= checked_tips(tmp)
    moves = git(p.root, "reflog", "--format=%H", "refs/heads/main").split()
    assert set(moves) - {p.base, *others} <= targets  # others: the person's own commits


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_runner_follows_submissions_and_is_one_per_swarm(tmp_path: Path) -> None:
    p = Project(tmp_path, agents=2, check="true")
    proc = p.start_runner()
    try:
        wait_for(lambda: (p.run.merge_dir / "runner.pid").exists(), what="the runner's lock")
        second = subprocess.run(
            [sys.executable, "-P", "-m", "codeswarm.control.merge.runner", "--run-dir",
             str(p.run.root)], capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert second.returncode == 2
        assert second.stderr.strip().count("\n") == 0 and "another merge queue" in second.stderr
        a, b = p.agents
        p.edit_line(a, 2, "a's")
        first = submit(p.run, p.spec, a, "a").id
        wait_for(lambda: p.ended().get(first), what="the first merge")
        p.edit_line(b, 30, "b's")
        then = submit(p.run, p.spec, b, "b").id
        wait_for(lambda: p.ended().get(then), what="the second merge")
        assert p.ended() == {first: "merged", then: "merged"}
    finally:
        assert stop(proc) == 0, p.log()


def test_kill_mid_check_then_restart(tmp_path: Path) -> None:
    p = Project(tmp_path, agents=3, check=blocking_check(tmp_path))
    ids = []
    for i, agent in enumerate(p.agents):
        p.edit_line(agent, 3 + 10 * i, f"{agent} BAD" if i == 1 else f"{agent} ok")
        ids.append(submit(p.run, p.spec, agent).id)
    (tmp_path / "block").touch()
    before = p.tip()
    proc = p.start_runner()
    started = wait_for(lambda: (tmp_path / "started").exists() and
                       (tmp_path / "started").read_text().strip(), what="the check")  # fmt: skip
    assert stop(proc, signal.SIGKILL) == -signal.SIGKILL
    assert p.tip() == before and p.ended() == {}
    assert alive(int(started))  # the check outlived its queue process ...
    proc = p.start_runner()
    try:
        wait_for(lambda: not alive(int(started)), what="the orphan check to be killed")
        (tmp_path / "block").unlink()  # ... which the next one killed
        wait_for(lambda: len(p.ended()) == 3, what="every submission to end")
    finally:
        assert stop(proc) == 0, p.log()
    assert p.ended() == {ids[0]: "merged", ids[1]: "rejected", ids[2]: "merged"}
    assert "BAD" not in p.main_file()
    assert_main_only_checked(p, tmp_path)


def test_kill_mid_merge_then_restart(tmp_path: Path) -> None:
    p = Project(tmp_path, agents=2, check=blocking_check(tmp_path))
    hook(p, "prepare-commit-msg", tmp_path, "merging")
    ids = []
    for i, agent in enumerate(p.agents):
        p.edit_line(agent, 5 + 20 * i, f"{agent} ok")
        ids.append(submit(p.run, p.spec, agent).id)
    (tmp_path / "merging").touch()
    before = p.tip()
    proc = p.start_runner()
    wait_for(lambda: (tmp_path / "merging.started").exists(), what="a merge in the scratch tree")
    assert stop(proc, signal.SIGKILL) == -signal.SIGKILL
    scratch = p.run.merge_dir / "scratch"
    git(scratch, "rev-parse", "-q", "--verify", "MERGE_HEAD")  # killed in the middle of a merge
    assert p.tip() == before and p.ended() == {}
    (tmp_path / "merging").unlink()
    proc = p.start_runner()
    try:
        wait_for(lambda: len(p.ended()) == 2, what="every submission to end")
    finally:
        assert stop(proc) == 0, p.log()
    assert p.ended() == dict.fromkeys(ids, "merged")
    text = p.main_file()
    assert text.count("s_0 ok") == 1 and text.count("s_1 ok") == 1
    assert_main_only_checked(p, tmp_path)


def test_kill_between_advance_and_record(tmp_path: Path) -> None:
    """The project tree has main checked out: the queue fast-forwards it there, and git runs
    post-merge after main has moved; a kill then leaves main advanced with nothing recorded."""
    p = Project(tmp_path, agents=1, check=blocking_check(tmp_path))
    hook(p, "post-merge", tmp_path, "advanced", where=p.root)
    agent = p.agents[0]
    p.edit_line(agent, 9, "agent's 9")
    sid = submit(p.run, p.spec, agent).id
    (tmp_path / "advanced").touch()
    proc = p.start_runner()
    wait_for(lambda: (tmp_path / "advanced.started").exists(), what="the advance")
    assert stop(proc, signal.SIGKILL) == -signal.SIGKILL
    assert "agent's 9" in p.main_file() and p.ended() == {}
    (tmp_path / "advanced").unlink()
    proc = p.start_runner()
    try:
        wait_for(lambda: p.ended(), what="the record")
    finally:
        assert stop(proc) == 0, p.log()
    assert p.ended() == {sid: "merged"}
    assert p.records(journal.MERGED)[0]["already"] is True
    assert_main_only_checked(p, tmp_path)
    assert os.path.exists(p.root / "a.txt")


def test_target_moved_by_the_person_meanwhile(tmp_path: Path) -> None:
    """The person commits on main (checked out in the project) while the check runs: the tested
    state is dropped, and the queue tests again on the new tip by itself."""
    p = Project(tmp_path, agents=1, check=blocking_check(tmp_path))
    agent = p.agents[0]
    p.edit_line(agent, 9, "agent's 9")
    sid = submit(p.run, p.spec, agent).id
    (tmp_path / "block").touch()
    proc = p.start_runner()
    try:
        wait_for(lambda: (tmp_path / "started").exists(), what="the check")
        (p.root / "b.txt").write_text("the person's b\n")
        git(p.root, "commit", "-q", "-am", "the person")
        theirs = p.tip()
        (tmp_path / "block").unlink()
        wait_for(lambda: p.ended(), what="the merge")
    finally:
        assert stop(proc) == 0, p.log()
    assert p.ended() == {sid: "merged"}
    git(p.root, "merge-base", "--is-ancestor", theirs, "main")
    assert "agent's 9" in p.main_file() and p.main_file("b.txt") == "the person's b"
    assert_main_only_checked(p, tmp_path, theirs)
