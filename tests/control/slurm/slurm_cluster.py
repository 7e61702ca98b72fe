"""A real three-node Slurm cluster on this machine (shared notes "slurm-local").

One ``slurmctld`` and three ``slurmd -N nodeK`` (Debian's slurmd supports several per host), munge
for authentication. Installed with apt when missing and we are root. :func:`start` brings up what
is not running and returns what it started; :func:`stop` shuts down only that.

Plain module (no pytest) so the benchmark can use it too:
``python tests/control/slurm/slurm_cluster.py start|stop|status``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

NODES = ("node1", "node2", "node3")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
CONF = Path("/etc/slurm/slurm.conf")
LOCK = Path("/run/codeswarm-slurm-cluster.lock")


class Unavailable(Exception):
    """Slurm cannot be provided here (the message says why)."""


def _slurm_conf(host: str) -> str:
    return f"""\
# written by codeswarm tests/control/slurm/slurm_cluster.py: three nodes on one machine
ClusterName=local
SlurmctldHost={host}
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd/%n
SlurmdPidFile=/run/slurmd-%n.pid
SlurmctldPidFile=/run/slurmctld.pid
SlurmdLogFile=/var/log/slurm/slurmd-%n.log
SlurmctldLogFile=/var/log/slurm/slurmctld.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=30
NodeName=node[1-3] NodeHostname={host} Port=17001-17003 CPUs=2 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=node[1-3] Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
"""


def _run(*cmd: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def install() -> None:
    """Install slurm-wlm and munge with apt when missing (root only). Raises Unavailable."""
    if shutil.which("slurmctld") and shutil.which("slurmd") and shutil.which("munged"):
        return
    if os.geteuid() != 0:
        raise Unavailable("slurm-wlm is not installed and we are not root (cannot apt-get)")
    if not shutil.which("apt-get"):
        raise Unavailable("slurm-wlm is not installed and there is no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "slurm-wlm", "munge"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise Unavailable(f"{' '.join(cmd)} failed: {done.stderr.strip()[-300:]}")


def munge_ok() -> bool:
    try:
        enc = subprocess.run(["munge", "-n"], capture_output=True, timeout=10, check=False)
        if enc.returncode != 0:
            return False
        dec = subprocess.run(
            ["unmunge"], input=enc.stdout, capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return dec.returncode == 0


def idle_nodes() -> set[str]:
    """The nodes slurmctld reports as usable (idle, mixed or allocated)."""
    try:
        done = _run("sinfo", "-h", "-N", "-o", "%N %t", timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    if done.returncode != 0:
        return set()
    out = set()
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].rstrip("*~#!%$@^-") in ("idle", "mix", "alloc", "comp"):
            out.add(parts[0])
    return out


def running() -> bool:
    return set(NODES) <= idle_nodes()


def _pids(name: str, arg: str | None = None) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or Path(argv[0].decode(errors="replace")).name != name:
            continue
        if arg is None or arg.encode() in argv:
            out.append(int(entry.name))
    return out


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    with open(LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _start_munge() -> bool:
    if munge_ok():
        return False
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        key.write_bytes(os.urandom(1024))
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    for d in (Path("/run/munge"), Path("/var/log/munge"), Path("/var/lib/munge")):
        d.mkdir(parents=True, exist_ok=True)
        shutil.chown(d, "munge", "munge")
    done = _run("runuser", "-u", "munge", "--", "munged", "--force")
    if done.returncode != 0:
        done = _run("munged", "--force")  # as root (it warns, and works)
    deadline = time.monotonic() + 10
    while not munge_ok():
        if time.monotonic() > deadline:
            raise Unavailable(f"munged did not start: {done.stderr.strip()[-300:]}")
        time.sleep(0.1)
    return True


def start() -> list[str]:
    """Make sure the cluster runs; returns what this call started (for :func:`stop`)."""
    install()
    if os.geteuid() != 0:
        if running():
            return []
        raise Unavailable("no Slurm cluster is running and we are not root (cannot start one)")
    with _locked():
        if running():
            return []
        started = []
        if _start_munge():
            started.append("munged")
        host = socket.gethostname()
        conf = _slurm_conf(host)
        if not CONF.exists() or CONF.read_text() != conf:
            CONF.parent.mkdir(parents=True, exist_ok=True)
            CONF.write_text(conf)
        for d in (
            "/var/spool/slurmctld",
            "/var/log/slurm",
            *(f"/var/spool/slurmd/{n}" for n in NODES),
        ):
            Path(d).mkdir(parents=True, exist_ok=True)
        if not _pids("slurmctld"):
            done = _run("slurmctld")
            if done.returncode != 0:
                raise Unavailable(f"slurmctld failed: {done.stderr.strip()[-300:]}")
            started.append("slurmctld")
        for node in NODES:
            if not _pids("slurmd", node):
                done = _run("slurmd", "-N", node)
                if done.returncode != 0:
                    raise Unavailable(f"slurmd -N {node} failed: {done.stderr.strip()[-300:]}")
                started.append(f"slurmd:{node}")
        deadline = time.monotonic() + START_TIMEOUT
        while not running():
            if time.monotonic() > deadline:
                state = _run("sinfo", "-N").stdout.strip()
                raise Unavailable(f"the nodes did not come up in {START_TIMEOUT:.0f}s: {state}")
            # a node left down by an earlier unclean stop: bring it back
            _run("scontrol", "update", f"nodename={','.join(NODES)}", "state=resume")
            time.sleep(0.5)
        return started


def stop(started: list[str]) -> None:
    """Shut down what :func:`start` started (nothing when it found the cluster running)."""
    if any(s.startswith(("slurmctld", "slurmd")) for s in started):
        _run("scontrol", "shutdown")
        deadline = time.monotonic() + STOP_TIMEOUT
        while (_pids("slurmctld") or _pids("slurmd")) and time.monotonic() < deadline:
            time.sleep(0.2)
    if "munged" in started:
        for pid in _pids("munged"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 15)


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "status"
    if cmd == "start":
        print("started:", ", ".join(start()) or "nothing (already running)")
    elif cmd == "stop":
        stop(["slurmctld", "slurmd", "munged"])
    else:
        print("running" if running() else "not running", sorted(idle_nodes()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
