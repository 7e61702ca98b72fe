"""The hooks' scratch directory: what one hook call leaves for the next (the content of leased
files before a tool ran, which tool calls of a holder are in flight).

Where (the first that applies):

1. a fleet agent: ``$CODESWARM_RUN_DIR/hooks`` (the worker passes its run directory to Codex,
   whose hooks inherit it; every agent of the swarm shares it);
2. otherwise ``$XDG_RUNTIME_DIR/codeswarm/hooks`` when that variable names a directory;
3. otherwise ``$XDG_STATE_HOME/codeswarm/hooks`` (default ``~/.local/state/codeswarm/hooks``).

None of these is under ``/tmp`` or in the project, where an agent's sandbox may write: an agent
must not be able to edit what its own hooks compare against. The directory is created 0700 and
checked on every use (a real directory, not a symlink, owned by us, mode 0700); anything else is
refused with :class:`~codeswarm.core.errors.HookStateError` rather than followed.
"""

from __future__ import annotations

import os
import stat

from codeswarm.core.errors import HookStateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

SUBDIRS = ("blobs", "calls", "busy")
"""``blobs/<sha256>``: file contents, by hash; ``calls/<key>.json``: one tool call's snapshot;
``busy/<agent>--<key>.json``: a holder's tool call in flight (or recently ended)."""


def location(env: Mapping[str, str]) -> str:
    """The scratch directory for a hook run with ``env`` (not created, not checked)."""
    run = env.get("CODESWARM_RUN_DIR")
    if run and os.path.isabs(run):
        return os.path.join(run, "hooks")
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and os.path.isdir(runtime):
        return os.path.join(runtime, "codeswarm", "hooks")
    state = env.get("XDG_STATE_HOME")
    base = state if state and os.path.isabs(state) else os.path.expanduser("~/.local/state")
    return os.path.join(base, "codeswarm", "hooks")


def check(path: str) -> None:
    """Raise :class:`HookStateError` unless ``path`` is a directory (not a symlink to one) owned
    by this user with mode 0700."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise HookStateError(
            f"hook scratch directory {path}: {exc.strerror or exc}; refusing to use it"
        ) from exc
    if stat.S_ISLNK(st.st_mode):
        raise HookStateError(f"hook scratch directory {path} is a symlink; refusing to follow it")
    if not stat.S_ISDIR(st.st_mode):
        raise HookStateError(f"hook scratch directory {path} is not a directory; refusing it")
    me = os.geteuid()
    if st.st_uid != me:
        raise HookStateError(
            f"hook scratch directory {path} is owned by uid {st.st_uid}, not by you (uid {me}); "
            "refusing to use it"
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode != 0o700:
        raise HookStateError(
            f"hook scratch directory {path} has mode {mode:04o}, not 0700; refusing to use it "
            f"(fix: chmod 700 {path})"
        )


def ensure(env: Mapping[str, str]) -> str:
    """The scratch directory, created (0700, with its subdirectories) when missing and checked
    (:func:`check`). Raises :class:`HookStateError`."""
    path = location(env)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        check(path)
        if os.path.isdir(os.path.join(path, SUBDIRS[-1])):
            return path  # made whole before: the common case, two system calls
    except FileNotFoundError:
        try:  # the parents: ours to create (XDG directories), 0700 like the rest of our state
            os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise HookStateError(
                f"cannot create the hook scratch directory {path}: {exc.strerror or exc}"
            ) from exc
    except OSError as exc:
        raise HookStateError(
            f"cannot create the hook scratch directory {path}: {exc.strerror or exc}"
        ) from exc
    check(path)
    for sub in SUBDIRS:  # inside a directory only we can write: nobody else can plant these
        try:
            os.mkdir(os.path.join(path, sub), 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise HookStateError(f"cannot create {path}/{sub}: {exc.strerror or exc}") from exc
    return path
