"""A throwaway PostgreSQL server: found (or installed with apt when we are root), initialized
under a temporary directory, started on a free port, stopped at the end.

Plain module (no pytest) so the benchmarks can use it too. See shared notes "postgres-local".
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

START_TIMEOUT = 30


class Unavailable(Exception):
    """PostgreSQL cannot be provided here (the message says why)."""


def bin_dir(install: bool = True) -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``; installs the Debian package when
    missing and allowed (root). Raises Unavailable."""
    found = _find()
    if found is None and install and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise Unavailable(f"{' '.join(cmd)} failed: {done.stderr.strip()[-300:]}")
        found = _find()
    if found is None:
        raise Unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    return found


def _find() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    which = shutil.which("pg_ctl")
    if which:
        candidates.insert(0, str(Path(which).resolve().parent))
    for c in candidates:
        if (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PREFIX = "cs-pg-"
OWNER = "owner.pid"


def reap_orphans(bindir: Path) -> list[Path]:
    """Stop the servers that an earlier run started and could not stop (it was killed): each
    directory records the pid of the process that made it. Returns the directories removed."""
    removed = []
    for d in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = int((d / OWNER).read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        if (d / "data" / "postmaster.pid").exists():
            runner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
            subprocess.run([*runner, str(bindir / "pg_ctl"), "-D", str(d / "data"), "-m",
                            "immediate", "-w", "stop"], capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PgServer:
    """One server process; :meth:`start` returns the admin URL, :meth:`stop` ends it."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.dir / OWNER).write_text(str(os.getpid()))
        self.port = _free_port()
        self.user = "cs"
        self._as: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres", "postgres")
        self.url = f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"
        self._started = False

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, check=False, cwd=self.dir
        )
        if done.returncode != 0:
            log = self.dir / "log"
            tail = log.read_text()[-500:] if log.exists() else ""
            raise Unavailable(f"{Path(args[0]).name} failed: {done.stderr.strip()[-500:]} {tail}")

    def start(self) -> str:
        data = self.dir / "data"
        self._run(str(self.bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", self.user,
                  "--no-sync")  # fmt: skip
        opts = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200 -c shared_buffers=64MB"
        )
        self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-o", opts,
                  "-l", str(self.dir / "log"), "-w", "-t", str(START_TIMEOUT), "start")  # fmt: skip
        self._started = True
        return self.url

    def stop(self) -> None:
        if self._started:
            self._started = False
            subprocess.run(
                [*self._as, str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"),
                 "-m", "immediate", "-w", "stop"],
                capture_output=True, check=False, cwd=self.dir,
            )  # fmt: skip
        shutil.rmtree(self.dir, ignore_errors=True)
