"""This process's own settings that other processes see: its command line (:func:`retitle`),
its standard descriptors (:func:`stdio_to`) and whether it dies with its parent
(:func:`die_with_parent`, :func:`outlive_parent`). Linux; where
a call is not available it reports ``False`` and changes nothing."""

from __future__ import annotations

import os
import signal

PR_SET_PDEATHSIG = 1


def retitle(argv: list[str]) -> bool:
    """Make ``/proc/self/cmdline`` read ``argv`` by writing it over this process's argument
    area (``arg_start``..``arg_end`` in ``/proc/self/stat``; the rest zero-filled); ``False``
    when it does not fit (start the process with room to spare) or the kernel refuses."""
    new = b"\0".join(os.fsencode(a) for a in argv) + b"\0"
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # proc(5): fields 48 and 49
        if len(new) > end - start:
            return False
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            mem.write(new.ljust(end - start, b"\0"))
    except (OSError, ValueError, IndexError):
        return False
    return True


def stdio_to(log_fd: int) -> None:
    """Standard input from /dev/null, standard output and error appended to ``log_fd`` (which is
    closed unless it is one of them), as a process started with those descriptors has them."""
    null = os.open(os.devnull, os.O_RDONLY)
    if null != 0:
        os.dup2(null, 0)
        os.close(null)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    if log_fd > 2:
        os.close(log_fd)


def _prctl_death_signal(sig: int) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, sig)) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(parent: int) -> bool:
    """Get SIGKILL when ``parent`` (this process's parent) ends; if it has ended already, end
    now. ``False`` where the kernel offers no such signal."""
    ok = _prctl_death_signal(signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)
    return ok


def outlive_parent() -> bool:
    """Undo :func:`die_with_parent`."""
    return _prctl_death_signal(0)
