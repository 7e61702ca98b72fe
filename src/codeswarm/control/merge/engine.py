"""The queue's work, one round at a time (:meth:`MergeQueue.step`): every waiting submission is
merged in order (``git merge --no-ff``, each change once in the target's history) onto the
target's tip in the scratch worktree ``<run>/merge/scratch``; the check runs on the result;
when it passes the target advances by compare-and-swap (``git update-ref NEW OLD``, or
``git merge --ff-only`` in the working tree that has the target checked out, only when that tree
is clean). When it fails, the batch is bisected over its prefixes (each prefix is a commit of the
sequential merge: nothing is merged twice) down to two candidates, then checked with each
candidate left out, side by side: the state that passes advances the target with every other
submission at once, and the one left out is rejected. A batch of ``SPECULATE_FROM`` or more has
its first half checked beside the whole. One bad submission among n: at most 1 + ⌈log₂ n⌉ check
runs beyond the first, about ⌈log₂ n⌉ check durations in all (``JOBS`` checks at once, each in a
scratch worktree of its own). A submission that conflicts with the batch before it waits for the
next round; one that conflicts with the target's tip itself is rejected with the conflicting
paths.

Crash safety: the target moves only by compare-and-swap to a commit whose check passed; a
submission ends with one ``merge.merged`` or ``merge.rejected`` record; a round cut short (a
kill mid-merge or mid-check) leaves only the scratch worktree dirty, reset by the next round,
and a submission already contained in the target when the queue starts again (a kill between
the advance and its record) is recorded merged then.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeswarm.control.merge import journal
from codeswarm.control.merge.journal import Submission
from codeswarm.control.proc import kill_group
from codeswarm.control.worktrees.git import dirty, git, rev
from codeswarm.core.errors import CodeswarmError, StopRequested, UsageError
from codeswarm.core.swarm import RunDir, SwarmSpec

if TYPE_CHECKING:
    from codeswarm.coordination import Coord
    from codeswarm.mailbox import Writer

log = logging.getLogger("codeswarm.merge")

CHECK_TIMEOUT_S = 3600.0
"""Seconds the check may run (``CODESWARM_MERGE_CHECK_TIMEOUT``); longer counts as failing."""
OUTPUT_CHARS = 2000
"""The most characters of the check's output carried in a rejection (its end: where it says why)."""
CAPTURE_BYTES = 1024 * 1024
"""The most bytes of the check's output kept while it runs (its end)."""
CANNOT_START = (126, 127)
"""``sh`` exit codes for a command that could not be started (not executable, not found)."""
JOBS = 2
"""Check runs at once while bisecting (``CODESWARM_MERGE_JOBS``; 1: one at a time)."""
SPECULATE_FROM = 4
"""A batch this large has its first half checked beside the whole (with ``JOBS`` ≥ 2): when
the whole fails, the bisection has already taken its first step."""
CANNOT_START_WHY = "the check command cannot start"
QUEUE_IDENTITY = {
    "GIT_AUTHOR_NAME": "codeswarm merge queue",
    "GIT_AUTHOR_EMAIL": "merge-queue@codeswarm.invalid",
    "GIT_COMMITTER_NAME": "codeswarm merge queue",
    "GIT_COMMITTER_EMAIL": "merge-queue@codeswarm.invalid",
}


@dataclass
class CheckResult:
    code: int
    output: str
    timed_out: bool = False

    @property
    def passed(self) -> bool:
        return self.code == 0 and not self.timed_out

    @property
    def cannot_start(self) -> bool:
        return self.code in CANNOT_START and not self.timed_out


@dataclass
class Probe:
    """A state to check: ``items`` merged in order, ending at ``commit``."""

    items: list[Submission]
    commit: str


@dataclass
class Held:
    """A tested state waiting for the target's working tree to be clean."""

    new: str
    old: str
    items: list[Submission]
    why: str = ""


@dataclass
class Round:
    """What one round did (for tests and the benchmark)."""

    merged: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    checks: int = 0
    waiting: str | None = None


def bounded(text: str, limit: int = OUTPUT_CHARS) -> str:
    """The end of ``text``, at most ``limit`` characters, saying what was cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return "[… " + f"{len(text) - limit + 40} characters cut …]\n" + text[-(limit - 40) :]


class MergeQueue:
    """The engine of one swarm's queue; synchronous (git and the check are subprocesses)."""

    def __init__(
        self,
        run: RunDir,
        spec: SwarmSpec | None = None,
        *,
        writer: Writer,
        coord: Coord | None = None,
        check_timeout: float | None = None,
        on_record: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.run = run
        self.spec = spec or run.load_spec()
        if not self.spec.into:
            raise UsageError(f"swarm {self.spec.name!r} has no target branch (--into)")
        self.into: str = self.spec.into
        self.repo = _repository(self.spec)
        self.scratch = run.merge_dir / "scratch"
        self.writer = writer
        self.coord = coord
        env_timeout = os.environ.get("CODESWARM_MERGE_CHECK_TIMEOUT")
        self.check_timeout = check_timeout or (float(env_timeout) if env_timeout else
                                               CHECK_TIMEOUT_S)  # fmt: skip
        self.on_record = on_record
        self.held: Held | None = None
        self.stopping = False
        self._checks: list[subprocess.Popen[bytes]] = []
        env_jobs = os.environ.get("CODESWARM_MERGE_JOBS")
        self.jobs = max(1, int(env_jobs)) if env_jobs and env_jobs.isdigit() else JOBS
        self._waiting: str | None = journal.state(run).waiting

    @property
    def waiting(self) -> str | None:
        """Why the queue is held (the last ``merge.waiting``), while it is."""
        return self._waiting

    # -- records --------------------------------------------------------------------------------
    def _append(self, kind: str, **fields: Any) -> dict[str, Any]:
        rec = dict(self.writer.append(kind, swarm=self.spec.name, **fields))
        if self.on_record is not None:
            self.on_record(rec)
        return rec

    def _audit(self, agent: str, kind: str, subject: str, data: dict[str, Any]) -> None:
        if self.coord is None or not agent:
            return
        try:
            self.coord.report(agent, kind, subject, data)
        except CodeswarmError as exc:
            log.warning("merge: no audit row for %s of %s: %s", kind, agent, exc)

    def _wait(self, why: str) -> None:
        if why != self._waiting:
            self._append(journal.WAITING, why=why)
            log.info("merge: waiting: %s", why)
            self._waiting = why

    def _merged(self, sub: Submission, target: str, *, already: bool = False) -> None:
        extra = {"already": True} if already else {}
        self._append(journal.MERGED, sub=sub.id, agent=sub.agent, branch=sub.branch,
                     commit=sub.commit, into=self.into, target=target, **extra)  # fmt: skip
        self._waiting = None
        log.info("merge: %s of %s merged into %s (%s)", sub.id, sub.agent, self.into, target[:12])
        self._audit(sub.agent, journal.MERGED, sub.id,
                    {"commit": sub.commit, "into": self.into, "target": target, **extra})  # fmt: skip

    def _rejected(self, sub: Submission, reason: str, *, paths: list[str] | None = None,
                  output: str | None = None, text: str) -> None:  # fmt: skip
        extra: dict[str, Any] = {}
        if paths is not None:
            extra["paths"] = paths
        if output is not None:
            extra["output"] = output
        if self.coord is not None and sub.agent:
            # told first, recorded second: a kill in between tells it again (at least once),
            # and the record stays the one end of the submission
            try:  # a coordination message: it wakes the agent
                self.coord.send(sub.agent, text)
            except CodeswarmError as exc:
                log.warning("merge: could not tell %s: %s", sub.agent, exc)
        self._append(journal.REJECTED, sub=sub.id, agent=sub.agent, branch=sub.branch,
                     commit=sub.commit, into=self.into, reason=reason, **extra)  # fmt: skip
        self._waiting = None
        log.info("merge: %s of %s rejected (%s)", sub.id, sub.agent, reason)
        self._audit(sub.agent, journal.REJECTED, sub.id,
                    {"commit": sub.commit, "reason": reason, **extra})  # fmt: skip

    # -- a round ---------------------------------------------------------------------------------
    def step(self) -> Round:
        """Process what waits: one round (a held state first). Raises :class:`StopRequested`."""
        done = Round()
        if self.held is not None:
            held, self.held = self.held, None
            if rev(self.repo, f"refs/heads/{self.into}") == held.old:
                self._advance(held, done)
                return done
            # the target moved while we waited: test again on its new tip
        pending = journal.state(self.run).pending
        if not pending:
            return done
        old = rev(self.repo, f"refs/heads/{self.into}")
        if old is None:
            self._wait(f"the target branch {self.into!r} does not exist in {self.repo}")
            done.waiting = self._waiting
            return done
        batch: list[Submission] = []
        for sub in pending:
            if _is_ancestor(self.repo, sub.commit, old):
                self._merged(sub, old, already=True)
                done.merged.append(sub.id)
            elif rev(self.repo, sub.commit) is None:
                self._rejected(sub, "missing", text=_missing_text(sub))
                done.rejected.append(sub.id)
            else:
                batch.append(sub)
        if not batch:
            return done
        self._reset_scratch(old)
        tips: list[str] = []
        merged: list[Submission] = []
        for sub in batch:
            out = git(self.scratch, "merge", "--no-ff", "--no-edit", "-m", _message(sub, self.into),
                      sub.commit, check=False, env=QUEUE_IDENTITY)  # fmt: skip
            if out.returncode == 0:
                tips.append(_head(self.scratch))
                merged.append(sub)
                continue
            paths = _conflicts(self.scratch)
            git(self.scratch, "merge", "--abort", check=False)
            git(self.scratch, "reset", "--hard", "--quiet", tips[-1] if tips else old, check=False)
            if merged:
                continue  # it conflicts with the batch before it: the next round tells
            if paths:
                self._rejected(sub, "conflict", paths=paths, text=_conflict_text(sub, self.into,
                                                                                 paths))  # fmt: skip
            else:
                why = (out.stderr or out.stdout).strip().splitlines()
                self._rejected(sub, "git", output=bounded("\n".join(why)),
                               text=_git_text(sub, self.into, why))  # fmt: skip
            done.rejected.append(sub.id)
        if not merged:
            return done
        self._settle(old, merged, tips, done)
        return done

    def _settle(self, old: str, batch: list[Submission], tips: list[str], done: Round) -> None:
        """Check the batch; on a failure find the submission that breaks it (see the module
        doc) and advance the target with every other one whose state passed."""
        if not self.spec.check:
            self._advance(Held(tips[-1], old, batch), done)
            return
        n = len(batch)

        def prefix(k: int) -> Probe:
            return Probe(batch[:k], tips[k - 1])

        probes = [prefix(n)]
        mid = n // 2
        if n >= SPECULATE_FROM and self.jobs >= 2:
            probes.append(prefix(mid))  # run beside the whole: the first step of a bisection
        results = self._check_all(probes, old, done)
        if results is None:
            return
        if results[0].passed:
            self._advance(Held(tips[-1], old, batch), done)
            return
        lo, hi, failing = 0, n, results[0]  # prefix lo passes (0: the target), prefix hi fails
        if len(results) > 1:
            if results[1].passed:
                lo = mid
            else:
                hi, failing = mid, results[1]
        while hi - lo > 2:  # down to two candidates
            k = (lo + hi) // 2
            found = self._check_all([prefix(k)], old, done)
            if found is None:
                return
            if found[0].passed:
                lo = k
            else:
                hi, failing = k, found[0]
        base = tips[lo - 1] if lo else old
        # each candidate left out: the state that passes merges every other submission at once
        candidates = list(range(lo + 1, hi + 1))
        leave_outs: list[tuple[int, Probe]] = []
        for c in candidates:
            start = tips[c - 2] if c >= 2 else old
            rest = batch[c:]
            if not rest:
                leave_outs.append((c, Probe(batch[: c - 1], start)))
                continue
            built = self._build(start, rest)
            if built is not None:
                leave_outs.append((c, Probe(batch[: c - 1] + rest, built)))
        # a leave-out that is the state lo itself passed already (lo = 0: the target's tip)
        unknown = [(c, probe) for c, probe in leave_outs if probe.commit != base]
        passing = [(c, probe) for c, probe in leave_outs if probe.commit == base]
        checked = self._check_all([probe for _, probe in unknown], old, done) if unknown else []
        if checked is None:
            return
        passing += [(c, probe) for (c, probe), r in zip(unknown, checked, strict=True) if r.passed]
        if passing:
            # both pass: the two break the check only together; the later one goes
            c, probe = max(passing, key=lambda x: x[0])
            self._reject_check(batch[c - 1], failing, done)  # prefix hi holds it: its output
            if probe.items:
                self._advance(Held(probe.commit, old, probe.items), done)
            return
        # neither passes: more than one breaks it; settle the first, the rest waits a round
        if hi - lo == 2:
            found = self._check_all([prefix(lo + 1)], old, done)
            if found is None:
                return
            if found[0].passed:
                lo = lo + 1
            else:
                hi, failing = lo + 1, found[0]
        self._reject_check(batch[hi - 1], failing, done)
        if lo > 0:
            self._advance(Held(tips[lo - 1], old, batch[:lo]), done)

    def _reject_check(self, bad: Submission, failing: CheckResult, done: Round) -> None:
        output = bounded(failing.output)
        self._rejected(bad, "check", output=output,
                       text=_check_text(bad, self.into, self.spec.check, failing, output))  # fmt: skip
        done.rejected.append(bad.id)

    def _build(self, start: str, items: list[Submission]) -> str | None:
        """``items`` merged in order onto ``start`` in the scratch worktree; None on a conflict."""
        self._reset_scratch(start)
        for sub in items:
            out = git(self.scratch, "merge", "--no-ff", "--no-edit", "-m", _message(sub, self.into),
                      sub.commit, check=False, env=QUEUE_IDENTITY)  # fmt: skip
            if out.returncode != 0:
                git(self.scratch, "merge", "--abort", check=False)
                return None
        return _head(self.scratch)

    def _check_all(self, probes: list[Probe], base: str, done: Round) -> list[CheckResult] | None:
        """Run the check on each probe's commit, ``jobs`` at a time (each in a scratch worktree
        of its own); None when the check cannot start (the queue waits). Each run has its
        ``merge.testing`` record first, or, while the queue waits for a check that could not
        start, once it did start (retries leave no record)."""
        out: list[CheckResult] = []
        for at in range(0, len(probes), self.jobs):
            group = probes[at : at + self.jobs]
            retrying = (self._waiting or "").startswith(CANNOT_START_WHY)
            if not retrying:
                for probe in group:
                    self._testing(probe.items, probe.commit, base)
            done.checks += len(group)
            trees = [self._slot(i, probe.commit) for i, probe in enumerate(group)]
            results = self.run_checks(trees)
            stuck = next((r for r in results if r.cannot_start), None)
            if stuck is not None:
                line = bounded(stuck.output, 300).replace("\n", " | ")
                self._wait(f"{CANNOT_START_WHY} (exit {stuck.code}): {line}")
                done.waiting = self._waiting
                return None
            if retrying:
                for probe in group:
                    self._testing(probe.items, probe.commit, base)
            out += results
        return out

    def _slot(self, i: int, commit: str) -> Path:
        """Check slot ``i``'s worktree (0: the scratch one) with ``commit`` checked out."""
        tree = self.scratch if i == 0 else self.scratch.with_name(f"scratch-{i}")
        if i and not (tree / ".git").exists():
            git(self.repo, "worktree", "prune", check=False)
            git(self.repo, "worktree", "add", "--quiet", "--detach", "--force", str(tree), commit)
            _copy_included(self.repo, tree)
        git(tree, "merge", "--abort", check=False)
        git(tree, "checkout", "--quiet", "--detach", "--force", commit)
        git(tree, "clean", "-ffdq")
        return tree

    def _testing(self, items: list[Submission], commit: str, base: str) -> None:
        self._append(journal.TESTING, ids=[s.id for s in items], commit=commit, base=base,
                     into=self.into)  # fmt: skip
        self._waiting = None
        for sub in items:
            self._audit(sub.agent, journal.TESTING, sub.id, {"commit": commit, "base": base})

    def run_checks(self, trees: list[Path]) -> list[CheckResult]:
        """The check in each of ``trees`` at once: ``sh -c CHECK`` in its own process group
        (killed whole on timeout or stop), output (stdout and stderr together) kept bounded."""
        assert self.spec.check is not None
        if self.stopping:
            raise StopRequested
        procs: list[tuple[subprocess.Popen[bytes] | None, Path, Path, str]] = []
        try:
            for i, tree in enumerate(trees):
                outfile = self.run.merge_dir / f"check-{i}.out"
                pidfile = self.run.merge_dir / f"check-{i}.pid"
                fd = os.open(outfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
                try:
                    proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                        ["/bin/sh", "-c", self.spec.check], cwd=tree,
                        stdin=subprocess.DEVNULL, stdout=fd, stderr=subprocess.STDOUT,
                        start_new_session=True,
                        env={**os.environ, "CODESWARM_MERGE_INTO": self.into},
                    )  # fmt: skip
                    error = ""
                except OSError as exc:
                    proc, error = None, f"cannot run /bin/sh: {exc}"
                finally:
                    os.close(fd)
                if proc is not None:
                    pidfile.write_text(f"{proc.pid}\n")
                    self._checks.append(proc)
                procs.append((proc, outfile, pidfile, error))
            deadline = time.monotonic() + self.check_timeout
            results: list[CheckResult] = []
            for proc, outfile, _pidfile, error in procs:
                if proc is None:
                    results.append(CheckResult(127, error))
                    continue
                timed_out = False
                try:
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    timed_out = True
                    kill_group(proc.pid, signal.SIGKILL)
                    proc.wait()
                output = _tail(outfile)
                if timed_out:
                    output += f"\n(the check took longer than {self.check_timeout:g} s: stopped)"
                results.append(CheckResult(proc.returncode, output, timed_out))
        finally:
            for proc, _outfile, pidfile, _error in procs:
                if proc is not None and proc.poll() is None:
                    kill_group(proc.pid, signal.SIGKILL)
                    proc.wait()
                with contextlib.suppress(FileNotFoundError):
                    pidfile.unlink()
            self._checks.clear()
        if self.stopping:
            raise StopRequested
        return results

    def stop(self) -> None:
        """Stop now: running checks are killed (their groups); the round records nothing more."""
        self.stopping = True
        for proc in list(self._checks):
            kill_group(proc.pid, signal.SIGKILL)

    def _reset_scratch(self, tip: str) -> None:
        """The scratch worktree, detached at ``tip``, clean (ignored files are kept: caches, and
        what ``.worktreeinclude`` copied), whatever a killed round left in it."""
        if not (self.scratch / ".git").exists():
            git(self.repo, "worktree", "prune", check=False)
            git(self.repo, "worktree", "add", "--quiet", "--detach", "--force", str(self.scratch),
                tip)  # fmt: skip
            _copy_included(self.repo, self.scratch)
            return
        git(self.scratch, "merge", "--abort", check=False)
        git(self.scratch, "checkout", "--quiet", "--detach", "--force", tip)
        git(self.scratch, "reset", "--hard", "--quiet", tip)
        git(self.scratch, "clean", "-ffdq")

    # -- advancing the target ---------------------------------------------------------------------
    def _advance(self, held: Held, done: Round) -> None:
        """Move the target from ``held.old`` to ``held.new`` (compare-and-swap), then record each
        submission merged; when the target is checked out in a dirty tree: hold and wait."""
        tree = _checked_out(self.repo, self.into, self.scratch)
        if tree is not None:
            dirty = _tracked_changes(tree)
            if dirty:
                shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5
                                                else "")  # fmt: skip
                self._wait(f"{self.into} is checked out in {tree} with uncommitted changes "
                           f"({shown}): the merge waits until that tree is clean")  # fmt: skip
                done.waiting = self._waiting
                self.held = held
                return
            if _head(tree) != held.old:
                return  # moved under us: the next round tests again
            out = git(tree, "merge", "--ff-only", "--quiet", held.new, check=False)
            if out.returncode != 0:
                why = (out.stderr or out.stdout).strip().splitlines()
                self._wait(f"{self.into} is checked out in {tree} and cannot be fast-forwarded: "
                           f"{why[0] if why else 'git refused'}")  # fmt: skip
                done.waiting = self._waiting
                self.held = held
                return
        else:
            out = git(self.repo, "update-ref", "-m", "codeswarm merge queue",
                      f"refs/heads/{self.into}", held.new, held.old, check=False)  # fmt: skip
            if out.returncode != 0:
                return  # the target moved: the next round tests again on its new tip
        for sub in held.items:
            self._merged(sub, held.new)
            done.merged.append(sub.id)


def kill_orphan_check(run: RunDir) -> None:
    """Checks left running by a killed queue process (their groups; only processes still
    running in a scratch worktree)."""
    from codeswarm.control.proc import pid_in

    for pidfile in sorted(run.merge_dir.glob("check-*.pid")):
        pid = pid_in(pidfile)
        if pid is not None:
            with contextlib.suppress(OSError):
                if Path(os.readlink(f"/proc/{pid}/cwd")).name.startswith("scratch"):
                    kill_group(pid, signal.SIGKILL)
                    deadline = time.monotonic() + 5
                    while _running(pid) and time.monotonic() < deadline:
                        time.sleep(0.05)
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _tail(path: Path) -> str:
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - CAPTURE_BYTES))
        return f.read().decode("utf-8", "replace")


# -- git helpers ----------------------------------------------------------------------------------
def _repository(spec: SwarmSpec) -> Path:
    """The top of the project's working tree (the swarm's ``cwd``)."""
    from codeswarm.control.worktrees.git import toplevel

    top = toplevel(spec.cwd)
    if top is None:
        raise UsageError(f"{spec.cwd} is not in a git repository")
    return top


def _head(tree: Path | str) -> str:
    return git(tree, "rev-parse", "HEAD").stdout.strip()


def _is_ancestor(repo: Path, commit: str, of: str) -> bool:
    return git(repo, "merge-base", "--is-ancestor", commit, of, check=False).returncode == 0


def _conflicts(tree: Path) -> list[str]:
    out = git(tree, "diff", "--name-only", "--diff-filter=U", "-z", check=False)
    return sorted({p for p in out.stdout.split("\0") if p})


def _checked_out(repo: Path, branch: str, scratch: Path) -> Path | None:
    """The working tree that has ``branch`` checked out, if any (the scratch one never does)."""
    from codeswarm.control.worktrees.git import worktrees

    for path, name in worktrees(repo).items():
        if name == branch and Path(path) != scratch:
            return Path(path)
    return None


def _tracked_changes(tree: Path) -> list[str]:
    """Changes to tracked files (staged or not) in ``tree``; untracked files do not count (a
    fast-forward that would overwrite one is refused by git itself)."""
    return dirty(tree, untracked=False)


def _copy_included(repo: Path, scratch: Path) -> None:
    """What ``.worktreeinclude`` names (gitignored files such as ``.env``), as the agents'
    worktrees get it, so that the check sees the same files."""
    from codeswarm.control.worktrees.include import copy_included, included

    copy_included(repo, included(repo), scratch)


def _message(sub: Submission, into: str) -> str:
    summary = sub.summary.strip().splitlines()[0] if sub.summary.strip() else "(no summary)"
    return (
        f"Merge {sub.branch} into {into}: {summary}\n\ncodeswarm merge queue, submission {sub.id}"
    )


# -- what the agent is told ----------------------------------------------------------------------
def _head_line(sub: Submission) -> str:
    return f"codeswarm merge queue: your submission {sub.id} ({sub.commit[:12]}"


def _conflict_text(sub: Submission, into: str, paths: list[str]) -> str:
    return (
        f"{_head_line(sub)}) was rejected: it conflicts with {into} in {', '.join(paths)}. "
        f"Bring those files up to date with {into} (`git show {into}:PATH` prints its version; "
        f"`git merge {into}` where you may write to git), keep your change where it does not "
        "conflict, and submit again."
    )


def _check_text(sub: Submission, into: str, check: str | None, result: CheckResult,
                output: str) -> str:  # fmt: skip
    how = "timed out" if result.timed_out else f"failed (exit {result.code})"
    return (
        f"{_head_line(sub)}) was rejected: the check `{check}` {how} on {into} with your "
        f"change merged. Its output (the end):\n{output}\nFix it on your branch and submit again."
    )


def _git_text(sub: Submission, into: str, why: list[str]) -> str:
    said = " | ".join(why[:3]) or "git refused"
    return f"{_head_line(sub)}) was rejected: git could not merge it into {into}: {said}"


def _missing_text(sub: Submission) -> str:
    return f"{_head_line(sub)}) was rejected: that commit no longer exists in the repository."
