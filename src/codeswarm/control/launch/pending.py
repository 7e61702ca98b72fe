"""A local swarm's supervisor started before the swarm is known: ``up`` and ``run`` start it
(:func:`prestart`) before they parse their options, as they do the coordination hub
(:class:`codeswarm.worker.mcphub.Pending`). It imports meanwhile, then forks the worker zygote,
which imports the rest of a worker's code (:func:`fork_zygote`); when the command has made
the run directory it hands it over (:meth:`PendingSupervisor.hand_over`: the run directory and
the supervisor's log, over a socket pair), and the supervisor goes on as one started then
would, its first workers forked at once instead of after two interpreters' imports (≈ 0.15 s
of `up` on this machine's cores).

Until then it dies with the process that started it (nothing is left when ``up`` ends without
it; its zygote ends with it), and it is not used if that process's environment or working
directory changed meanwhile: a supervisor started then would have had them (it is then told
nothing and ends, and one is started the ordinary way). Light: imported before the command
line is parsed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple, NoReturn

from codeswarm.core.entry import module_args
from codeswarm.core.handover import Waiting

TYPE_CHECKING = False
if TYPE_CHECKING:
    from codeswarm.control.proc import ForkedChild

SUPERVISOR_MODULE = "codeswarm.control.launch.supervisor"
ZYGOTE_MODULE = "codeswarm.worker.zygote"
ROOM_SLACK = 32
"""Bytes of command line the zygote keeps beyond the longest agent id (see ``retitle``)."""
ZYGOTE_ROOM = 4096
"""… and, started before the swarm is known, for the run directory (``PATH_MAX``)."""
ROOM = 4096 + 64
"""Bytes of command line it keeps for the ordinary supervisor's (the run directory)."""


class PendingSupervisor(Waiting):
    """A supervisor process waiting for its run directory (see the module docstring)."""

    def __init__(self) -> None:
        self.env = dict(os.environ)
        self.cwd = os.getcwd()
        super().__init__([sys.executable, *module_args(SUPERVISOR_MODULE), "--pending",
                          str(os.getpid()), "." * ROOM])  # fmt: skip

    def give(self, run_root: Path, log_fd: int) -> bool:
        """Give it the swarm's run directory and the supervisor's log; ``False`` (it ends) when
        it is gone or this process's environment or working directory changed since it started:
        start one the ordinary way then."""
        try:
            changed = dict(os.environ) != self.env or os.getcwd() != self.cwd
        except OSError:  # (the working directory is gone)
            changed = True
        if changed:
            self.close()
            return False
        return self.hand_over({"run_dir": str(run_root)}, [log_fd])


_PENDING: list[PendingSupervisor] = []
STARTED: list[subprocess.Popen[bytes]] = []
"""The supervisors this process started (or handed a swarm to):
:func:`codeswarm.control.launch.local.start_supervisor`."""


def let_go() -> None:
    """A pending supervisor not handed a swarm ends (``up`` cut short)."""
    while _PENDING:
        _PENDING.pop().close()


def prestart() -> None:
    """Start a supervisor now that a later :func:`take` in this process will use; nothing if
    one is started already or it cannot be."""
    if not _PENDING:
        with contextlib.suppress(OSError):
            _PENDING.append(PendingSupervisor())


def take() -> PendingSupervisor | None:
    """The supervisor :func:`prestart` started, if any (once)."""
    return _PENDING.pop() if _PENDING else None


def enabled() -> bool:
    """Workers are forked by a zygote (``CODESWARM_FORK_WORKERS=0``: started, each its own)."""
    return os.environ.get("CODESWARM_FORK_WORKERS", "1") != "0"


class Prestarted(NamedTuple):
    """A zygote started before its swarm is known (:func:`fork_zygote`)."""

    proc: subprocess.Popen[bytes] | ForkedChild
    sock: socket.socket


def zygote_argv() -> list[str]:
    """The command line of a zygote started before its swarm is known (``--run-dir -``, room
    for the run directory to come)."""
    return [sys.executable, *module_args(ZYGOTE_MODULE, "--run-dir", "-", "--room",
                                         "." * (ZYGOTE_ROOM + ROOM_SLACK))]  # fmt: skip


def fork_zygote() -> Prestarted | None:
    """Fork the worker zygote from this process, a pending supervisor that has imported its own
    code and started no thread or event loop yet: nearly all of it a worker needs too (asyncio,
    msgspec, the spec, the mailbox), so the zygote goes on to import only the rest, beside us,
    and the pages both loaded are shared (one interpreter's start and ≈ 45 ms of imports
    fewer). The child is the zygote as :func:`zygote_argv` started with its end of a socket
    pair as stdin would be (:func:`_become_zygote`); :class:`~.forks.Forks` tells it the run
    directory at its start. ``None`` when forking is off or it cannot be done."""
    if not enabled():
        return None
    from codeswarm.control.proc import ForkedChild

    argv = zygote_argv()
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
        _become_zygote(theirs.fileno(), argv)
    theirs.close()
    return Prestarted(ForkedChild(pid), ours)


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


def _become_zygote(ctl_fd: int, argv: list[str]) -> NoReturn:
    """In the forked child: what ``argv`` started in a session of its own, ``ctl_fd`` its
    stdin, output to /dev/null and no other descriptor open, would be; it execs ``argv`` when
    its command line cannot be made to read so."""
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
        from codeswarm.worker.zygote import main

        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # a forked child reports, exits, never returns into the supervisor
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)
