"""A process started before what it is for is known, and handed that later: ``up`` starts the
coordination hub and the supervisor first thing (they import while it parses its options) and
hands them the swarm once it exists (:class:`codeswarm.worker.mcphub.Pending`,
:class:`codeswarm.control.launch.pending.PendingSupervisor`).

The waiting process has one end of a socket pair as its standard input; the starter sends one
message on the other, a small JSON object and the descriptors that go with it
(:meth:`Waiting.hand_over`), and the waiting process takes them (:func:`receive`). A starter
that ends without handing anything over closes its end: the waiting process sees that and
ends too (it also dies with its starter: :func:`codeswarm.core.procself.die_with_parent`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from typing import Any, Protocol, Self

MAX_MESSAGE = 65536


class Child(Protocol):
    """A child process as :class:`subprocess.Popen` gives one (or a forked one:
    :class:`codeswarm.control.proc.ForkedChild`)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class Waiting:
    """A process started with ``argv``, waiting on its standard input to be handed its work
    (its output goes nowhere until then; it runs in a session of its own)."""

    proc: Child
    sock: socket.socket

    @classmethod
    def forked(cls, proc: Child, sock: socket.socket) -> Self:
        """One started otherwise (forked: :mod:`codeswarm.control.launch.prefork`), ``sock``
        the other end of its standard input."""
        self = cls.__new__(cls)
        self.proc, self.sock = proc, sock
        return self

    def __init__(self, argv: list[str]) -> None:
        self.sock, theirs = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                argv, stdin=theirs.fileno(), stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        except BaseException:
            self.sock.close()
            raise
        finally:
            theirs.close()

    def hand_over(self, what: dict[str, str], fds: list[int]) -> bool:
        """Send ``what`` and ``fds`` (once: the socket is closed after); ``False`` when it is
        gone or they cannot be sent (it then ends, its end closed)."""
        try:
            if self.proc.poll() is not None:
                return False
            socket.send_fds(self.sock, [json.dumps(what).encode()], fds)
        except OSError:
            return False
        finally:
            self.sock.close()
        return True

    def close(self) -> None:
        """Not needed after all: it ends (reaped in the background: a process that goes on, a
        supervisor say, keeps no zombie of it)."""
        self.sock.close()
        threading.Thread(target=self.proc.wait, name="handed-nothing", daemon=True).start()


def receive(nfds: int, ctl_fd: int = 0) -> tuple[dict[str, Any], list[int]] | None:
    """In the waiting process: what it was handed on ``ctl_fd`` (closed then), with exactly
    ``nfds`` descriptors; ``None`` when its starter ended without handing it anything, or sent
    something else (any descriptors that came are closed)."""
    ctl = socket.socket(fileno=ctl_fd)
    try:
        body, fds, _, _ = socket.recv_fds(ctl, MAX_MESSAGE, nfds)
    except OSError:
        body, fds = b"", []
    ctl.close()
    try:
        what = json.loads(body) if body and len(fds) == nfds else None
    except ValueError:
        what = None
    if not isinstance(what, dict):
        for fd in fds:
            os.close(fd)
        return None
    return what, fds
