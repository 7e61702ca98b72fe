"""A small inotify binding (ctypes, Linux) driven by the asyncio loop: no threads, no polling.

One inotify descriptor per event loop (:class:`InotifyHub`), shared by every follower running in
it, registered with ``loop.add_reader``. Watches are on *directories*, one per directory however
many files in it are followed: the kernel reports a write to any file in a watched directory, with
its name, so 200 followed outboxes cost one watch and idle followers cost nothing. Watching the
directory (not the file) also sees the events a follower needs around rotation and creation: the
live name moved away, a new live file created.

inotify only sees changes made through this kernel: on NFS, Lustre, GPFS and the like, writes from
another node raise no event. :func:`is_remote_filesystem` tells those apart so ``mode="auto"``
polls there.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import struct
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

log = logging.getLogger("codeswarm.mailbox")

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

WATCH_MASK = (
    IN_MODIFY
    | IN_ATTRIB  # a chmod: readers re-check the mode at once (mailbox.perms)
    | IN_CREATE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)
_EVENT = struct.Struct("iIII")
_READ_SIZE = 64 * 1024

# statfs f_type of filesystems where another node's writes raise no inotify event here.
REMOTE_FS_MAGIC = {
    0x6969: "nfs",
    0x517B: "smb",
    0xFF534D42: "cifs",
    0xFE534D42: "smb2",
    0x0BD00BD0: "lustre",
    0x47504653: "gpfs",
    0x00C36400: "ceph",
    0x65735546: "fuse",
    0x19830326: "beegfs",
    0x01021997: "9p",
    0x73757245: "coda",
    0x5346414F: "afs",
    0x6B414653: "afs",
    0x7461636F: "ocfs2",
    0x01161970: "gfs2",
    0xAAD7AAEA: "panfs",
    0x13661366: "orangefs",
}

Callback = Callable[[str | None], None]
"""Called with the name of the entry that changed, or None when anything may have changed
(the kernel's queue overflowed, or the directory itself was moved or deleted)."""


class _Libc:
    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.init1 = libc.inotify_init1
        self.init1.argtypes = [ctypes.c_int]
        self.init1.restype = ctypes.c_int
        self.add_watch = libc.inotify_add_watch
        self.add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self.add_watch.restype = ctypes.c_int
        self.rm_watch = libc.inotify_rm_watch
        self.rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        self.rm_watch.restype = ctypes.c_int
        self.statfs = libc.statfs
        self.statfs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        self.statfs.restype = ctypes.c_int


_libc: _Libc | None = None


def _lib() -> _Libc:
    global _libc
    if _libc is None:
        try:
            _libc = _Libc()
        except (OSError, AttributeError) as exc:  # not Linux, or a libc without inotify
            raise OSError(errno.ENOSYS, f"inotify is not available: {exc}") from exc
    return _libc


def is_remote_filesystem(path: Path) -> str | None:
    """The name of the network/cluster filesystem holding ``path`` (e.g. ``"nfs"``), or None for
    a local one (or when it cannot be told)."""
    try:
        lib = _lib()
    except OSError:
        return None
    buf = ctypes.create_string_buffer(512)  # struct statfs is 120 bytes on 64-bit Linux
    if lib.statfs(os.fsencode(path), buf) != 0:
        return None
    f_type = ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF  # f_type is the first field
    return REMOTE_FS_MAGIC.get(f_type)


@dataclass(eq=False)
class _Dir:
    wd: int
    path: Path
    by_name: dict[str, list[Callback]] = field(default_factory=dict)
    any_name: list[Callback] = field(default_factory=list)

    def callbacks(self) -> list[Callback]:
        out = list(self.any_name)
        for cbs in self.by_name.values():
            out.extend(cbs)
        return out


@dataclass(frozen=True, eq=False)
class Watch:
    """A registration with :meth:`InotifyHub.watch`; pass it to :meth:`InotifyHub.unwatch`."""

    hub: InotifyHub
    wd: int
    name: str | None
    callback: Callback


class InotifyHub:
    """The inotify descriptor of one event loop. Get it with :meth:`for_loop`; it closes itself
    when its last watch is removed."""

    _hubs: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, InotifyHub]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        lib = _lib()
        fd = lib.init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self.fd = fd
        self._loop = loop
        self._dirs: dict[int, _Dir] = {}
        loop.add_reader(fd, self._on_readable)

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop | None = None) -> InotifyHub:
        """The hub of ``loop`` (default: the running loop), created on first use.

        Raises OSError if inotify is unavailable (not Linux, or out of inotify instances).
        """
        loop = loop or asyncio.get_running_loop()
        hub = cls._hubs.get(loop)
        if hub is None or hub.fd < 0:
            hub = cls._hubs[loop] = cls(loop)
        return hub

    @property
    def watched_directories(self) -> int:
        return len(self._dirs)

    def is_watching(self, watch: Watch) -> bool:
        """False once the kernel dropped the watch (its directory was deleted) or it was removed."""
        return self.fd >= 0 and watch.wd in self._dirs

    def watch(self, directory: Path, name: str | None, callback: Callback) -> Watch:
        """Call ``callback`` for changes to the entry ``name`` of ``directory`` (every entry if
        ``name`` is None). Raises OSError if the directory cannot be watched."""
        lib = _lib()
        wd = lib.add_watch(self.fd, os.fsencode(directory), WATCH_MASK)
        if wd < 0:
            err = ctypes.get_errno()
            if not self._dirs:
                self.close()  # nothing else uses this descriptor
            raise OSError(err, f"inotify_add_watch: {os.strerror(err)}", str(directory))
        d = self._dirs.get(wd)
        if d is None:
            d = self._dirs[wd] = _Dir(wd, Path(directory))
        if name is None:
            d.any_name.append(callback)
        else:
            d.by_name.setdefault(name, []).append(callback)
        return Watch(self, wd, name, callback)

    def unwatch(self, watch: Watch) -> None:
        """Remove a watch; safe to call twice. The last one out closes the descriptor."""
        d = self._dirs.get(watch.wd)
        if d is not None:
            cbs = d.any_name if watch.name is None else d.by_name.get(watch.name, [])
            if watch.callback in cbs:
                cbs.remove(watch.callback)
            if watch.name is not None and not cbs:
                d.by_name.pop(watch.name, None)
            if not d.any_name and not d.by_name:
                del self._dirs[watch.wd]
                if self.fd >= 0:
                    _lib().rm_watch(self.fd, watch.wd)
        if not self._dirs:
            self.close()

    def close(self) -> None:
        if self.fd < 0:
            return
        if not self._loop.is_closed():
            self._loop.remove_reader(self.fd)
        os.close(self.fd)
        self.fd = -1
        self._dirs.clear()
        if self._hubs.get(self._loop) is self:
            del self._hubs[self._loop]

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, _READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.error("inotify read failed (%s): waking every follower", exc)
            self._notify_all(None)
            return
        pos, end = 0, len(data)
        while pos < end:
            wd, mask, _cookie, length = _EVENT.unpack_from(data, pos)
            pos += _EVENT.size
            raw = data[pos : pos + length]
            pos += length
            if mask & IN_Q_OVERFLOW:
                log.warning("inotify queue overflowed: waking every follower")
                self._notify_all(None)
                continue
            d = self._dirs.get(wd)
            if d is None:
                continue
            if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                if mask & IN_IGNORED:
                    self._dirs.pop(wd, None)  # the kernel dropped the watch
                for cb in d.callbacks():
                    _call(cb, None)
                continue
            name = os.fsdecode(raw.rstrip(b"\0"))
            for cb in d.by_name.get(name, ()):
                _call(cb, name)
            for cb in d.any_name:
                _call(cb, name)

    def _notify_all(self, name: str | None) -> None:
        for d in list(self._dirs.values()):
            for cb in d.callbacks():
                _call(cb, name)


def _call(cb: Callback, name: str | None) -> None:
    try:
        cb(name)
    except Exception:
        log.exception("inotify callback failed")
