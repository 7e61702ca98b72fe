"""Creating the agents' worktrees at ``up`` (``isolation = "worktree"``), before any worker
starts: each agent on branch ``codeswarm/<swarm>/<agent>`` in ``<run>/worktrees/<agent>``, from
the project's current HEAD (or ``--base``), with the ``.worktreeinclude`` files copied in."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from codeswarm.control.worktrees.git import current_branch, git, rev, toplevel
from codeswarm.control.worktrees.include import copy_included, included
from codeswarm.core.errors import GitError, UsageError

if TYPE_CHECKING:
    from codeswarm.core.swarm import RunDir, SwarmSpec

BRANCH_PREFIX = "codeswarm"


def branch_of(spec: SwarmSpec, agent: str) -> str:
    """The agent's branch: ``codeswarm/<swarm>/<agent>``."""
    return f"{BRANCH_PREFIX}/{spec.name}/{agent}"


def repository(spec: SwarmSpec) -> Path:
    """The top of the project's git working tree; UsageError when the project is not in one."""
    try:
        top = toplevel(spec.cwd)
    except GitError as exc:
        raise UsageError(f"--isolation worktree: {exc}") from exc
    if top is None:
        raise UsageError(f"--isolation worktree: {spec.cwd} is not in a git repository")
    return top


def resolve(spec: SwarmSpec, run: RunDir, previous: SwarmSpec | None) -> SwarmSpec:
    """``spec`` with ``base_commit`` and ``into`` filled in: kept from ``previous`` (an earlier
    `up` of the swarm), else resolved now. UsageError (nothing created) for a project that is not
    a repository or has no commit, a bad ``--base``, a detached HEAD without ``--into``, an
    ``--into`` that is no branch, or a run directory inside the project."""
    top = repository(spec)
    real_top = os.path.realpath(top)
    real_run = os.path.realpath(run.root)
    if real_run == real_top or real_run.startswith(real_top.rstrip("/") + "/"):
        raise UsageError(
            f"--isolation worktree: the swarm's state ({run.root}) is inside the project {top}; "
            "worktrees must live outside it (unset CODESWARM_STATE_DIR or point it elsewhere)"
        )
    kept = previous if previous is not None and previous.isolation == "worktree" else None
    base = spec.base if spec.base is not None or kept is None else kept.base
    base_commit = kept.base_commit if kept is not None and base == kept.base else None
    if base_commit is None or rev(top, base_commit) is None:
        if rev(top, "HEAD") is None and base is None:
            raise UsageError(
                f"--isolation worktree: {top} has no commit yet (unborn HEAD): commit first"
            )
        ref = base or "HEAD"
        base_commit = rev(top, ref)
        if base_commit is None:
            raise UsageError(f"--base {ref!r}: no such commit in {top}")
    into = spec.into or (kept.into if kept is not None else None)
    if into is None:
        into = current_branch(top)
        if into is None:
            raise UsageError(
                f"--isolation worktree: {top} has a detached HEAD: name the branch to merge "
                "into with --into BRANCH"
            )
    elif rev(top, f"refs/heads/{into}") is None:
        raise UsageError(f"--into {into!r}: no such branch in {top}")
    return msgspec.structs.replace(spec, base=base, base_commit=base_commit, into=into)


def create(spec: SwarmSpec, run: RunDir) -> list[str]:
    """Create every agent's missing worktree (an existing one is kept; an existing branch is
    checked out again: the agent resumes its work). Returns warnings (files of
    ``.worktreeinclude`` not copied)."""
    assert spec.base_commit is not None
    top = repository(spec)
    missing = [a for a in run.agents(spec) if not (run.worktree(a) / ".git").exists()]
    if not missing:
        return []
    if not run.root.exists():
        run.root.mkdir(parents=True, mode=0o700)
        os.chmod(run.root, 0o700)
    (run.root / "worktrees").mkdir(exist_ok=True, mode=0o700)
    git(top, "worktree", "prune")  # registrations of worktrees whose directory is gone
    for agent in missing:
        where = run.worktree(agent)
        if where.exists():  # a directory without .git: a half-made worktree
            raise UsageError(
                f"{where} exists but is no worktree: move it away, then 'codeswarm up' again"
            )
    paths = included(top)
    base = spec.base_commit

    def make(agent: str) -> list[str]:
        where = run.worktree(agent)
        branch = branch_of(spec, agent)
        if rev(top, f"refs/heads/{branch}") is not None:
            git(top, "worktree", "add", "--quiet", str(where), branch)
        else:
            git(top, "worktree", "add", "--quiet", "-b", branch, str(where), base)
        return [
            f"{agent}'s worktree: .worktreeinclude: {line} (not copied)"
            for line in copy_included(top, paths, where)
        ]

    # one at a time: `git worktree add` reads its siblings' metadata, and a sibling being made at
    # the same moment makes it fail ("failed to read .git/worktrees/<x>/commondir")
    warnings: list[str] = []
    for agent in missing:
        warnings += make(agent)
    return warnings


def prepare(spec: SwarmSpec, run: RunDir, previous: SwarmSpec | None = None) -> SwarmSpec:
    """At `up`, before launch (both backends): a worktree swarm's spec resolved
    (:func:`resolve`) and its worktrees created (:func:`create`); any other spec as it is.
    Warnings are said on stderr."""
    if spec.isolation != "worktree":
        return spec
    from codeswarm.core.errors import say

    spec = resolve(spec, run, previous)
    for warning in create(spec, run):
        say(f"warning: {warning}")
    return spec
