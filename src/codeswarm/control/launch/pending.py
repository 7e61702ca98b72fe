"""A local swarm's supervisor started before the swarm is known: ``up`` and ``run`` start it
(:func:`prestart`) before they parse their options, as they do the coordination hub
(:class:`codeswarm.worker.mcphub.Pending`), or instead of it (``hub``). It imports meanwhile,
then forks the worker zygote, which imports the rest of a worker's code, and with ``hub`` the
swarm's coordination hub, which imports the rest of the hub's (:mod:`.prefork`); when the
command has made the run directory it hands it over (:meth:`PendingSupervisor.hand_over`: the
run directory and the supervisor's log, over a socket pair), and the supervisor goes on as one
started then would, its first workers forked at once instead of after two interpreters'
imports (≈ 0.15 s of `up` on this machine's cores).

Until then it dies with the process that started it (nothing is left when ``up`` ends without
it; its zygote and hub end with it), and it is not used if that process's environment or working
directory changed meanwhile: a supervisor started then would have had them (it is then told
nothing and ends, and one is started the ordinary way). Light: imported before the command
line is parsed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from codeswarm.core.entry import module_args
from codeswarm.core.handover import Waiting

SUPERVISOR_MODULE = "codeswarm.control.launch.supervisor"
ROOM = 4096 + 64
"""Bytes of command line it keeps for the ordinary supervisor's (the run directory), and for the
ordinary command line of the hub it forks."""
HUB_FLAG = "--hub"


class PendingSupervisor(Waiting):
    """A supervisor process waiting for its run directory (see the module docstring)."""

    proc: subprocess.Popen[bytes]

    def __init__(self, hub: bool = False) -> None:
        """``hub``: it forks the swarm's coordination hub too (and starts it: ``up`` then
        starts none of its own)."""
        self.env = dict(os.environ)
        self.cwd = os.getcwd()
        self.hub = hub
        super().__init__([sys.executable, *module_args(SUPERVISOR_MODULE), "--pending",
                          str(os.getpid()), *([HUB_FLAG] if hub else []), "." * ROOM])  # fmt: skip

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


def prestart(hub: bool = False) -> None:
    """Start a supervisor now that a later :func:`take` in this process will use (``hub``: see
    :class:`PendingSupervisor`); nothing if one is started already or it cannot be."""
    if not _PENDING:
        with contextlib.suppress(OSError):
            _PENDING.append(PendingSupervisor(hub))


def starts_hub() -> bool:
    """Whether the supervisor :func:`take` will give forks the swarm's hub (and starts it)."""
    return bool(_PENDING) and _PENDING[0].hub


def take() -> PendingSupervisor | None:
    """The supervisor :func:`prestart` started, if any (once)."""
    return _PENDING.pop() if _PENDING else None
