"""Removing a swarm's worktrees (``down --purge``, ``up --replace``) without losing work: a
worktree goes (with its branch) only when everything on it is merged into the target and nothing
is uncommitted, unless forced; one a live process works in never goes, forced or not."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from codeswarm.control.worktrees.create import repository
from codeswarm.control.worktrees.git import git
from codeswarm.control.worktrees.state import in_use, state
from codeswarm.core.errors import PurgeRefusedError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from codeswarm.core.swarm import RunDir, SwarmSpec


def purge(spec: SwarmSpec, run: RunDir, *, force: bool) -> list[str]:
    """Remove every worktree of the swarm and its branch, then ``git worktree prune``. Raises
    :class:`PurgeRefusedError` (nothing removed) when one is in use (always), or holds unmerged
    commits or uncommitted changes (unless ``force``). Returns one line per worktree whose work
    was thrown away (``force``)."""
    if spec.isolation != "worktree":
        return []
    used = in_use(spec, run)
    if used:
        raise PurgeRefusedError(
            f"swarm {spec.name}: {len(used)} worktree{'s are' if len(used) != 1 else ' is'} in "
            "use by a live process: nothing removed (stop it first; --force does not override "
            "this)",
            [f"{run.worktree(a)}: {why}" for a, why in sorted(used.items())],
        )
    try:
        top = repository(spec)
    except UsageError as exc:
        if not force:
            raise UsageError(
                f"swarm {spec.name}'s worktrees cannot be checked ({exc}): --force removes them "
                "anyway"
            ) from exc
        return [f"{run.root / 'worktrees'}: removed unchecked ({exc})"]
    states = state(spec, run)
    at_risk = [(s, loss) for s in states if (loss := s.losses()) is not None]
    lines = [f"{s.path} (branch {s.branch}): {loss}" for s, loss in at_risk]
    if at_risk and not force:
        n = len(at_risk)
        raise PurgeRefusedError(
            f"swarm {spec.name}: {n} worktree{'s hold' if n != 1 else ' holds'} work that is "
            f"not merged into {spec.into}: nothing removed (--force removes "
            f"{'them' if n != 1 else 'it'} anyway)",
            lines,
        )
    for s in states:
        if s.exists:
            git(top, "worktree", "remove", "--force", "--force", s.path)
        if git(top, "rev-parse", "--verify", "--quiet", f"refs/heads/{s.branch}",
               check=False).returncode == 0:  # fmt: skip
            git(top, "branch", "-D", "--quiet", s.branch)
    if (run.root / "worktrees").exists():
        shutil.rmtree(run.root / "worktrees", ignore_errors=True)
    git(top, "worktree", "prune")
    return lines


def purge_run(
    spec: SwarmSpec, run: RunDir, *, force: bool, remove: Callable[[Path], object]
) -> list[str]:
    """``down --purge``: the worktrees (:func:`purge`), then the run directory (``remove``),
    then the registrations of any other worktree that was in it (the merge queue's scratch)."""
    lost = purge(spec, run, force=force)
    remove(run.root)
    if spec.isolation == "worktree":
        try:
            top = repository(spec)
        except UsageError:
            return lost
        git(top, "worktree", "prune")
    return lost
