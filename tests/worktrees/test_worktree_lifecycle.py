"""Worktrees on real git, without Codex: creation at `up` (from the current HEAD, never
origin/HEAD; .worktreeinclude copies; resume), their state, and purging without losing work."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from codeswarm.control.worktrees.create import prepare
from codeswarm.control.worktrees.purge import PurgeRefusedError, purge
from codeswarm.control.worktrees.state import state
from codeswarm.core.errors import UsageError
from codeswarm.core.swarm import RunDir, SwarmSpec
from worktree_repo import git, isolate_git, make_repo


@pytest.fixture(autouse=True)
def _git_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_git()


def spec_for(repo: Path, n: int = 2, **kw: object) -> SwarmSpec:
    return SwarmSpec(name="s", size=n, cwd=str(repo), codex_bin="codex", isolation="worktree",
                     **kw)  # type: ignore[arg-type]  # fmt: skip


def run_for(tmp_path: Path) -> RunDir:
    return RunDir(tmp_path / "state" / "runs" / "s")


def branches(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split()


def test_worktrees_come_from_the_current_head_with_the_included_files(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = make_repo(repo)  # origin/HEAD points to `other`
    run = run_for(tmp_path)
    spec = prepare(spec_for(repo, 3), run)
    assert spec.base_commit == commits["main"] and spec.into == "main"
    paths = [run.worktree(f"s_{r}") for r in range(3)]
    assert len({os.path.realpath(p) for p in paths}) == 3  # no two agents share a directory
    for rank, where in enumerate(paths):
        assert not str(where.resolve()).startswith(str(repo.resolve()))
        assert git(where, "rev-parse", "HEAD") == commits["main"]
        assert git(where, "symbolic-ref", "--short", "HEAD") == f"codeswarm/s/s_{rank}"
        assert (where / "src" / "a.py").read_text() == "a = 1\n"  # main's, not origin/HEAD's
        assert (where / ".env").read_text() == "TOKEN=local-only\n"
        assert (where / ".env").stat().st_mode & 0o777 == 0o600  # its mode kept
        assert (where / "secrets" / "key.txt").read_text() == "k\n"
        assert not (where / "build").exists()  # ignored but not asked for
        assert git(where, "status", "--porcelain") == ""  # the copies are ignored there too
    assert (repo / "src" / "a.py").read_text() == "a = 1\n"  # the project untouched
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "main"


def test_base_ref_and_a_symlink_out_of_the_project_is_not_followed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = make_repo(repo)
    outside = tmp_path / "outside-secret"
    outside.write_text("never copied\n")
    (repo / ".env").unlink()
    (repo / ".env").symlink_to(outside)  # a link out of the project
    (repo / "secrets" / "inner").symlink_to("key.txt")  # a link inside it: kept as a link
    run = run_for(tmp_path)
    spec = prepare(spec_for(repo, 1, base="other"), run)
    where = run.worktree("s_0")
    assert spec.base_commit == commits["other"] and spec.into == "main"
    assert (where / "src" / "a.py").read_text() == "a = 'other'\n"
    assert not os.path.lexists(where / ".env")
    assert os.readlink(where / "secrets" / "inner") == "key.txt"


def test_a_later_up_keeps_the_base_and_resumes_each_branch(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = make_repo(repo)
    run = run_for(tmp_path)
    first = prepare(spec_for(repo), run)
    (run.worktree("s_0") / "notes.txt").write_text("work in progress\n")
    w1 = run.worktree("s_1")
    (w1 / "src" / "b.py").write_text("b = 2\n")
    git(w1, "commit", "-q", "-am", "s_1's work")
    tip = git(w1, "rev-parse", "HEAD")
    (repo / "src" / "a.py").write_text("a = 3\n")
    git(repo, "commit", "-q", "-am", "the person moves on")
    # the worktree of s_1 is lost (deleted by hand): its branch is checked out again
    subprocess.run(["rm", "-rf", str(w1)], check=True)
    again = prepare(spec_for(repo, 3), run, first)
    assert again.base_commit == commits["main"] and again.into == "main"
    assert (run.worktree("s_0") / "notes.txt").read_text() == "work in progress\n"
    assert git(run.worktree("s_1"), "rev-parse", "HEAD") == tip
    assert git(run.worktree("s_2"), "rev-parse", "HEAD") == commits["main"]  # the kept base


@pytest.mark.parametrize(
    ("setup", "kw", "says"),
    [
        ("plain", {}, "is not in a git repository"),
        ("unborn", {}, "no commit yet"),
        ("repo", {"base": "no-such-ref"}, "--base 'no-such-ref': no such commit"),
        ("repo", {"base": "--output=/tmp/x"}, "no such commit"),
        ("detached", {}, "detached HEAD"),
        ("repo", {"into": "nope"}, "--into 'nope': no such branch"),
    ],
)
def test_bad_input_is_one_line_and_makes_nothing(
    tmp_path: Path, setup: str, kw: dict[str, str], says: str
) -> None:
    repo = tmp_path / "repo"
    if setup == "plain":
        repo.mkdir()
    elif setup == "unborn":
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
    else:
        make_repo(repo, origin=False)
        if setup == "detached":
            git(repo, "checkout", "-q", "--detach")
    before = branches(repo) if setup != "plain" else []
    run = run_for(tmp_path)
    with pytest.raises(UsageError) as err:
        prepare(spec_for(repo, **kw), run)
    assert says in str(err.value) and "\n" not in str(err.value)
    assert not run.root.exists()
    if setup != "plain":
        assert branches(repo) == before


def test_state_and_purge_never_lose_work(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, origin=False)
    run = run_for(tmp_path)
    spec = prepare(spec_for(repo, 3), run)
    rows = state(spec, run)
    assert [r.merged for r in rows] == [True, True, True]
    assert all(r.ahead == 0 and r.behind == 0 and not r.dirty and r.in_use is None for r in rows)
    w0, w1, w2 = (run.worktree(f"s_{r}") for r in range(3))
    (w0 / "src" / "a.py").write_text("a = 'uncommitted'\n")  # s_0: uncommitted
    (w1 / "new.py").write_text("x = 1\n")
    git(w1, "add", "new.py")
    git(w1, "commit", "-q", "-m", "s_1: unmerged")  # s_1: an unmerged commit
    (w2 / "src" / "b.py").write_text("b = 'picked'\n")
    git(w2, "commit", "-q", "-am", "s_2: cherry-picked into main")
    (repo / "README").write_text("the person's own commit\n")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "main moves on")
    git(repo, "cherry-pick", git(w2, "rev-parse", "HEAD"))  # merged by its change
    by = {r.agent: r for r in state(spec, run)}
    assert by["s_0"].dirty == ["src/a.py"] and not by["s_0"].merged
    assert (by["s_1"].ahead, by["s_1"].unmerged, by["s_1"].merged) == (1, 1, False)
    assert (by["s_2"].ahead, by["s_2"].unmerged, by["s_2"].behind) == (1, 0, 2)
    assert by["s_2"].merged

    with pytest.raises(PurgeRefusedError) as refused:
        purge(spec, run, force=False)
    assert "2 worktrees hold work" in str(refused.value)
    lines = refused.value.lines
    assert len(lines) == 2 and "s_0" in lines[0] and "src/a.py" in lines[0]
    assert "s_1" in lines[1] and "1 unmerged commit" in lines[1]
    assert all((w / ".git").exists() for w in (w0, w1, w2))  # nothing removed

    # a worktree a live process works in is never removed, not even forced
    sleeper = subprocess.Popen(["sleep", "120"], cwd=w1)
    try:
        assert state(spec, run)[1].in_use == f"process {sleeper.pid} works in it"
        with pytest.raises(PurgeRefusedError) as live:
            purge(spec, run, force=True)
        assert "in use" in str(live.value) and str(w1) in live.value.lines[0]
        assert all((w / ".git").exists() for w in (w0, w1, w2))
    finally:
        sleeper.kill()
        sleeper.wait()

    lost = purge(spec, run, force=True)
    assert len(lost) == 2
    assert not any(w.exists() for w in (w0, w1, w2))
    assert branches(repo) == ["main"]
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_purge_of_merged_worktrees_needs_no_force(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, origin=False)
    run = run_for(tmp_path)
    spec = prepare(spec_for(repo, 2), run)
    w0 = run.worktree("s_0")
    (w0 / "src" / "a.py").write_text("a = 'merged'\n")
    git(w0, "commit", "-q", "-am", "s_0's work")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge s_0", "codeswarm/s/s_0")
    assert purge(spec, run, force=False) == []
    assert branches(repo) == ["main"] and not (run.root / "worktrees").exists()
    assert (repo / "src" / "a.py").read_text() == "a = 'merged'\n"


def test_changing_the_isolation_of_a_swarm_needs_replace(tmp_path: Path) -> None:
    from codeswarm.cli.swarm.up import _changed

    shared = SwarmSpec(name="s", size=1, cwd=str(tmp_path), codex_bin="codex")
    assert _changed(shared, spec_for(tmp_path, 1)) == ["isolation shared -> worktree"]
    assert _changed(spec_for(tmp_path, 1), spec_for(tmp_path, 1)) == []


async def test_the_api_purge_keeps_work_as_down_purge_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`DELETE /api/swarms/S?purge=true` refuses (409, naming the worktree) while a worktree
    holds an unmerged commit, removes nothing; `force=true` throws it away and says what."""
    import httpx

    from codeswarm.api.app import ServeConfig, create_app
    from codeswarm.control.launch.base import create_run

    repo = tmp_path / "repo"
    make_repo(repo)
    monkeypatch.setenv("CODESWARM_STATE_DIR", str(tmp_path / "state"))
    run = run_for(tmp_path)
    spec = prepare(spec_for(repo, 2), run)
    create_run(run, spec)
    w1 = run.worktree("s_1")
    (w1 / "new.py").write_text("x = 1\n")
    git(w1, "add", "new.py")
    git(w1, "commit", "-q", "-m", "s_1: unmerged")
    app = create_app(ServeConfig(project=repo, swarms=None, token="t"))
    auth = {"Authorization": "Bearer t"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.delete("/api/swarms/s", params={"force": "true"}, headers=auth)
        assert r.status_code == 400 and "only applies with purge" in r.json()["error"]["message"]
        r = await c.delete("/api/swarms/s", params={"purge": "true"}, headers=auth)
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "work_would_be_lost" and "s_1" in error["message"]
        assert "1 unmerged commit" in error["message"]
        assert run.root.exists() and (w1 / "new.py").exists()  # nothing removed
        r = await c.delete("/api/swarms/s", params={"purge": "true", "force": "true"}, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["purged"] is True and any("s_1" in line for line in r.json()["lost"])
    assert not run.root.exists() and not w1.exists()
    assert not [b for b in branches(repo) if b.startswith("codeswarm/")]
