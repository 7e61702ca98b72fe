"""The merge queue's engine on plain git repositories (no Codex, no workers): order, each change
once, conflicts, bisection counts, compare-and-swap, a dirty target, a check that cannot start,
submission's bad input."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitkit import GIT_ENV, Project, git

from codeswarm.control.merge import journal
from codeswarm.control.merge.engine import MergeQueue
from codeswarm.control.merge.submit import submit
from codeswarm.core.errors import UsageError


@pytest.fixture(autouse=True)
def _git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def queue_of(tmp_path: Path) -> Iterator[object]:
    writers = []

    def make(p: Project) -> MergeQueue:
        w = journal.open_writer(p.run)
        writers.append(w)
        return MergeQueue(p.run, p.spec, writer=w)

    yield make
    for w in writers:
        w.close()


def drain(q: MergeQueue, rounds: int = 10) -> None:
    for _ in range(rounds):
        if not journal.state(q.run).pending:
            return
        q.step()
    raise AssertionError("the queue did not drain")


def log_check(tmp: Path) -> str:
    """A check that records each commit it ran on (outside the tree) and fails on BAD."""
    return f"git rev-parse HEAD >> {tmp}/checked; ! grep -q BAD a.txt"


def first_parents(p: Project) -> list[str]:
    return git(p.root, "rev-list", "--first-parent", f"{p.base}..main").split()


def test_three_changes_merged_in_order_each_once(tmp_path: Path, queue_of) -> None:
    p = Project(tmp_path, check=log_check(tmp_path))
    q = queue_of(p)
    ids = []
    for i, agent in enumerate(p.agents):
        p.edit_line(agent, 5 + 10 * i, f"{agent} was here", commit=False)
        ids.append(submit(p.run, p.spec, agent, f"change {i}").id)
        q.step()  # one at a time: every state main takes is checked
    text = p.main_file()
    for agent in p.agents:
        assert text.count(f"{agent} was here") == 1
    tips = first_parents(p)
    assert len(tips) == 3  # one merge commit per submission, in submission order
    subjects = [git(p.root, "log", "-1", "--format=%s", t) for t in reversed(tips)]
    assert [s.split(": ", 1)[1] for s in subjects] == ["change 0", "change 1", "change 2"]
    checked = set((tmp_path / "checked").read_text().split())
    assert set(tips) <= checked  # the check ran on every state main took
    # each agent's commit once in main's history; the project tree follows main (it was clean)
    for agent in p.agents:
        tip = git(p.root, "rev-parse", f"codeswarm/s/{agent}")
        assert git(p.root, "rev-list", "--count", f"{tip}^..{tip}") == "1"
    assert git(p.root, "rev-parse", "HEAD") == p.tip()
    assert (p.root / "a.txt").read_text() == text + "\n" or (p.root / "a.txt").read_text() == text
    assert p.ended() == dict.fromkeys(ids, "merged")
    merged = p.records(journal.MERGED)
    assert [r["agent"] for r in merged] == p.agents


def test_a_batch_is_checked_once_and_merged_in_order(tmp_path: Path, queue_of) -> None:
    p = Project(tmp_path, check=log_check(tmp_path))
    for i, agent in enumerate(p.agents):
        p.edit_line(agent, 5 + 10 * i, f"{agent} was here")
        submit(p.run, p.spec, agent)
    done = queue_of(p).step()
    assert done.checks == 1 and len(done.merged) == 3
    assert len((tmp_path / "checked").read_text().split()) == 1
    assert (tmp_path / "checked").read_text().split() == [p.tip()]
    subjects = git(p.root, "log", "--first-parent", "--format=%s", f"{p.base}..main").splitlines()
    assert [s.split()[1] for s in reversed(subjects)] == [f"codeswarm/s/{a}" for a in p.agents]


def test_conflict_rejected_with_paths_then_fixed_and_merged(tmp_path: Path, queue_of) -> None:
    p = Project(tmp_path, agents=2)
    q = queue_of(p)
    first, second = p.agents
    p.edit_line(first, 7, "first's line 7")
    p.edit_line(second, 7, "second's line 7")
    a = submit(p.run, p.spec, first, "first").id
    b = submit(p.run, p.spec, second, "second").id
    drain(q)
    assert p.ended() == {a: "merged", b: "rejected"}
    rejected = p.records(journal.REJECTED)[0]
    assert rejected["reason"] == "conflict" and rejected["paths"] == ["a.txt"]
    assert "first's line 7" in p.main_file()
    # the agent fixes it: merges main, resolves, commits, submits again
    tree = p.tree(second)
    out = os.system(f"cd {tree} && git merge -q main >/dev/null 2>&1")
    assert out != 0  # the conflict, for real
    lines = (tree / "a.txt").read_text().splitlines()
    start = lines.index(next(x for x in lines if x.startswith("<<<<<<<")))
    end = lines.index(next(x for x in lines if x.startswith(">>>>>>>")))
    lines[start : end + 1] = ["first's and second's line 7"]
    (tree / "a.txt").write_text("\n".join(lines) + "\n")
    c = submit(p.run, p.spec, second, "second, resolved").id
    drain(q)
    assert p.ended() == {a: "merged", b: "rejected", c: "merged"}
    assert "first's and second's line 7" in p.main_file()


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize(
    ("n", "bad"),
    [(1, 0), (2, 0), (2, 1), (3, 2), (4, 0), (4, 1), (4, 2), (4, 3), (8, 0), (8, 5), (8, 7)],
)
def test_bisection_finds_the_bad_one_in_log_n(
    tmp_path: Path, queue_of, monkeypatch: pytest.MonkeyPatch, n: int, bad: int, jobs: str
) -> None:
    monkeypatch.setenv("CODESWARM_MERGE_JOBS", jobs)
    p = Project(tmp_path, agents=n, check="echo check-output-marker; " + log_check(tmp_path))
    ids = []
    for i, agent in enumerate(p.agents):
        text = f"{agent} BAD" if i == bad else f"{agent} ok"
        p.edit_line(agent, 1 + 4 * i, text)
        ids.append(submit(p.run, p.spec, agent).id)
    drain(queue_of(p))
    ended = p.ended()
    assert ended == {sid: ("rejected" if i == bad else "merged") for i, sid in enumerate(ids)}
    checks = len(p.records(journal.TESTING))
    assert checks - 1 <= 1 + math.ceil(math.log2(n))  # extra runs beyond the first
    assert len(p.records(journal.MERGED)) == n - 1
    rejected = p.records(journal.REJECTED)[0]
    assert rejected["reason"] == "check" and "check-output-marker" in rejected["output"]
    assert "BAD" not in p.main_file()
    checked = set((tmp_path / "checked").read_text().split())
    assert p.tip() in checked or (n == 1 and p.tip() == p.base)


def test_target_moved_during_the_check_is_never_overwritten(tmp_path: Path, queue_of) -> None:
    p = Project(tmp_path, agents=1)
    agent = p.agents[0]
    git(p.root, "checkout", "-q", "-b", "elsewhere")  # main checked out nowhere: update-ref
    p.edit_line(agent, 3, "agent's line 3")
    sid = submit(p.run, p.spec, agent).id
    q = queue_of(p)
    person = tmp_path / "person"
    git(p.root, "worktree", "add", "-q", "--detach", str(person), "main")
    (person / "b.txt").write_text("the person's b\n")
    git(person, "commit", "-q", "-am", "person")
    moved = git(person, "rev-parse", "HEAD")
    real = q.run_checks

    def check_then_move(trees):  # the person's commit lands on main while the check runs
        git(p.root, "update-ref", "refs/heads/main", moved)
        return real(trees)

    q.spec = q.spec.__class__(**{**{f: getattr(q.spec, f) for f in q.spec.__struct_fields__},
                                 "check": "true"})  # fmt: skip
    q.run_checks = check_then_move  # type: ignore[method-assign]
    done = q.step()
    assert done.merged == [] and p.tip() == moved  # the CAS refused the stale state
    q.run_checks = real  # type: ignore[method-assign]
    drain(q)
    assert p.ended() == {sid: "merged"}
    assert git(p.root, "merge-base", "--is-ancestor", moved, "main") == ""
    assert "agent's line 3" in p.main_file() and "the person's b" in p.main_file("b.txt")


def test_dirty_target_tree_waits_and_says_why(tmp_path: Path, queue_of) -> None:
    p = Project(tmp_path, agents=1, check=log_check(tmp_path))
    agent = p.agents[0]
    p.edit_line(agent, 3, "agent's line 3")
    sid = submit(p.run, p.spec, agent).id
    (p.root / "b.txt").write_text("the person's unsaved work\n")
    q = queue_of(p)
    before = p.tip()
    done = q.step()
    assert done.merged == [] and p.tip() == before
    waiting = p.records(journal.WAITING)
    assert len(waiting) == 1
    why = waiting[0]["why"]
    assert "main is checked out in" in why and "b.txt" in why and "\n" not in why
    q.step()  # still dirty: no second record, nothing moves
    assert len(p.records(journal.WAITING)) == 1 and p.tip() == before
    assert (p.root / "b.txt").read_text() == "the person's unsaved work\n"
    git(p.root, "checkout", "--", "b.txt")
    q.step()
    assert p.ended() == {sid: "merged"}
    assert len((tmp_path / "checked").read_text().split()) == 1  # not checked again
    assert "agent's line 3" in (p.root / "a.txt").read_text()


def test_check_that_cannot_start_holds_the_queue(tmp_path: Path, queue_of) -> None:
    p = Project(tmp_path, agents=1, check="/nonexistent/check-command --all")
    agent = p.agents[0]
    p.edit_line(agent, 3, "x")
    submit(p.run, p.spec, agent)
    before = p.tip()
    done = queue_of(p).step()
    assert done.waiting is not None and "cannot start" in done.waiting
    assert "/nonexistent/check-command" in done.waiting and "\n" not in done.waiting
    assert p.ended() == {} and p.tip() == before
    assert journal.state(p.run).waiting == done.waiting


def test_submit_bad_input_changes_nothing(tmp_path: Path) -> None:
    p = Project(tmp_path, agents=2)
    a, b = p.agents
    with pytest.raises(UsageError, match="nothing to submit"):
        submit(p.run, p.spec, a)
    git(p.root, "worktree", "remove", "--force", str(p.tree(b)))
    with pytest.raises(UsageError, match="has no worktree"):
        submit(p.run, p.spec, b)
    git(p.root, "worktree", "add", "-q", "--detach", str(p.tree(b)), "main")
    git(p.root, "branch", "-D", f"codeswarm/s/{b}")
    with pytest.raises(UsageError, match=f"branch codeswarm/s/{b} does not exist"):
        submit(p.run, p.spec, b)
    with pytest.raises(UsageError, match="no agent"):
        submit(p.run, p.spec, "s_9")
    p.write_spec(isolation="shared")
    with pytest.raises(UsageError, match="does not use worktrees"):
        submit(p.run, p.spec, a)
    assert journal.records(p.run) == []


def test_resubmitting_the_same_commit_is_the_same_submission(tmp_path: Path) -> None:
    p = Project(tmp_path, agents=1)
    agent = p.agents[0]
    p.edit_line(agent, 2, "y", commit=False)
    one = submit(p.run, p.spec, agent, "y")
    assert one.committed and one.position == 1
    again = submit(p.run, p.spec, agent, "y")
    assert again.id == one.id and not again.committed
    assert len(p.records(journal.QUEUED)) == 1
    author = git(p.tree(agent), "log", "-1", "--format=%an|%s")
    assert author == f"codeswarm agent {agent}|y"


def test_events_read_back(tmp_path: Path, queue_of) -> None:
    p = Project(tmp_path, agents=1, check="true")
    p.edit_line(p.agents[0], 2, "z")
    submit(p.run, p.spec, p.agents[0], "z")
    queue_of(p).step()
    types = [e["type"] for e in journal.merge_events(p.run)]
    assert types == ["merge.queued", "merge.testing", "merge.merged"]


def test_two_bad_ones_in_a_batch(tmp_path: Path, queue_of) -> None:
    p = Project(tmp_path, agents=6, check=log_check(tmp_path))
    ids = []
    for i, agent in enumerate(p.agents):
        p.edit_line(agent, 1 + 6 * i, f"{agent} BAD" if i in (1, 4) else f"{agent} ok")
        ids.append(submit(p.run, p.spec, agent).id)
    drain(queue_of(p))
    assert p.ended() == {
        sid: ("rejected" if i in (1, 4) else "merged") for i, sid in enumerate(ids)
    }
    assert "BAD" not in p.main_file()
    targets = {r["target"] for r in p.records(journal.MERGED)}
    assert targets <= set((tmp_path / "checked").read_text().split())


def test_a_check_that_takes_too_long_fails(
    tmp_path: Path, queue_of, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODESWARM_MERGE_CHECK_TIMEOUT", "1")
    p = Project(tmp_path, agents=1, check="echo started; sleep 60")
    p.edit_line(p.agents[0], 2, "slow")
    sid = submit(p.run, p.spec, p.agents[0]).id
    before = p.tip()
    queue_of(p).step()
    assert p.ended() == {sid: "rejected"} and p.tip() == before
    output = p.records(journal.REJECTED)[0]["output"]
    assert output.startswith("started") and "longer than 1 s" in output


def test_a_target_that_does_not_exist_waits(tmp_path: Path, queue_of) -> None:
    p = Project(tmp_path, agents=1, check="true")
    p.edit_line(p.agents[0], 2, "w")
    submit(p.run, p.spec, p.agents[0])
    p.write_spec(into="gone")
    done = queue_of(p).step()
    assert done.waiting == f"the target branch 'gone' does not exist in {p.root}"
    assert p.ended() == {} and p.records(journal.TESTING) == []
