"""``python -P -m codeswarm.worker.zygote --run-dir DIR --room PAD``: one process per local swarm
that has imported everything a worker needs and forks workers on request, so that N agents
cost one import instead of N (≈ 85 ms of CPU each on this machine's cores: at 50 agents, seconds
of `up`; and their pages are shared).

The local supervisor starts it with one end of a socket pair as its stdin and talks lines:

- ``fork AGENT`` → ``forked AGENT PID`` (or ``error AGENT WHY``): a worker for ``AGENT``,
  exactly as ``python -P -m codeswarm.worker --run-dir DIR --agent AGENT`` would run it (its
  own session, stdin from /dev/null, stdout and stderr appended to its ``worker.log``);
- ``exit PID CODE`` (unasked): a worker ended, ``CODE`` as :attr:`subprocess.Popen.returncode`
  gives it (negative: killed by that signal);
- ``run DIR`` → ``run ok``: for a zygote started before its swarm was known
  (``--run-dir -``: by a pending supervisor, :mod:`codeswarm.control.launch.pending`), the run
  directory, once, before any fork; its command line then reads as one started with it.

A forked worker's command line is rewritten to the ordinary worker's (:func:`retitle`: the
zygote's own argument area, made big enough by ``--room``), so everything that recognises a
worker by its command line (adoption by a new supervisor, ``status``, ``down``) sees no
difference; when it cannot be rewritten the child execs the ordinary worker instead.

An upgrade of codeswarm during a swarm (``pip install -U``, ``uv tool upgrade``) must reach the
workers restarted after it: before each fork the zygote compares :func:`installed_stamp` with
the one it took when it loaded the code, and once they differ every child execs the ordinary
worker (a fresh interpreter, the new code), said once on the zygote's standard error.

The zygote ends when the supervisor closes its end (or dies); the workers, in sessions of their
own, live on, and a new supervisor adopts them.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys

from codeswarm.core.procself import retitle, stdio_to

WORKER_MODULE = "codeswarm.worker"
"""The module an ordinary worker runs (``python -m``): its command line is the one to wear."""
ZYGOTE_MODULE = "codeswarm.worker.zygote"
PENDING = "-"
"""``--run-dir -``: the run directory comes later (``run DIR``)."""
MAX_LINE = 4096
"""The longest request line taken (an agent id is far shorter)."""


def worker_argv(run_dir: str, agent: str) -> list[str]:
    """The ordinary worker's command line (what the supervisor would start)."""
    from codeswarm.core.entry import python_module

    return python_module(WORKER_MODULE, "--run-dir", run_dir, "--agent", agent)


Stamp = tuple[int, ...]


def installed_stamp() -> Stamp | None:
    """A cheap stamp of the installed ``codeswarm`` package: device, inode, modification time and
    size of its ``__init__.py``, and device and inode of its directory; ``None`` if it is gone.

    pip and uv write every file of the new version as a new file (pip also a new directory; uv
    hard-links each from its cache, one file per wheel, or copies it), so an upgrade changes
    the file's inode or time even where its text is the same. A reinstall of the very same
    wheel by hard link changes nothing, and needs nothing. The directory's own modification
    time is left out: creating ``__pycache__`` changes it. Edits to an editable install other
    than its ``__init__.py`` are not seen."""
    import codeswarm

    init = codeswarm.__file__
    if init is None:
        return None
    try:
        f, d = os.stat(init), os.stat(os.path.dirname(init))
    except OSError:
        return None
    return (f.st_dev, f.st_ino, f.st_mtime_ns, f.st_size, d.st_dev, d.st_ino)


def preload() -> None:
    """Import what a worker imports before it runs (asyncio without OpenSSL first)."""
    from codeswarm.core.lean import import_without_openssl

    import_without_openssl()
    import argparse  # noqa: F401
    import logging  # noqa: F401
    import tomllib  # noqa: F401  (each start reads the agent's config.toml)

    import codeswarm.hooks.install  # (each start writes its hooks' trust)
    import codeswarm.worker.__main__
    import codeswarm.worker.agent  # noqa: F401
    from codeswarm.core.gcpolicy import settle

    settle()  # what is loaded now is shared with every worker: keep the collector off it


class Zygote:
    def __init__(self, ctl: socket.socket, run_dir: str) -> None:
        self.ctl = ctl
        self.run_dir = run_dir
        self.wake_r, self.wake_w = os.pipe()
        self.loaded = installed_stamp()
        """The installed package when the zygote loaded it (call after :func:`preload`)."""
        self.stale = False
        """The package changed since: every child execs the ordinary worker."""

    def serve(self) -> int:
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_w)
        buf = b""
        while True:
            try:
                ready, _, _ = select.select([self.ctl.fileno(), self.wake_r], [], [])
            except InterruptedError:
                continue
            if self.wake_r in ready:
                while _drain(self.wake_r):
                    pass
            self._reap()
            if self.ctl.fileno() in ready:
                try:
                    data = self.ctl.recv(MAX_LINE)
                except OSError:
                    data = b""
                if not data:  # the supervisor closed its end (or died)
                    return 0
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.startswith(b"run ") and self.run_dir == PENDING:
                        self._take_run(os.fsdecode(line[4:]))
                    else:
                        self._request(line.decode(errors="replace").split())
                if len(buf) > MAX_LINE:
                    buf = b""  # not a line of ours: dropped

    def _send(self, line: str) -> None:
        with contextlib.suppress(OSError):  # the supervisor is gone: its successor adopts them
            self.ctl.sendall(line.encode() + b"\n")

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._send(f"exit {pid} {os.waitstatus_to_exitcode(status)}")

    def _take_run(self, run_dir: str) -> None:
        """``run DIR`` (the rest of the line, spaces and all): the run directory, once."""
        if not os.path.isabs(run_dir):
            self._send("error - not a run directory")
            return
        from codeswarm.core.entry import python_module

        self.run_dir = run_dir
        room = _room()  # what the run directory takes of it (the area keeps its size)
        room = room[: max(0, len(room) - len(os.fsencode(self.run_dir)))]
        retitle(python_module(ZYGOTE_MODULE, "--run-dir", self.run_dir, "--room", room))
        from pathlib import Path

        from codeswarm.core.swarm import RunDir

        with contextlib.suppress(OSError):  # what it says goes where the supervisor's does
            log = os.open(RunDir(Path(self.run_dir)).supervisor_log,
                          os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)  # fmt: skip
            os.dup2(log, 2)
            os.close(log)
        self._send("run ok")

    def _request(self, words: list[str]) -> None:
        if len(words) != 2 or words[0] != "fork":
            self._send(f"error - not a request: {' '.join(words)[:80]}")
            return
        agent = words[1]
        if "/" in agent or agent.startswith(".") or len(agent) > 200:
            self._send(f"error - not an agent id: {agent[:80]}")
            return
        if self.run_dir == PENDING:
            self._send(f"error {agent} no run directory yet")
            return
        try:
            pid = self._fork(agent)
        except OSError as exc:
            self._send(f"error {agent} {exc}")
            return
        self._send(f"forked {agent} {pid}")

    def _fork(self, agent: str) -> int:
        from pathlib import Path

        from codeswarm.core.swarm import RunDir

        log_path = RunDir(Path(self.run_dir)).worker_log(agent)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            current = self._current()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                self._child(agent, log_fd, current)  # never returns
        finally:
            os.close(log_fd)
        return pid

    def _current(self) -> bool:
        """Whether the code loaded is still the code installed (else: say so, once)."""
        if not self.stale and installed_stamp() != self.loaded:
            self.stale = True
            print(
                "codeswarm.worker.zygote: the installed codeswarm changed since it was loaded: "
                "workers start as fresh interpreters from now on",
                file=sys.stderr, flush=True,
            )  # fmt: skip
        return not self.stale

    def _child(self, agent: str, log_fd: int, current: bool) -> None:
        code = 1
        try:
            os.setsid()
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)
            self.ctl.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            stdio_to(log_fd)
            argv = worker_argv(self.run_dir, agent)
            if not current or not retitle(argv):
                os.execv(argv[0], argv)  # the ordinary worker, imports and all
            sys.argv = argv[argv.index("-m") + 1 :]
            from codeswarm.worker.__main__ import main as worker_main

            code = worker_main(argv[argv.index("-m") + 2 :])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # a child of the zygote reports, exits, never returns
            import traceback

            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)


def _drain(fd: int) -> bool:
    try:
        return bool(os.read(fd, 512))
    except BlockingIOError:
        return False


def _room() -> str:
    """The ``--room`` padding of this process's command line (kept when it retitles itself)."""
    args = sys.argv
    return args[args.index("--room") + 1] if "--room" in args[:-1] else ""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4 or args[0] != "--run-dir" or args[2] != "--room":
        print("usage: python -m codeswarm.worker.zygote --run-dir DIR|- --room PAD",
              file=sys.stderr)  # fmt: skip
        return 2
    preload()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides; its end closing ends us
    ctl = socket.socket(fileno=0)
    return Zygote(ctl, args[1]).serve()


if __name__ == "__main__":
    sys.exit(main())
