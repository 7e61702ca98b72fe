"""Writing a state file atomically: temp file in the same directory, fsync, rename, fsync the
directory. A reader sees the old content or the new, never a mix; a crash leaves one of them.

(The one kind of write ``core`` does: every package that keeps state needs exactly this.)
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import orjson


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, durable: bool = True) -> None:
    """Replace ``path`` with ``data``. ``durable=False`` skips the fsyncs (still atomic against a
    process crash, not against power loss)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def atomic_write_json(path: Path, obj: object, *, durable: bool = True) -> None:
    atomic_write(path, orjson.dumps(obj, option=orjson.OPT_INDENT_2) + b"\n", durable=durable)


def read_json(path: Path) -> object | None:
    """The JSON in ``path``, or ``None`` when there is no such file."""
    try:
        data: object = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    return data
