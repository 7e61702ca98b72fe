"""Replacing a file atomically: the one way codeswarm writes a whole file (state, specs, cursors,
configuration, scripts, caches).

The policy, for every caller:

1. the bytes go to a temp file in the same directory, ``.<name>.<pid>.<random>.tmp``, created
   exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``: a planted file or link at that name makes the
   write fail, it is never followed or reused);
2. the temp file gets its permission bits (exactly ``mode``, whatever the umask) and is written;
3. it is fsynced, then renamed over the target, then the directory is fsynced.

A reader sees the old content or the new, never a mix; a crash, of the process or of the machine,
leaves one of them. When the write fails (an exception at any step, even ``KeyboardInterrupt``),
the target is untouched and the temp file is removed.

``durable=False`` is the one switch: it skips both fsyncs, for caches and positions whose loss
only repeats some work. Still atomic against a crash of the process (the rename is), but after a
power loss the file may hold its old content.

(Stdlib only, no ``typing`` at run time: hooks import this on every tool call.)
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not `typing` at run time (see the module docstring)
if TYPE_CHECKING:
    StrPath = str | os.PathLike[str]

_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
KEEP_MODE = None
"""``mode=KEEP_MODE``: the new file keeps the permission bits of the file it replaces (a new file
gets ``0o666`` less the umask, as ``open(2)`` would make it): for editing a person's own files."""


def atomic_write(
    path: StrPath, data: bytes, *, mode: int | None = 0o600, durable: bool = True
) -> None:
    """Replace ``path`` with ``data`` (see the module docstring for the guarantees). ``mode`` is
    the new file's permission bits, or :data:`KEEP_MODE`. Raises ``OSError``; callers translate
    it into their own error."""
    path = os.fspath(path)
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    if mode is KEEP_MODE:
        try:  # noqa: SIM105 (contextlib is an import hooks do not otherwise pay for)
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            pass  # a new file: open(2) and the umask decide
    fd = os.open(tmp, _TEMP_FLAGS, 0o666 if mode is None else mode)
    try:
        try:
            if mode is not None:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:  # noqa: SIM105 (as above)
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        fsync_dir(directory or ".")


def fsync_dir(directory: StrPath) -> None:
    """Make the entries of ``directory`` (a rename, a new file) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_json(path: StrPath, obj: object, *, durable: bool = True) -> None:
    """:func:`atomic_write` of ``obj`` as indented JSON (mode ``0o600``)."""
    import orjson  # not at import time: ~20 ms that hooks must not pay

    atomic_write(path, orjson.dumps(obj, option=orjson.OPT_INDENT_2) + b"\n", durable=durable)


def read_json(path: StrPath) -> object | None:
    """The JSON in ``path``, or ``None`` when there is no such file."""
    import orjson

    try:
        with open(path, "rb") as f:
            data: object = orjson.loads(f.read())
    except FileNotFoundError:
        return None
    return data
