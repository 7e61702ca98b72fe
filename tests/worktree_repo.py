"""Real git repositories for the worktree tests: isolated from the machine's git config."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def isolate_git() -> None:
    """This process's git (and its children's) ignores the machine's configuration."""
    os.environ.update(GIT_ENV)


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def make_repo(path: Path, *, origin: bool = True) -> dict[str, str]:
    """A repository on ``main`` with src/a.py, src/b.py, a .gitignore'd ``.env`` listed in
    ``.worktreeinclude``, and (``origin``) a bare origin whose HEAD points to branch ``other``
    (a commit ``main`` does not have). Returns the commits: ``main``, ``other``."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    (path / "src").mkdir()
    (path / "src" / "a.py").write_text("a = 1\n")
    (path / "src" / "b.py").write_text("b = 1\n")
    (path / ".gitignore").write_text(".env\nsecrets/\nbuild/\n")
    (path / ".worktreeinclude").write_text(".env\nsecrets/\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    out = {"main": git(path, "rev-parse", "HEAD")}
    (path / ".env").write_text("TOKEN=local-only\n")
    os.chmod(path / ".env", 0o600)
    (path / "secrets").mkdir()
    (path / "secrets" / "key.txt").write_text("k\n")
    (path / "build").mkdir()
    (path / "build" / "big.o").write_text("not wanted\n")
    if origin:
        bare = path.parent / f"{path.name}-origin.git"
        git(path.parent, "init", "-q", "--bare", str(bare))
        git(path, "remote", "add", "origin", str(bare))
        git(path, "push", "-q", "origin", "main")
        git(path, "checkout", "-q", "-b", "other")
        (path / "src" / "a.py").write_text("a = 'other'\n")
        git(path, "commit", "-q", "-am", "other")
        out["other"] = git(path, "rev-parse", "HEAD")
        git(path, "push", "-q", "origin", "other")
        git(path, "checkout", "-q", "main")
        git(bare, "symbolic-ref", "HEAD", "refs/heads/other")
        git(path, "fetch", "-q", "origin")
        git(path, "remote", "set-head", "origin", "other")
        assert git(path, "rev-parse", "origin/HEAD") == out["other"]
    return out
