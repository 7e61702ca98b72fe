"""Where codeswarm keeps its state on disk, and where it installs the pinned Codex CLI.

- **State** (run directories, mailboxes, the SQLite store, the agents' Codex homes, logs):
  ``$CODESWARM_STATE_DIR`` when set, otherwise one directory per project under the person's XDG
  state directory, ``$XDG_STATE_HOME/codeswarm/projects/<name>-<hash>/`` (default
  ``~/.local/state/...``), where ``<name>`` is the project root's base name and ``<hash>`` a short
  hash of its real path. Never inside the project: an agent's ``workspace-write`` sandbox may
  write the project (and ``/tmp``), and must not be able to write the store or a peer's inbox
  (docs/security/state.md). The project root is recorded in the directory (:data:`PROJECT_FILE`).
- **Project root**: the nearest ancestor of the directory a command is about (the working
  directory, or ``up --cwd``) holding ``codeswarm.toml`` or a ``.git`` entry; the directory itself
  when there is none.
- **Tools** (the pinned Codex CLI): per person, not per project,
  ``$XDG_CACHE_HOME/codeswarm/tools`` (default ``~/.cache/...``): installed once, used by every
  project.

(Stdlib only and cheap: hot paths resolve these.)
"""

from __future__ import annotations

import os
from pathlib import Path

from codeswarm.core.errors import UsageError

TYPE_CHECKING = False  # not `typing` at run time (~3 ms): hot paths resolve these
if TYPE_CHECKING:
    from typing import Any

STATE_DIR_NAME = ".codeswarm"
"""The in-project directory of codeswarm 0.1's state (still read by :func:`legacy_state_dir`)."""
PROJECT_FILE = "project"
"""In a per-project state directory: the real path of the project it belongs to, one line."""
_KEY_HASH_CHARS = 12
_KEY_NAME_CHARS = 40


def project_root(start: Path | None = None) -> Path:
    """The project directory that holds ``start`` (default: the working directory): the nearest
    with a ``codeswarm.toml`` or a git repository, else ``start`` itself."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "codeswarm.toml").exists() or _is_git(candidate / ".git"):
            return candidate
    return here


def _is_git(dot_git: Path) -> bool:
    """A repository's ``.git``: a directory with a ``HEAD``, or a file (a worktree's, a
    submodule's ``gitdir:`` pointer). Not an empty ``.git`` directory: Codex's Linux sandbox
    makes one in a writable root (``/tmp``) as a mount point for the time a command runs, and a
    project under it must not be taken for that "repository"."""
    if dot_git.is_dir():
        return (dot_git / "HEAD").exists()
    return dot_git.is_file()


def _xdg(variable: str, default: str) -> Path:
    """An XDG base directory: the variable when it holds an absolute path (the spec says a
    relative one is invalid and ignored), else ``~/<default>``."""
    value = os.environ.get(variable, "")
    return Path(value) if os.path.isabs(value) else Path.home() / default


def user_state_home() -> Path:
    """``$XDG_STATE_HOME/codeswarm`` (default ``~/.local/state/codeswarm``)."""
    return _xdg("XDG_STATE_HOME", ".local/state") / "codeswarm"


def user_cache_home() -> Path:
    """``$XDG_CACHE_HOME/codeswarm`` (default ``~/.cache/codeswarm``)."""
    return _xdg("XDG_CACHE_HOME", ".cache") / "codeswarm"


def project_key(root: Path) -> str:
    """``<name>-<hash>``: the project's base name (made safe) and the first hex digits of the
    SHA-256 of its real path: two checkouts of one repository get two keys."""
    real = os.path.realpath(root)
    digest = _sha256(os.fsencode(real)).hexdigest()[:_KEY_HASH_CHARS]
    name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in root.name)
    return f"{name.lstrip('.')[:_KEY_NAME_CHARS] or 'root'}-{digest}"


def _sha256(data: bytes) -> Any:
    """SHA-256 from CPython's own module when there is one: ``hashlib`` loads OpenSSL (~6 ms, on
    every ``codeswarm coord`` that finds its store by itself)."""
    for name in ("_sha2", "_sha256"):  # 3.12+, 3.11
        try:
            return __import__(name).sha256(data)
        except ImportError:
            continue
    import hashlib

    return hashlib.sha256(data)


def state_dir(start: Path | None = None) -> Path:
    """The state directory for the project holding ``start`` (default: the working directory);
    not created here (:func:`ensure_state_dir` does)."""
    env = os.environ.get("CODESWARM_STATE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return user_state_home() / "projects" / project_key(project_root(start))


def ensure_state_dir(start: Path | None = None) -> Path:
    """:func:`state_dir`, created (0700) if missing; a per-project one records its project root
    in :data:`PROJECT_FILE` (atomically). Raises :class:`UsageError` when it cannot be created
    (say, from inside an agent's sandbox, where it is read-only)."""
    state = state_dir(start)
    try:
        if os.environ.get("CODESWARM_STATE_DIR"):
            state.mkdir(mode=0o700, parents=True, exist_ok=True)
            return state  # chosen by the person; possibly shared by several projects
        for directory in (user_state_home(), state.parent, state):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        root = os.fsencode(os.path.realpath(project_root(start))) + b"\n"
        record = state / PROJECT_FILE
        try:
            current = record.read_bytes()
        except FileNotFoundError:
            current = b""
        if current != root:
            from codeswarm.core.atomic import atomic_write

            atomic_write(record, root, durable=False)
    except OSError as exc:
        raise UsageError(
            f"cannot create the state directory {state}: {exc.strerror or exc} "
            f"(CODESWARM_STATE_DIR chooses another)"
        ) from exc
    return state


def known_projects() -> dict[Path, Path]:
    """Every per-project state directory that records its project: state dir -> project root."""
    out: dict[Path, Path] = {}
    try:
        entries = sorted((user_state_home() / "projects").iterdir())
    except OSError:
        return out
    for entry in entries:
        try:
            root = (entry / PROJECT_FILE).read_bytes().rstrip(b"\n")
        except OSError:
            continue
        if root:
            out[entry] = Path(os.fsdecode(root))
    return out


def legacy_state_dir(start: Path | None = None) -> Path | None:
    """``<project>/.codeswarm`` when it holds state of codeswarm 0.1 (a store or runs), which the
    default no longer uses."""
    old = project_root(start) / STATE_DIR_NAME
    return old if (old / "coord.db").exists() or (old / "runs").is_dir() else None


def tools_dir() -> Path:
    """Where managed toolchains (the pinned Codex CLI) are installed: per person,
    ``$XDG_CACHE_HOME/codeswarm/tools``."""
    return user_cache_home() / "tools"


def user_config_path() -> Path:
    """``$XDG_CONFIG_HOME/codeswarm/config.toml`` (default ``~/.config/...``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "codeswarm" / "config.toml"
