"""Worktree swarms with real Codex, real git and the scripted model: each agent works in its own
worktree (from the current HEAD, with .worktreeinclude files), leases hold across worktrees (or
not, by config), worktrees survive down/up, and `down --purge` never loses work."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from swarmkit import Swarm
from worktree_repo import GIT_ENV, git, make_repo

pytestmark = [pytest.mark.codex, pytest.mark.slow]

UP = ("--approval-policy", "never", "--sandbox", "workspace-write", "--isolation", "worktree")


def update(path: str, old: str, new: str) -> str:
    return f"*** Begin Patch\n*** Update File: {path}\n@@\n-{old}\n+{new}\n*** End Patch\n"


def coord(swarm: Swarm, *args: str) -> Any:
    proc = swarm.cli("coord", *args, "--json")
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def worktrees(swarm: Swarm) -> dict[str, dict[str, Any]]:
    doc = json.loads(swarm.cli("worktrees", swarm.name, "--json").stdout)
    return {row["agent"]: row for row in doc["worktrees"]}


def last_input(swarm: Swarm, agent: str) -> str:
    reqs = [r for r in swarm.model_requests() if r["agent"] == agent]
    return json.dumps(reqs[-1]["body"]["input"][-1])


def worktree_swarm(make: Callable[[str], Swarm], name: str) -> tuple[Swarm, dict[str, str]]:
    swarm = make(name)
    swarm.env.update(GIT_ENV)
    return swarm, make_repo(swarm.workdir)  # origin/HEAD points elsewhere


def test_agents_work_apart_leases_hold_and_purge_keeps_work(
    swarm_factory: Callable[[str], Swarm],
) -> None:
    swarm, commits = worktree_swarm(swarm_factory, "w")
    script = {
        "agents": {
            "0": [
                {"when": "edit a", "patch": update("src/a.py", "a = 1", "a = 'by w_0'")},
                {"text": "a edited"},
            ],
            "1": [
                {"when": "edit a", "patch": update("src/a.py", "a = 1", "a = 'by w_1'")},
                {"text": "a refused"},
                {"when": "where", "exec": "pwd > where.txt"},
                {"text": "noted"},
            ],
        }
    }
    swarm.up(2, script, *UP)
    trees = worktrees(swarm)
    w0, w1 = (swarm.run_dir / "worktrees" / a for a in ("w_0", "w_1"))
    shown = swarm.cli("worktrees", "w").stdout.splitlines()
    assert shown[0] == f"swarm w: worktrees on main (from {commits['main'][:12]})"
    assert shown[1].split()[:4] == ["w_0", "codeswarm/w/w_0", "+0/-0", "merged,"]
    assert [trees[a]["path"] for a in ("w_0", "w_1")] == [str(w0), str(w1)]
    for agent, where in (("w_0", w0), ("w_1", w1)):
        row = trees[agent]
        assert row["branch"] == f"codeswarm/w/{agent}" and row["merged"] and not row["dirty"]
        assert row["in_use"].startswith("its worker runs")
        assert git(where, "rev-parse", "HEAD") == commits["main"]  # not origin/HEAD
        assert (where / ".env").read_text() == "TOKEN=local-only\n"

    # the patch lands in the agent's worktree, not in the project nor the peer's
    out = json.loads(swarm.cli("send", "w", "0", "edit a", "--wait", "--json").stdout)
    assert out["w_0"]["text"] == "a edited"
    assert (w0 / "src" / "a.py").read_text() == "a = 'by w_0'\n"
    assert (swarm.workdir / "src" / "a.py").read_text() == "a = 1\n"
    assert (w1 / "src" / "a.py").read_text() == "a = 1\n"
    leases = coord(swarm, "leases")  # repo-relative, in the project's scope
    assert [(le["path"], le["holder"]) for le in leases] == [("src/a.py", "w_0#1")]

    # the same path in the other worktree is denied, naming the holder
    out = json.loads(swarm.cli("send", "w", "1", "edit a", "--wait", "--json").stdout)
    assert out["w_1"]["text"] == "a refused"
    denial = last_input(swarm, "w_1")
    assert "src/a.py" in denial and "w_0#1" in denial
    assert (w1 / "src" / "a.py").read_text() == "a = 1\n"

    # the agent's shell runs in its worktree
    swarm.cli("send", "w", "1", "where are you", "--wait")
    assert (w1 / "where.txt").read_text().strip() == str(w1)
    assert not (swarm.workdir / "where.txt").exists()

    # down keeps the worktrees; up again resumes in them
    swarm.cli("down", "w")
    assert (w0 / "src" / "a.py").read_text() == "a = 'by w_0'\n"
    swarm.up(2, script, *UP)
    trees = worktrees(swarm)
    assert trees["w_0"]["dirty"] == ["src/a.py"] and not trees["w_0"]["merged"]
    assert trees["w_1"]["dirty"] == ["where.txt"]

    # purge refuses, naming each worktree and what would be lost; nothing removed
    refused = swarm.cli("down", "w", "--purge", check=False)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert lines[0].startswith("codeswarm: error: swarm w is down; not purged: swarm w: 2 ")
    assert "--force" in lines[0] and len(lines) == 3
    assert str(w0) in lines[1] and "src/a.py" in lines[1]
    assert str(w1) in lines[2] and "where.txt" in lines[2]
    assert (w0 / "src" / "a.py").exists() and swarm.run_dir.exists()
    # nor does cleaning ended sessions throw that work away
    kept = swarm.cli("sessions", "clean", "w")
    assert kept.stdout.startswith("kept w: swarm w: 2 worktrees hold work")
    assert (w0 / "src" / "a.py").exists() and swarm.run_dir.exists()
    # nor does starting it anew with --replace
    replaced = swarm.cli(*swarm.up_args(2, script, *UP, "--model", "m2", "--replace"), check=False)
    assert replaced.returncode == 2 and replaced.stderr.count("\n") == 1
    assert "--replace: " in replaced.stderr and str(w0) in replaced.stderr
    assert (w0 / "src" / "a.py").read_text() == "a = 'by w_0'\n"

    forced = swarm.cli("down", "w", "--purge", "--force")
    assert "run directory deleted" in forced.stdout
    assert "removed with its work" in forced.stderr
    assert not swarm.run_dir.exists()
    assert git(swarm.workdir, "for-each-ref", "--format=%(refname:short)", "refs/heads/") == (
        "main\nother"
    )
    assert git(swarm.workdir, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert (swarm.workdir / "src" / "a.py").read_text() == "a = 1\n"


def test_a_live_worktree_is_never_removed(swarm_factory: Callable[[str], Swarm]) -> None:
    swarm, _ = worktree_swarm(swarm_factory, "l")
    swarm.up(1, {"agents": {"0": ["idle"]}}, *UP)
    from codeswarm.control.worktrees.purge import PurgeRefusedError, purge
    from codeswarm.core.swarm import RunDir

    run = RunDir(swarm.run_dir)
    with pytest.raises(PurgeRefusedError) as refused:
        purge(run.load_spec(), run, force=True)
    assert "in use" in str(refused.value) and "its worker runs" in refused.value.lines[0]
    assert (run.worktree("l_0") / ".git").exists()


def test_leases_across_worktrees_can_be_turned_off(swarm_factory: Callable[[str], Swarm]) -> None:
    swarm, _ = worktree_swarm(swarm_factory, "o")
    edit = [{"when": "edit a", "patch": update("src/a.py", "a = 1", "a = 2")}, {"text": "done"}]
    swarm.up(2, {"agents": {"0": edit, "1": edit}}, *UP, "--no-worktree-leases")
    for rank in (0, 1):
        out = json.loads(swarm.cli("send", "o", str(rank), "edit a", "--wait", "--json").stdout)
        assert out[f"o_{rank}"]["text"] == "done"
        assert (swarm.run_dir / "worktrees" / f"o_{rank}" / "src" / "a.py").read_text() == "a = 2\n"


def test_bad_input_is_one_line_and_starts_nothing(swarm_factory: Callable[[str], Swarm]) -> None:
    swarm = swarm_factory("b")
    swarm.env.update(GIT_ENV)
    script = {"agents": {"0": ["idle"]}}
    cases = [
        ((), "is not in a git repository"),
        (("--no-worktree-leases",), "is not in a git repository"),
    ]
    for extra, says in cases:
        proc = swarm.cli(*swarm.up_args(1, script, *UP, *extra), check=False)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and says in proc.stderr
        assert not swarm.run_dir.exists()
    make_repo(swarm.workdir, origin=False)
    git(swarm.workdir, "checkout", "-q", "--detach")
    for extra, says in [
        ((), "detached HEAD"),
        (("--base", "nope"), "--base 'nope': no such commit"),
        (("--into", "nope"), "--into 'nope': no such branch"),
    ]:
        proc = swarm.cli(*swarm.up_args(1, script, *UP, *extra), check=False)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and says in proc.stderr
        assert not swarm.run_dir.exists()
    refs = git(swarm.workdir, "for-each-ref", "--format=%(refname:short)", "refs/heads/")
    assert refs == "main"
    args = swarm.up_args(1, script, "--no-worktree-leases")
    proc = swarm.cli(*args, check=False)
    assert proc.returncode == 2 and "--no-worktree-leases only applies" in proc.stderr
    proc = swarm.cli("down", "b", "--force", check=False)
    assert proc.returncode == 2 and "--force only applies with --purge" in proc.stderr
