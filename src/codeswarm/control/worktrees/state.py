"""What each agent's worktree holds (``codeswarm worktrees S``, ``down --purge``): its branch
ahead of and behind the target, uncommitted changes, whether all of it is merged, and whether a
live process works in it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from codeswarm.control.worktrees.create import branch_of, repository
from codeswarm.control.worktrees.git import count, dirty, rev
from codeswarm.core.errors import GitError

if TYPE_CHECKING:
    from codeswarm.core.swarm import RunDir, SwarmSpec


class WorktreeState(msgspec.Struct, kw_only=True):
    agent: str
    path: str
    branch: str
    exists: bool
    """The worktree's directory is there (a purged or never-created one is not)."""
    ahead: int | None
    """Commits on the branch that ``into`` does not have (None: no branch, or no ``into``)."""
    behind: int | None
    """Commits on ``into`` that the branch does not have."""
    unmerged: int | None
    """Of ``ahead``, those whose change ``into`` does not have either (a cherry-picked change
    counts as merged); None: unknown (no branch, no ``into``)."""
    dirty: list[str]
    """Paths with uncommitted changes (untracked files included, ignored ones not)."""
    merged: bool
    """Nothing would be lost by removing it: no unmerged commit, no uncommitted change."""
    in_use: str | None
    """Why it is in use (a live worker, a process working in it), else None."""

    def as_json(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]

    def losses(self) -> str | None:
        """What removing it would lose, as a phrase; None: nothing."""
        parts = []
        if self.unmerged is None and not self.merged:
            parts.append("its branch cannot be compared with the target (missing)")
        elif self.unmerged:
            parts.append(f"{self.unmerged} unmerged commit{'s' if self.unmerged != 1 else ''}")
        if self.dirty:
            n = len(self.dirty)
            shown = ", ".join(self.dirty[:3]) + (" …" if n > 3 else "")
            parts.append(f"{n} uncommitted change{'s' if n != 1 else ''} ({shown})")
        return "; ".join(parts) or None


def _proc_cwds() -> dict[str, int]:
    """Real working directory -> pid of every process of this machine we may look at."""
    out: dict[str, int] = {}
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return out
    me = os.getpid()
    for pid in pids:
        if int(pid) == me:
            continue
        try:
            out.setdefault(os.readlink(f"/proc/{pid}/cwd"), int(pid))
        except OSError:
            continue
    return out


def in_use(spec: SwarmSpec, run: RunDir) -> dict[str, str]:
    """agent -> why its worktree is in use: a live worker of the swarm (local), the swarm's
    Slurm job (its nodes cannot be looked into: every worktree counts as in use), or any process
    here whose working directory is in it."""
    from codeswarm.control.launch import backend_for
    from codeswarm.control.launch.local import live_workers

    agents = run.agents(spec)
    found: dict[str, str] = {}
    if run.spec_path.exists():
        for agent, pid in live_workers(run, spec).items():
            found[agent] = f"its worker runs (pid {pid})"
        if spec.backend != "local":
            try:
                running = backend_for(spec.backend).running(run)
            except Exception as exc:  # a backend that cannot be asked: assume it runs
                running = f"the swarm's {spec.backend} backend cannot tell ({exc})"
            if running:
                for agent in agents:
                    found.setdefault(agent, running)
    cwds = _proc_cwds()
    for agent in agents:
        if agent in found:
            continue
        top = os.path.realpath(run.worktree(agent))
        for cwd, pid in cwds.items():
            if cwd == top or cwd.startswith(top + "/"):
                found[agent] = f"process {pid} works in it"
                break
    return found


def state(spec: SwarmSpec, run: RunDir) -> list[WorktreeState]:
    """Every agent's worktree as it is now (the swarm must use ``isolation = "worktree"``)."""
    top = repository(spec)
    into = spec.into
    target = rev(top, f"refs/heads/{into}") if into else None
    used = in_use(spec, run)
    out = []
    for agent in run.agents(spec):
        where = run.worktree(agent)
        branch = branch_of(spec, agent)
        exists = (where / ".git").exists()
        tip = rev(top, f"refs/heads/{branch}")
        ahead = behind = unmerged = None
        if tip is not None and target is not None:
            ahead = count(top, f"{target}..{tip}")
            behind = count(top, f"{tip}..{target}")
            unmerged = _unmerged(top, target, tip, ahead)
        changes: list[str] = []
        if exists:
            try:
                changes = dirty(where)
            except GitError as exc:
                changes = [f"(cannot tell: {exc})"]
        if tip is None:
            merged = not exists  # nothing left of it
        elif unmerged is None:
            merged = False
        else:
            merged = unmerged == 0 and not changes
        out.append(WorktreeState(
            agent=agent, path=str(where), branch=branch, exists=exists, ahead=ahead,
            behind=behind, unmerged=unmerged, dirty=changes, merged=merged,
            in_use=used.get(agent),
        ))  # fmt: skip
    return out


def _unmerged(top: Path, target: str, tip: str, ahead: int) -> int:
    """Commits of ``target..tip`` whose change ``target`` does not have (by patch id)."""
    if ahead == 0:
        return 0
    from codeswarm.control.worktrees.git import git

    out = git(top, "rev-list", "--count", "--cherry-pick", "--right-only", "--no-merges",
              f"{target}...{tip}")  # fmt: skip
    return int(out.stdout.strip() or 0)
