"""``python -P -m codeswarm.worker.zygote --run-dir DIR --room PAD``: one process per local swarm
that has imported everything a worker needs and forks workers on request, so that N agents
cost one import instead of N (≈ 85 ms of CPU each on this machine's cores: at 50 agents, seconds
of `up`; and their pages are shared).

The local supervisor starts it with one end of a socket pair as its stdin and talks lines:

- ``fork AGENT`` → ``forked AGENT PID`` (or ``error AGENT WHY``): a worker for ``AGENT``,
  exactly as ``python -P -m codeswarm.worker --run-dir DIR --agent AGENT`` would run it (its
  own session, stdin from /dev/null, stdout and stderr appended to its ``worker.log``);
- ``exit PID CODE`` (unasked): a worker ended, ``CODE`` as :attr:`subprocess.Popen.returncode`
  gives it (negative: killed by that signal).

A forked worker's command line is rewritten to the ordinary worker's (:func:`retitle`: the
zygote's own argument area, made big enough by ``--room``), so everything that recognises a
worker by its command line (adoption by a new supervisor, ``status``, ``down``) sees no
difference; when it cannot be rewritten the child execs the ordinary worker instead. The
zygote ends when the supervisor closes its end (or dies); the workers, in sessions of their
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
MAX_LINE = 4096
"""The longest request line taken (an agent id is far shorter)."""


def worker_argv(run_dir: str, agent: str) -> list[str]:
    """The ordinary worker's command line (what the supervisor would start)."""
    from codeswarm.core.entry import python_module

    return python_module(WORKER_MODULE, "--run-dir", run_dir, "--agent", agent)


def preload() -> None:
    """Import what a worker imports before it runs (asyncio without OpenSSL first)."""
    from codeswarm.core.lean import import_without_openssl

    import_without_openssl()
    import argparse  # noqa: F401
    import logging  # noqa: F401

    import codeswarm.worker.__main__
    import codeswarm.worker.agent  # noqa: F401
    from codeswarm.core.gcpolicy import settle

    settle()  # what is loaded now is shared with every worker: keep the collector off it


class Zygote:
    def __init__(self, ctl: socket.socket, run_dir: str) -> None:
        self.ctl = ctl
        self.run_dir = run_dir
        self.wake_r, self.wake_w = os.pipe()

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

    def _request(self, words: list[str]) -> None:
        if len(words) != 2 or words[0] != "fork":
            self._send(f"error - not a request: {' '.join(words)[:80]}")
            return
        agent = words[1]
        if "/" in agent or agent.startswith(".") or len(agent) > 200:
            self._send(f"error - not an agent id: {agent[:80]}")
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
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                self._child(agent, log_fd)  # never returns
        finally:
            os.close(log_fd)
        return pid

    def _child(self, agent: str, log_fd: int) -> None:
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
            if not retitle(argv):
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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4 or args[0] != "--run-dir" or args[2] != "--room":
        print("usage: python -m codeswarm.worker.zygote --run-dir DIR --room PAD", file=sys.stderr)
        return 2
    preload()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides; its end closing ends us
    ctl = socket.socket(fileno=0)
    return Zygote(ctl, args[1]).serve()


if __name__ == "__main__":
    sys.exit(main())
