"""Who may write the mailbox: only us.

Anyone who can append to an agent's inbox can prompt that agent, so on a shared cluster a mailbox
that others can write is a hole. Directories are created 0700 and files 0600; an existing directory
or file that is group- or other-writable, or owned by another user, is refused with one line naming
the path, what is wrong, and the command that fixes it. (Readable by others is not refused: that
is a confidentiality choice, not a steering hole; we never create it that way.)

A mailbox *file* must also be a regular file with one name: writers and readers open it with
``O_NOFOLLOW`` (a symbolic link planted at its name is refused, never followed) and check what they
got with :func:`check_stat`, so a FIFO, a device or a hard link to some other file of ours (a
planted ``inbox/a.jsonl`` → ``~/.bashrc``) is refused too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from codeswarm.core.errors import MailboxPermissionError

DIR_MODE = 0o700
FILE_MODE = 0o600


def check_private(path: Path) -> None:
    """Raise :class:`MailboxPermissionError` if ``path`` (a directory or file, symlinks followed)
    is writable by group or others, or owned by another user. A missing path is not an error."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    check_stat(path, st)


def check_stat(path: Path | str, st: os.stat_result) -> None:
    """:func:`check_private` for a ``stat`` result already in hand (e.g. ``fstat`` of an open fd).

    Anything but a directory must be a regular file with no second name (hard link)."""
    is_dir = stat.S_ISDIR(st.st_mode)
    what = "directory" if is_dir else "file"
    if not is_dir and not stat.S_ISREG(st.st_mode):
        raise MailboxPermissionError(
            f"mailbox file {path} is not a regular file ({_kind(st.st_mode)}): refusing to use it;"
            f" remove it and let codeswarm create it"
        )
    me = os.geteuid()
    if st.st_uid != me:
        raise MailboxPermissionError(
            f"mailbox {what} {path} is owned by uid {st.st_uid}, not by you (uid {me}): "
            f"another user could steer your agents through it; use a run directory you own"
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        fix = f"chmod {'700' if is_dir else '600'} {path}"
        raise MailboxPermissionError(
            f"mailbox {what} {path} is writable by {_who(mode)} (mode {mode:04o}): "
            f"other users could steer your agents through it; fix: {fix}"
        )
    if not is_dir and st.st_nlink > 1:
        raise MailboxPermissionError(
            f"mailbox file {path} has {st.st_nlink} hard links: whoever made them can write it"
            f" under another name, or it is another file of yours; remove it and let codeswarm"
            f" create it"
        )


def refuse_symlink(path: Path | str, exc: OSError) -> None:
    """Raise :class:`MailboxPermissionError` if ``exc`` (from an ``O_NOFOLLOW`` open of ``path``)
    says that ``path`` is a symbolic link; otherwise return."""
    if exc.errno == errno.ELOOP:
        raise MailboxPermissionError(
            f"mailbox file {path} is a symbolic link: refusing to follow it (it could point"
            f" anywhere); remove it and let codeswarm create it"
        ) from exc


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) with mode 0700, then :func:`check_private` it.

    Existing directories are not chmod-ed behind your back: if one is unsafe this raises, and the
    message says how to fix it. Returns ``path``.
    """
    missing: list[Path] = []
    here = path
    while not here.exists():
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for p in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(p, DIR_MODE)
    check_private(path)
    return path


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


def _who(mode: int) -> str:
    if mode & 0o020 and mode & 0o002:
        return "group and others"
    return "group" if mode & 0o020 else "others"
