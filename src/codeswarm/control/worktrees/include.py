"""``.worktreeinclude``: files the project keeps out of git (``.env``, local settings) that every
agent's worktree needs, copied in when the worktree is created.

The file sits at the project root and uses gitignore syntax; what it matches among the files git
does not track (``git ls-files --others --ignored --exclude-from=.worktreeinclude``) is copied,
keeping relative paths and modes. A symlink is copied as a symlink only when it points inside the
project; nothing is ever read through a link that leaves it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from codeswarm.control.worktrees.git import git

INCLUDE_FILE = ".worktreeinclude"


def included(top: Path) -> list[str]:
    """The paths (relative to ``top``) ``.worktreeinclude`` asks for; none without the file."""
    if not (top / INCLUDE_FILE).is_file():
        return []
    out = git(top, "ls-files", "-z", "--others", "--ignored", f"--exclude-from={INCLUDE_FILE}")
    return sorted(p for p in out.stdout.split("\0") if p)


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def copy_included(top: Path, paths: list[str], dest: Path) -> list[str]:
    """Copy ``paths`` from ``top`` into ``dest`` (a fresh worktree). Returns what was skipped
    and why (a link out of the project, a path that is not a file), one line each."""
    real_top = os.path.realpath(top)
    skipped: list[str] = []
    for rel in paths:
        src = top / rel
        target = dest / rel
        # every parent must be a directory of the project itself (not a link elsewhere)
        if not _inside(os.path.realpath(src.parent), real_top):
            skipped.append(f"{rel}: its directory leads out of the project")
            continue
        try:
            st = src.lstat()
        except OSError:
            continue  # gone meanwhile
        if os.path.lexists(target):
            continue  # never over what the worktree has
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            if not _inside(os.path.realpath(src), real_top):
                skipped.append(f"{rel}: a symlink out of the project")
                continue
            os.symlink(os.readlink(src), target)
        elif src.is_file():
            shutil.copy2(src, target, follow_symlinks=False)
            os.chmod(target, st.st_mode & 0o7777)
        else:
            skipped.append(f"{rel}: not a regular file")
    return skipped
