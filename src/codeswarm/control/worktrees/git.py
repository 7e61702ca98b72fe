"""The ``git`` boundary: every git command codeswarm runs goes through :func:`git` (a subprocess
with a timeout, git's own words as one line on failure). Nothing here knows about swarms."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from codeswarm.core.errors import GitError

GIT_TIMEOUT_S = 120.0
"""Seconds one git command may take (a worktree checkout of a large repository included)."""
_ISOLATED = {
    # git's answers must not depend on a pager, a prompt or the person's language
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_PAGER": "cat",
    "LC_ALL": "C",
    "GIT_OPTIONAL_LOCKS": "0",
}


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k.startswith(
        ("GIT_CONFIG", "GIT_AUTHOR_", "GIT_COMMITTER_"))}  # fmt: skip
    env.update(_ISOLATED)
    if extra:
        env.update(extra)
    return env


def git(
    cwd: str | Path,
    *args: str,
    check: bool = True,
    timeout: float = GIT_TIMEOUT_S,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``git -C cwd ARGS``; its output as text. Raises :class:`GitError` (one line) when it
    cannot run, times out, or (``check``) exits non-zero."""
    cmd = ["git", "-C", str(cwd), *args]
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            input=input,
            timeout=timeout,
            env=_env(env),
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed (not on PATH)") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} took longer than {timeout:g}s in {cwd}") from exc
    except OSError as exc:
        raise GitError(f"git {args[0]} could not run in {cwd}: {exc}") from exc
    out = subprocess.CompletedProcess(
        cmd,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )
    if check and out.returncode != 0:
        raise GitError(f"git {args[0]} failed in {cwd}: {first_line(out.stderr or out.stdout)}")
    return out


def first_line(text: str) -> str:
    """The first non-empty line of git's message, without its ``fatal:``/``error:`` prefix."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            for prefix in ("fatal: ", "error: "):
                line = line.removeprefix(prefix)
            return line[:300]
    return "no message"


def toplevel(path: str | Path) -> Path | None:
    """The top of the working tree holding ``path``; None when it is in no git repository."""
    out = git(path, "rev-parse", "--show-toplevel", check=False)
    if out.returncode != 0 or not out.stdout.strip():
        return None
    return Path(out.stdout.strip())


def rev(repo: str | Path, ref: str) -> str | None:
    """The commit ``ref`` names (``ref^{commit}``); None when it names none."""
    if ref.startswith("-"):
        return None  # never an option
    out = git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}",
              check=False)  # fmt: skip
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and sha else None


def current_branch(repo: str | Path) -> str | None:
    """The branch checked out at ``repo`` (short name); None on a detached HEAD."""
    out = git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    name = out.stdout.strip()
    return name if out.returncode == 0 and name else None


def branch_exists(repo: str | Path, branch: str) -> bool:
    return rev(repo, f"refs/heads/{branch}") is not None


def valid_branch_name(repo: str | Path, name: str) -> bool:
    return git(repo, "check-ref-format", "--branch", name, check=False).returncode == 0


def dirty(tree: str | Path, *, untracked: bool = True) -> list[str]:
    """``git status --porcelain`` of the working tree at ``tree``: what is not committed, one
    entry per path (ignored files never; untracked ones unless ``untracked=False``: then only
    changes to tracked files, staged or not)."""
    which = "--untracked-files=all" if untracked else "--untracked-files=no"
    out = git(tree, "status", "--porcelain=v1", "-z", which)
    paths = []
    skip = False
    for entry in (e for e in out.stdout.split("\0") if e):
        if skip:  # the source path of a rename
            skip = False
            continue
        paths.append(entry[3:])
        skip = entry[0] in "RC"
    return paths


def count(repo: str | Path, spec: str) -> int:
    """``git rev-list --count SPEC``."""
    return int(git(repo, "rev-list", "--count", spec).stdout.strip() or 0)


def worktrees(repo: str | Path) -> dict[str, str | None]:
    """Every worktree of the repository: its path -> its branch (short name; None: detached)."""
    out = git(repo, "worktree", "list", "--porcelain")
    found: dict[str, str | None] = {}
    path: str | None = None
    for line in out.stdout.splitlines():
        if line.startswith("worktree "):
            path = line[len("worktree ") :]
            found[path] = None
        elif line.startswith("branch ") and path is not None:
            found[path] = line[len("branch ") :].removeprefix("refs/heads/")
    return found
