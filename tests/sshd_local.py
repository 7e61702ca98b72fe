"""A throwaway sshd on 127.0.0.1 (shared notes "sshd-local"): throwaway host and user keys, a
known_hosts file, a free port. Installs openssh-server/-client with apt when missing and we are
root. :meth:`Sshd.start` / :meth:`Sshd.stop`.

Plain module (no pytest) so the benchmark can use it too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SSHD = Path("/usr/sbin/sshd")
START_TIMEOUT = 30.0
APT_TIMEOUT = 600.0


class Unavailable(Exception):
    """sshd cannot be provided here (the message says why)."""


PYENV_REHASH = "PYENV_REHASH_TIMEOUT=1"
"""How long a remote shell's ``pyenv rehash`` (if its ~/.bashrc runs one) waits for its lock."""


def _run(argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def ensure_installed() -> None:
    """Install openssh-server and -client with apt if sshd or ssh is missing (root only)."""
    if SSHD.exists() and shutil.which("ssh") and shutil.which("ssh-keygen"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable("sshd/ssh not installed and cannot apt-get install them (not root)")
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-q"]
    env_cmd = ["env", "DEBIAN_FRONTEND=noninteractive"]
    done = _run([*env_cmd, *apt, "openssh-server", "openssh-client"], APT_TIMEOUT)
    if done.returncode != 0:
        _run([*env_cmd, "apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-q"], APT_TIMEOUT)
        done = _run([*env_cmd, *apt, "openssh-server", "openssh-client"], APT_TIMEOUT)
    if done.returncode != 0 or not SSHD.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        raise Unavailable(f"apt-get install openssh-server failed: {tail[0]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


@dataclass
class Sshd:
    dir: Path
    port: int
    pid: int
    user: str = "root"

    @classmethod
    def start(cls, base: Path) -> Sshd:
        ensure_installed()
        base.mkdir(parents=True, exist_ok=True)
        for name in ("hostkey", "userkey"):
            if not (base / name).exists():
                done = _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / name)])
                if done.returncode != 0:
                    raise Unavailable(f"ssh-keygen failed: {done.stderr.strip()}")
        shutil.copy(base / "userkey.pub", base / "authorized_keys")
        os.chmod(base / "authorized_keys", 0o600)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # the privilege-separation directory
        last = ""
        for _ in range(3):
            port = free_port()
            (base / "sshd.pid").unlink(missing_ok=True)
            (base / "sshd_config").write_text(
                f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base}/hostkey\n"
                f"AuthorizedKeysFile {base}/authorized_keys\nPasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\n"
                f"PidFile {base}/sshd.pid\nStrictModes no\nMaxStartups 100:30:200\n"
                "LogLevel VERBOSE\n"
                # a remote command runs through the user's shell, and bash reads ~/.bashrc for
                # ssh: where that runs `pyenv rehash`, a shell killed holding its lock (a test
                # cutting a connection) makes every later one wait a minute for it
                f"SetEnv {PYENV_REHASH}\n"
            )
            done = _run([str(SSHD), "-f", str(base / "sshd_config"), "-E", str(base / "sshd.log")])
            if done.returncode != 0:
                raise Unavailable(f"sshd failed to start: {done.stderr.strip()}")
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                pid_file = base / "sshd.pid"
                if pid_file.exists() and pid_file.read_text().strip():
                    with (
                        contextlib.suppress(OSError),
                        socket.create_connection(("127.0.0.1", port), timeout=1.0),
                    ):
                        server = cls(base, port, int(pid_file.read_text()))
                        server._write_known_hosts()
                        return server
                time.sleep(0.05)
            last = (base / "sshd.log").read_text()[-500:] if (base / "sshd.log").exists() else ""
        raise Unavailable(f"sshd did not come up on 127.0.0.1: {last.strip()}")

    def _write_known_hosts(self) -> None:
        key = (self.dir / "hostkey.pub").read_text().split()
        (self.dir / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {key[0]} {key[1]}\n")

    def stop(self) -> None:
        """Stop the listener and every session it still serves."""
        for pid in [*self.session_pids(), self.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    # --- for clients ------------------------------------------------------------------------------

    def url(self, path: Path | str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def options(self) -> dict[str, Any]:
        """SshTransport keyword arguments: this server's key, known_hosts, strict checking, and no
        user ssh config."""
        return {
            "identity_file": self.dir / "userkey",
            "known_hosts": self.dir / "known_hosts",
            "host_key_checking": "yes",
            "ssh_options": ("-F", "/dev/null"),
        }

    def ssh_argv(self) -> list[str]:
        """A plain ``ssh`` command line to this server (append the remote command)."""
        return [
            "ssh", "-F", "/dev/null", "-i", str(self.dir / "userkey"), "-p", str(self.port),
            "-o", f"UserKnownHostsFile={self.dir / 'known_hosts'}", "-o", "BatchMode=yes",
            f"{self.user}@127.0.0.1",
        ]  # fmt: skip

    # --- for tests that break connections ---------------------------------------------------------

    def session_pids(self) -> list[int]:
        """The per-connection sshd processes (children of the listener)."""
        out = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _ppid(int(entry.name)) == self.pid:
                out.append(int(entry.name))
        return out

    def kill_session_of(self, remote_pid: int) -> list[int]:
        """SIGKILL the sshd processes serving the session that runs ``remote_pid``: the
        connection drops as if the network had. Returns the pids killed."""
        chain = []
        pid: int | None = _ppid(remote_pid)
        while pid is not None and pid > 1 and pid != self.pid:
            chain.append(pid)
            pid = _ppid(pid)
        if pid != self.pid:
            raise RuntimeError(f"process {remote_pid} is not served by sshd {self.pid}")
        for p in chain:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        return chain
