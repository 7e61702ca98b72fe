"""The worker's side of the coordination hub: one MCP endpoint per swarm per node.

Every fleet agent's Codex mounts the swarm's coordination tools by URL (streamable HTTP,
``http://127.0.0.1:PORT/mcp``) instead of starting its own ``python -m codeswarm.mcp`` over
stdio. The server, :mod:`codeswarm.mcp.hub`, is one process per swarm per node; it acts as the
agent whose bearer token a request carries.

- **Grants.** Each worker generation draws a fresh token (:func:`grant`). Only its SHA-256 is
  written, to ``<run>/mcp/tokens/<digest>.json`` (0600) with what identifies the agent to its
  tools (:func:`codeswarm.worker.wiring.agent_env`, its working directory). The token itself is
  kept in the worker's memory and Codex's environment (``CODESWARM_MCP_TOKEN``, which the agent's
  shell never gets: ``CODESWARM_*`` is excluded). A request with no token, or one whose digest
  has no grant, is answered 401. The worker revokes its grant when it stops. Beside the grants,
  each agent's index (``<agent>.grant``: its grant's digest, written first) lets a worker
  revoke its agent's grant without reading every agent's.
- **One hub per node, elected by locks.** ``<run>/mcp/<host>.lock`` is held (``flock``) by the
  live hub for its whole life. A worker that finds it free (:func:`ensure_hub`) binds the port
  (the one recorded in ``<host>.json`` if it can, so that Codex's configured URL stays right),
  starts the hub with the listening socket and the lock, and records the port. Connections made
  before the hub has loaded queue on the socket. Every worker then keeps a thread blocked on the
  lock (:class:`HubKeeper`): when the hub dies (even ``kill -9``), one of them gets the lock and
  starts the next hub on the same port. ``<host>.setup`` serialises the election with readers of
  the record. While a worker lives it holds ``<host>.workers`` shared; the hub ends once nobody
  does (the swarm went down on this node).

Linux and macOS (``flock``); imports nothing heavy (the worker's own memory is what this saves).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codeswarm.core.atomic import atomic_write, atomic_write_json, read_json
from codeswarm.core.entry import module_args
from codeswarm.core.handover import Child, Waiting

TOKEN_ENV = "CODESWARM_MCP_TOKEN"
"""The variable Codex reads the agent's bearer token from (``bearer_token_env_var``)."""
HUB_MODULE = "codeswarm.mcp.hub"
PATH = "/mcp"
HOST = "127.0.0.1"
BACKLOG = 1024
REBIND_WAIT = 0.5
"""How long a new hub tries for its predecessor's port before it takes another."""
HUB_EXIT_WAIT = 3.0
"""How long the node's last worker waits for the hub to end."""


def host_name() -> str:
    """This node's name: Slurm's for it inside an allocation (nodes may share a host name, as
    a test cluster's do on one machine), else the host's short name."""
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname().split(".")[0] or "localhost"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_dir(mcp_dir: Path) -> Path:
    return mcp_dir / "tokens"


INDEX_SUFFIX = ".grant"
"""Beside the grants (``<digest>.json``), each agent's index of its own (``<agent>.grant``)."""
INDEXED = ".indexed"
"""In a tokens directory whose every grant has its agent's index (one this codeswarm made)."""


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def grant(mcp_dir: Path, agent: str, env: dict[str, str], cwd: str) -> tuple[str, Path]:
    """A fresh token for ``agent`` and the file that binds its digest to the agent's identity
    (``env``: what its tools act as; ``cwd``: where relative paths start). Earlier grants of the
    same agent (a previous worker generation) are revoked first. The agent's index
    (``<agent>.grant``: the digest of its grant) is written before the grant, so that a grant
    whose writer died is still found by the next :func:`revoke_agent`."""
    where = tokens_dir(mcp_dir)
    if where.is_dir():
        revoke_agent(mcp_dir, agent, keep_index=True)
    else:  # a new run's: nothing to revoke, and every grant in it will be indexed
        _private_dir(where)
        (where / INDEXED).touch()
    token = os.urandom(32).hex()
    path = where / f"{digest(token)}.json"
    atomic_write(_index(where, agent), f"{digest(token)}\n".encode(), durable=False)
    body = {"agent": agent, "env": env, "cwd": cwd, "pid": os.getpid()}
    atomic_write(path, json.dumps(body).encode(), durable=False)
    return token, path


def _index(where: Path, agent: str) -> Path:
    return where / f"{agent}{INDEX_SUFFIX}"


def revoke_agent(mcp_dir: Path, agent: str, *, keep_index: bool = False) -> None:
    """Remove every grant of ``agent``: those its index names (a few files, however many agents
    the run has: on a shared filesystem each file read is a round trip); in a tokens directory
    an older codeswarm made (grants without an index), every grant that names the agent.
    ``keep_index``: the caller writes a new one next."""
    where = tokens_dir(mcp_dir)
    index = _index(where, agent)
    try:
        digests = index.read_text().split()
    except FileNotFoundError:
        if not (where / INDEXED).exists():
            _revoke_by_scan(where, agent)
        return
    except OSError:
        digests = []
    for name in digests:
        if len(name) == 64 and all(c in "0123456789abcdef" for c in name):
            with contextlib.suppress(FileNotFoundError):
                (where / f"{name}.json").unlink()
    if not keep_index:
        with contextlib.suppress(FileNotFoundError):
            index.unlink()


def _revoke_by_scan(where: Path, agent: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        for path in where.iterdir():
            if path.suffix != ".json":
                continue
            try:
                if json.loads(path.read_bytes()).get("agent") == agent:
                    path.unlink()
            except (OSError, ValueError, AttributeError):
                continue


def hub_url(port: int) -> str:
    return f"http://{HOST}:{port}{PATH}"


class HubFiles:
    """The files of one node's hub in ``<run>/mcp``."""

    def __init__(self, mcp_dir: Path, host: str | None = None) -> None:
        self.dir = mcp_dir
        self.host = host or host_name()
        self.record = mcp_dir / f"{self.host}.json"
        self.lock = mcp_dir / f"{self.host}.lock"
        self.setup = mcp_dir / f"{self.host}.setup"
        self.workers = mcp_dir / f"{self.host}.workers"
        self.log = mcp_dir / f"{self.host}.log"

    def read(self) -> dict[str, Any]:
        found = read_json(self.record)
        return found if isinstance(found, dict) else {}

    def port(self) -> int | None:
        port = self.read().get("port")
        return port if isinstance(port, int) and not isinstance(port, bool) else None

    def open_lock(self, path: Path) -> int:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _bind(preferred: int | None) -> socket.socket:
    """A listening socket on ``preferred`` if it can be had within :data:`REBIND_WAIT` (a hub
    killed a moment ago may release its lock before the kernel has closed its socket), else on
    a new port (agents on the old one restart Codex)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    deadline = time.monotonic() + REBIND_WAIT
    while True:
        try:
            sock.bind((HOST, preferred or 0))
            break
        except OSError:
            if time.monotonic() >= deadline:
                sock.bind((HOST, 0))
                break
            time.sleep(0.02)
    sock.listen(BACKLOG)
    return sock


class Pending(Waiting):
    """A hub process started before its swarm is known (:func:`prestart`,
    :mod:`codeswarm.core.handover`): it imports while ``up`` gets ready, then takes over the
    listening socket, the lock and the log that :func:`_start` would have given a new process.
    It dies with the process that started it until then (nothing is left when ``up`` ends
    without it)."""

    ROOM = 512
    """Bytes of command line it keeps for the hub's own (``--pending`` … and padding)."""

    def __init__(self) -> None:
        super().__init__(self.argv())

    @classmethod
    def argv(cls) -> list[str]:
        """Its command line: it dies with this process until it is handed the hub."""
        return [sys.executable, *module_args(HUB_MODULE), "--pending", str(os.getpid()),
                "." * cls.ROOM]  # fmt: skip

    def give(self, run_root: Path, sock: socket.socket, lock_fd: int, log: int, host: str) -> bool:
        """Give it the hub's part; ``False`` if it is gone (start a hub the ordinary way)."""
        return self.hand_over({"run_dir": str(run_root), "host": host},
                              [sock.fileno(), lock_fd, log])  # fmt: skip


_PENDING: list[Pending] = []


def prestart() -> None:
    """Start a hub now that a later :func:`ensure_hub` in this process will use (``up``, before
    it parses its options); nothing if one is started already or it cannot be."""
    if not _PENDING:
        with contextlib.suppress(OSError):
            _PENDING.append(Pending())


def adopt(proc: Child, sock: socket.socket) -> Pending:
    """A pending hub this process started otherwise (forked: ``sock``, the other end of its
    stdin), for a later :func:`ensure_hub` here to use (:func:`drop_pending` if none does)."""
    pending = Pending.forked(proc, sock)
    _PENDING.append(pending)
    return pending


def drop_pending() -> None:
    """A pending hub this process has not handed a swarm to ends (none was needed)."""
    while _PENDING:
        _PENDING.pop().close()


def _start(files: HubFiles, lock_fd: int) -> int:
    """With the hub lock held (``lock_fd``) and the setup lock taken: bind, start the hub with
    the socket and the lock (or hand them to a :class:`Pending` one), record the port. Returns
    the port."""
    sock = _bind(files.port())
    port = int(sock.getsockname()[1])
    run_root = files.dir.parent
    with open(files.log, "ab") as log:
        pending = _PENDING.pop() if _PENDING else None
        if pending is not None and pending.give(run_root, sock, lock_fd, log.fileno(), files.host):
            proc = pending.proc
        else:
            proc = subprocess.Popen(
                [sys.executable, *module_args(HUB_MODULE), str(run_root),
                 "--fd", str(sock.fileno()), "--lock-fd", str(lock_fd), "--host", files.host],
                pass_fds=(sock.fileno(), lock_fd), stdin=subprocess.DEVNULL, stdout=log,
                stderr=log, cwd=run_root, start_new_session=True,
            )  # fmt: skip
    sock.close()
    STARTED.append(proc)
    # reap it when it ends (it outlives this worker only as an orphan, which init reaps)
    threading.Thread(target=proc.wait, name="mcp-hub-reaper", daemon=True).start()
    atomic_write_json(files.record, {"port": port, "pid": proc.pid, "host": files.host})
    return port


def ensure_hub(mcp_dir: Path, host: str | None = None) -> int:
    """The port of this node's hub for the run, starting the hub if none runs."""
    files = HubFiles(mcp_dir, host)
    _private_dir(mcp_dir)
    setup = files.open_lock(files.setup)
    try:
        fcntl.flock(setup, fcntl.LOCK_EX)
        lock = files.open_lock(files.lock)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live hub: its record is final (written under setup)
                port = files.port()
                if port is not None:
                    return port
                raise RuntimeError(
                    f"{files.lock} is held but {files.record} names no port"
                ) from None
            return _start(files, lock)
        finally:
            os.close(lock)
    finally:
        os.close(setup)


class HubKeeper:
    """Held by a worker for its life: it counts as one of the node's workers (the hub lives
    while any does), and its thread restarts the hub when it dies. ``moved(port)`` is called
    (from that thread) when this keeper restarted the hub on another port."""

    def __init__(self, mcp_dir: Path, moved: Callable[[int], None], host: str | None = None):
        self.files = HubFiles(mcp_dir, host)
        self._moved = moved
        _private_dir(mcp_dir)
        self._workers = self.files.open_lock(self.files.workers)
        fcntl.flock(self._workers, fcntl.LOCK_SH)
        _OPEN.add(self)
        self._stopped = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._keep, name="mcp-hub-keeper", daemon=True)
        self._thread.start()

    def _keep(self) -> None:
        while not self._stopped:
            lock = self.files.open_lock(self.files.lock)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)  # blocks while a hub lives
                if self._stopped:
                    return
                before = self.files.port()
                setup = self.files.open_lock(self.files.setup)
                try:
                    fcntl.flock(setup, fcntl.LOCK_EX)
                    port = _start(self.files, lock)
                finally:
                    os.close(setup)
            except OSError:
                return  # the run directory is gone: nothing to keep
            finally:
                os.close(lock)
            if port != before:
                self._moved(port)

    def close(self, wait: float = HUB_EXIT_WAIT) -> None:
        """This worker is done: it no longer counts, and restarts nothing. The node's last
        worker waits (up to ``wait`` seconds) for the hub to end, so that nothing of the swarm
        outlives its workers."""
        if self._stopped:
            return
        self._stopped = True
        _OPEN.discard(self)
        with contextlib.suppress(OSError):
            os.close(self._workers)
        deadline = time.monotonic() + wait
        if not self._last(deadline):
            return  # other workers remain: the hub stays
        while time.monotonic() < deadline:
            lock = self.files.open_lock(self.files.lock)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break  # free: the hub is ending (its exit released the lock)
            except OSError:
                time.sleep(0.01)
            finally:
                os.close(lock)
        pid = self.files.read().get("pid")
        while isinstance(pid, int) and _running(pid) and time.monotonic() < deadline:
            time.sleep(0.005)  # the exit releases its files before it is gone

    def _last(self, deadline: float) -> bool:
        """Whether no other worker of the node counts any more. A shared lock on the workers
        file is a worker; an exclusive one is the hub seeing the last one go (it then exits) or
        another worker asking this same question: asked again until it is one or the other."""
        try:
            fd = self.files.open_lock(self.files.workers)
        except OSError:
            return False
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except OSError:
                    pass
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    return False  # no exclusive holder: workers hold it shared
                except OSError:
                    if time.monotonic() >= deadline:
                        return True  # the hub held it all along: it is ending
                time.sleep(0.005)
        finally:
            os.close(fd)


_OPEN: set[HubKeeper] = set()
"""This process's keepers not closed yet."""
STARTED: list[Child] = []
"""The hubs this process started (or handed a swarm to)."""


def let_go() -> None:
    """This process is done with the swarm it was starting (``up`` cut short by Ctrl-C): its
    keepers closed (it no longer counts as a worker: the hub ends with the rest) and a hub it
    started but did not hand the swarm to ended."""
    for keeper in list(_OPEN):
        keeper.close(0)
    drop_pending()


def end_started(wait: float = HUB_EXIT_WAIT) -> list[int]:
    """Wait (up to ``wait`` seconds) for the hubs this process started to end, as they do once
    no worker is left; SIGKILL those that did not. Returns their pids."""
    deadline = time.monotonic() + wait
    killed = []
    for proc in STARTED:
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            killed.append(proc.pid)
    return killed


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] not in (b"Z", b"X")
