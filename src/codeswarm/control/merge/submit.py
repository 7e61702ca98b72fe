"""Submitting an agent's branch to the merge queue (the MCP tool ``submit``, ``codeswarm merge
submit``): the agent's uncommitted work is committed on its branch first (``git add -A``, the
summary as the message, author ``codeswarm agent <agent>``), then a ``merge.queued`` record is
appended to the journal. The queue process takes it from there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeswarm.control.merge import journal
from codeswarm.control.worktrees.git import current_branch, git, rev
from codeswarm.core.errors import GitError, UsageError
from codeswarm.core.swarm import RunDir, SwarmSpec

SUMMARY_CHARS = 4000
"""The most characters of a summary (the commit message's and the record's)."""


@dataclass
class Submitted:
    id: str
    position: int
    """Where it stands among the submissions not yet merged or rejected (1: next)."""
    commit: str
    branch: str
    committed: bool
    """Whether uncommitted work was committed first."""

    def as_json(self) -> dict[str, Any]:
        return {"queued": self.id, "position": self.position, "commit": self.commit,
                "branch": self.branch, "committed": self.committed}  # fmt: skip


def agent_branch(spec: SwarmSpec, agent: str) -> str:
    from codeswarm.control.worktrees.create import branch_of

    return branch_of(spec, agent)


def submit(run: RunDir, spec: SwarmSpec, agent: str, summary: str = "") -> Submitted:
    """Submit ``agent``'s branch. Refused (:class:`UsageError`, nothing changed) when the swarm
    does not use worktrees, the agent has no worktree or branch, the worktree is not on that
    branch, or the branch has nothing the target does not have."""
    if spec.isolation != "worktree":
        raise UsageError(f"swarm {spec.name!r} does not use worktrees (--isolation worktree): "
                         "there is no merge queue")  # fmt: skip
    if agent not in run.agents(spec):
        raise UsageError(f"swarm {spec.name!r} has no agent {agent!r}")
    summary = summary.strip()
    if len(summary) > SUMMARY_CHARS:
        raise UsageError(f"the summary is {len(summary)} characters: at most {SUMMARY_CHARS}")
    branch = agent_branch(spec, agent)
    tree = run.worktree(agent)
    try:
        return _submit(run, spec, agent, summary, branch, tree)
    except GitError as exc:
        raise UsageError(f"cannot submit {agent}'s work: {exc}") from exc


def _submit(
    run: RunDir, spec: SwarmSpec, agent: str, summary: str, branch: str, tree: Path
) -> Submitted:
    if not (tree / ".git").exists():
        raise UsageError(f"agent {agent} has no worktree ({tree} does not exist)")
    if rev(tree, f"refs/heads/{branch}") is None:
        raise UsageError(f"branch {branch} does not exist")
    on = current_branch(tree)
    if on != branch:
        raise UsageError(f"{tree} is not on {branch} (it is on {on or 'a detached HEAD'}): "
                         f"check out {branch} there first")  # fmt: skip
    into = spec.into
    committed = False
    if git(tree, "status", "--porcelain", "--untracked-files=all").stdout.strip():
        git(tree, "add", "-A")
        message = summary or f"Work of {agent}"
        who = f"codeswarm agent {agent}"
        email = f"{agent}@codeswarm.invalid"
        ident = {"GIT_AUTHOR_NAME": who, "GIT_AUTHOR_EMAIL": email,
                 "GIT_COMMITTER_NAME": who, "GIT_COMMITTER_EMAIL": email}  # fmt: skip
        git(tree, "commit", "--quiet", "--no-verify", "-m", message, env=ident)
        committed = True
    tip = rev(tree, f"refs/heads/{branch}")
    assert tip is not None
    if into:
        target = rev(tree, f"refs/heads/{into}")
        if target is not None and git(tree, "merge-base", "--is-ancestor", tip, target,
                                      check=False).returncode == 0:  # fmt: skip
            raise UsageError(f"nothing to submit: {branch} has no commit that {into} does not "
                             "have (change something first)")  # fmt: skip
    if not summary:
        summary = git(tree, "log", "-1", "--format=%s", tip).stdout.strip()
    writer = journal.open_writer(run)
    try:
        pending = journal.state(run).pending
        same = [s for s in pending if s.agent == agent and s.commit == tip]
        if same:  # submitted already and still waiting: the same submission
            return Submitted(same[0].id, pending.index(same[0]) + 1, tip, branch, committed)
        rec = writer.append(journal.QUEUED, swarm=spec.name, agent=agent, branch=branch,
                            commit=tip, summary=summary)  # fmt: skip
    finally:
        writer.close()
    _audit(spec, agent, str(rec["id"]), tip, branch)
    return Submitted(str(rec["id"]), len(pending) + 1, tip, branch, committed)


def _audit(spec: SwarmSpec, agent: str, sid: str, tip: str, branch: str) -> None:
    """The ``merge.queued`` audit row (best effort: the journal is the record)."""
    if not spec.coord:
        return
    from codeswarm.coordination import Coord
    from codeswarm.core.errors import CodeswarmError
    from codeswarm.core.swarm import swarm_scope

    try:
        with Coord.open(spec.coord_db, root=swarm_scope(spec)) as coord:
            coord.report(agent, journal.QUEUED, sid, {"commit": tip, "branch": branch})
    except CodeswarmError:
        pass
