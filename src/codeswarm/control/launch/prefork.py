"""What a pending supervisor (:mod:`.pending`) forks before its swarm is known: the worker zygote
(:func:`fork_zygote`) and, for a swarm with coordination, the swarm's coordination hub
(:func:`fork_hub`).

The pending supervisor forks them once it has imported its own code, before any thread or event
loop exists. Most of what either needs is loaded by then (asyncio, msgspec, the spec, the
mailbox, the hub's files and grants), so each child goes on to import only the rest, beside the
supervisor, and the pages they loaded together are shared: an interpreter's start and ≈ 45 ms of
imports fewer for the zygote, ≈ 0.1 s of CPU for the hub (docs/benchmarks.md), on the cores
every agent's Codex is starting on.

A child is what its pending command line, started in a session of its own with one end of a
socket pair as stdin, output to /dev/null and no other descriptor, would be
(:func:`_become`): it holds nothing of the supervisor's, shows that command line, and waits on
its stdin as that process would; it execs the command line instead where the kernel will not
let it be retitled.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from typing import NoReturn

from codeswarm.control.launch.forks import Prestarted, enabled, zygote_argv
from codeswarm.control.proc import ForkedChild

TYPE_CHECKING = False
if TYPE_CHECKING:
    from codeswarm.worker.mcphub import Pending


def _fork(argv: list[str]) -> tuple[ForkedChild, socket.socket] | None:
    """Fork what ``argv`` would start (:func:`_become`); the child and our end of its stdin;
    ``None`` when it cannot be done."""
    ours, theirs = socket.socketpair()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:
        ours.close()
        theirs.close()
        return None
    if pid == 0:
        _become(theirs.fileno(), argv)
    theirs.close()
    return ForkedChild(pid), ours


def fork_zygote() -> Prestarted | None:
    """The worker zygote, as :func:`~.forks.zygote_argv` starts it; :class:`~.forks.Forks` tells
    it the run directory at its start. ``None`` when forking is off or it cannot be done."""
    if not enabled():
        return None
    forked = _fork(zygote_argv())
    return None if forked is None else Prestarted(*forked)


def fork_hub() -> Pending | None:
    """The coordination hub, as :class:`~codeswarm.worker.mcphub.Pending` starts it (``--pending``
    and this process's pid: it ends when we do); the first
    :func:`~codeswarm.worker.mcphub.ensure_hub` here hands it the swarm's hub. ``None`` when it
    cannot be forked (a hub is then started the ordinary way, if one is needed)."""
    from codeswarm.worker.mcphub import Pending, adopt

    forked = _fork(Pending.argv())
    return None if forked is None else adopt(*forked)


def _close_from(low: int) -> None:
    """Close every open descriptor from ``low`` up: those listed in /proc/self/fd (as Popen
    does; ``os.closerange`` to the descriptor limit can be a million calls where the kernel has
    no ``close_range``)."""
    try:
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        open_fds = list(range(low, 65536))
    for fd in open_fds:
        if fd >= low:
            with contextlib.suppress(OSError):  # (the listing's own, closed already)
                os.close(fd)


def _become(ctl_fd: int, argv: list[str]) -> NoReturn:
    """In the forked child: what ``argv`` (``… -m MODULE ARGS``) started in a session of its
    own, ``ctl_fd`` its stdin, output to /dev/null and no other descriptor open, would be: its
    module's ``main(ARGS)``; it execs ``argv`` when its command line cannot be made to read so."""
    code = 1
    try:
        os.setsid()
        os.dup2(ctl_fd, 0)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 1)
        os.dup2(null, 2)
        _close_from(3)  # as Popen's close_fds
        from codeswarm.core.procself import retitle

        if not retitle(argv):
            os.execv(argv[0], argv)
        sys.argv = argv[argv.index("-m") + 1 :]
        __import__(sys.argv[0])
        code = sys.modules[sys.argv[0]].main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # a forked child reports, exits, never returns into the supervisor
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)
