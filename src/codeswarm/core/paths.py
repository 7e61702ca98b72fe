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

TYPE_CHECKING = False  # not `typing` (~3 ms) nor `pathlib` (~3 ms) at run time: hot paths
if TYPE_CHECKING:  # resolve these (the `*_str` functions work on plain strings)
    from pathlib import Path
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
    from pathlib import Path

    return Path(project_root_str(None if start is None else os.fspath(start)))


def project_root_str(start: str | None = None) -> str:
    """:func:`project_root` on plain strings (no ``pathlib``: the hot commands use it)."""
    here = os.path.realpath(start if start is not None else os.getcwd())
    candidate = here
    while True:
        if os.path.exists(os.path.join(candidate, "codeswarm.toml")) or _is_git(
            os.path.join(candidate, ".git")
        ):
            return candidate
        parent = os.path.dirname(candidate)
        if parent == candidate:
            return here
        candidate = parent


def _is_git(dot_git: str) -> bool:
    """A repository's ``.git``: a directory with a ``HEAD``, or a file (a worktree's, a
    submodule's ``gitdir:`` pointer). Not an empty ``.git`` directory: Codex's Linux sandbox
    makes one in a writable root (``/tmp``) as a mount point for the time a command runs, and a
    project under it must not be taken for that "repository"."""
    if os.path.isdir(dot_git):
        return os.path.exists(os.path.join(dot_git, "HEAD"))
    return os.path.isfile(dot_git)


def _xdg(variable: str, default: str) -> str:
    """An XDG base directory: the variable when it holds an absolute path (the spec says a
    relative one is invalid and ignored), else ``~/<default>``."""
    value = os.environ.get(variable, "")
    if os.path.isabs(value):
        return _pure(value)
    return os.path.join(_pure(os.path.expanduser("~")), default)  # what Path.home() is


def _pure(path: str) -> str:
    """``str(PurePosixPath(path))`` without ``pathlib``: no empty or ``.`` parts, no trailing
    slash (``..`` stays)."""
    parts = [p for p in path.split("/") if p and p != "."]
    head = "/" if path.startswith("/") else ""
    return head + "/".join(parts) if parts or head else "."


def user_state_home_str() -> str:
    """:func:`user_state_home` as a string."""
    return os.path.join(_xdg("XDG_STATE_HOME", ".local/state"), "codeswarm")


def user_state_home() -> Path:
    """``$XDG_STATE_HOME/codeswarm`` (default ``~/.local/state/codeswarm``)."""
    from pathlib import Path

    return Path(user_state_home_str())


def user_cache_home() -> Path:
    """``$XDG_CACHE_HOME/codeswarm`` (default ``~/.cache/codeswarm``)."""
    from pathlib import Path

    return Path(_xdg("XDG_CACHE_HOME", ".cache")) / "codeswarm"


def file_identity(path: Path | str) -> str | None:
    """``dev-ino-size-mtime_ns`` of the file at ``path`` (links followed), or ``None`` when it
    cannot be looked at: what a cache keyed by a file (a binary, a config) compares, since an
    install or an edit replaces or rewrites it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_dev}-{st.st_ino}-{st.st_size}-{st.st_mtime_ns}"


def project_key(root: Path | str) -> str:
    """``<name>-<hash>``: the project's base name (made safe) and the first hex digits of the
    SHA-256 of its real path: two checkouts of one repository get two keys."""
    real = os.path.realpath(root)
    digest = _sha256(os.fsencode(real)).hexdigest()[:_KEY_HASH_CHARS]
    base = os.path.basename(_pure(os.fspath(root)))
    name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in base)
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
    from pathlib import Path

    return Path(state_dir_str(None if start is None else os.fspath(start)))


def state_dir_str(start: str | None = None) -> str:
    """:func:`state_dir` on plain strings (no ``pathlib``: the hot commands use it)."""
    env = os.environ.get("CODESWARM_STATE_DIR")
    if env:
        return os.path.realpath(os.path.expanduser(env))
    root = project_root_str(start)
    return os.path.join(user_state_home_str(), "projects", project_key(root))


def ensure_state_dir(start: Path | None = None) -> Path:
    """:func:`state_dir`, created (0700) if missing; a per-project one records its project root
    in :data:`PROJECT_FILE` (atomically). Raises :class:`UsageError` when it cannot be created
    (say, from inside an agent's sandbox, where it is read-only)."""
    from pathlib import Path

    return Path(ensure_state_dir_str(None if start is None else os.fspath(start)))


def ensure_state_dir_str(start: str | None = None) -> str:
    """:func:`ensure_state_dir` on plain strings (no ``pathlib``: ``coord`` uses it)."""
    state = state_dir_str(start)
    try:
        if os.environ.get("CODESWARM_STATE_DIR"):
            os.makedirs(state, mode=0o700, exist_ok=True)
            return state  # chosen by the person; possibly shared by several projects
        for directory in (user_state_home_str(), os.path.dirname(state), state):
            os.makedirs(directory, mode=0o700, exist_ok=True)
        root = os.fsencode(os.path.realpath(project_root_str(start))) + b"\n"
        record = os.path.join(state, PROJECT_FILE)
        try:
            with open(record, "rb") as f:
                current = f.read()
        except FileNotFoundError:
            current = b""
        if current != root:
            from codeswarm.core.atomic import atomic_write

            atomic_write(record, root, durable=False)
    except OSError as exc:
        from codeswarm.core.errors import UsageError

        raise UsageError(
            f"cannot create the state directory {state}: {exc.strerror or exc} "
            f"(CODESWARM_STATE_DIR chooses another)"
        ) from exc
    return state


def known_projects() -> dict[Path, Path]:
    """Every per-project state directory that records its project: state dir -> project root."""
    from pathlib import Path

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
    from pathlib import Path

    return Path(user_config_path_str())


def user_config_path_str() -> str:
    """:func:`user_config_path` as a plain string (no ``pathlib``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "codeswarm", "config.toml")
