"""The real OpenClaw for tests, offline: Node 24 and the pinned ``openclaw`` npm package
installed once into ``$XDG_CACHE_HOME/codeswarm/test-tools/`` (reused by later runs; concurrent
installs take turns on a lock), and a loopback-only network namespace to run it in.

Plain module (no pytest). Facts: ``../shared/notes/openclaw-facts.md``.

- :func:`provide` gives the :class:`OpenClaw` to run, installing what is missing (npm from apt
  when we are root and it is missing too). Raises :class:`Unavailable` saying why it cannot.
- :func:`person_env`: a person's environment with a fresh HOME and ``codeswarm`` on PATH.
- :class:`Sandbox` is a network namespace with only ``lo`` (up), and a mount namespace whose
  ``/tmp`` is a private tmpfs (OpenClaw writes ``/tmp/openclaw*`` whatever ``TMPDIR`` says),
  with the test's own directory kept visible at its path. Everything run in it (``nsenter``)
  reaches 127.0.0.1 of that namespace only; :meth:`Sandbox.pids` lists what still runs in it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

NODE_PACKAGE = "node"
NODE_MAJOR = "24"
NODE_MIN = (24, 16)  # OpenClaw needs node:sqlite (Node 20 lacks it)
OPENCLAW_PACKAGE = "openclaw"
OPENCLAW_VERSION = "2026.9.6"


class Unavailable(Exception):
    """OpenClaw cannot be run here (the message says why)."""


@dataclass(frozen=True)
class OpenClaw:
    node: Path
    entry: Path  # openclaw.mjs

    def argv(self, *args: str) -> list[str]:
        return [str(self.node), str(self.entry), *args]

    @property
    def bin_dir(self) -> Path:
        """Node 24's directory, for the front of PATH (OpenClaw runs helpers with ``node``)."""
        return self.node.parent


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "codeswarm" / "test-tools"


def provide() -> OpenClaw:
    """Node 24 and OpenClaw ``OPENCLAW_VERSION``, installed into :func:`cache_dir` if missing."""
    from codeswarm.codex import npm
    from codeswarm.core.errors import ToolchainError

    _ensure_npm()
    base = cache_dir()
    node_prefix = base / f"{NODE_PACKAGE}-{NODE_MAJOR}"
    node = node_prefix / "node_modules" / "node" / "bin" / "node"
    oc_prefix = base / f"{OPENCLAW_PACKAGE}-{OPENCLAW_VERSION}"
    entry = oc_prefix / "node_modules" / "openclaw" / "openclaw.mjs"
    try:
        npm.install_package(
            NODE_PACKAGE, NODE_MAJOR, node_prefix, name="node", installed=node.exists
        )
        version = npm.probe_version(node)
        if tuple(int(p) for p in version.split(".")[:2]) < NODE_MIN:
            raise Unavailable(f"{node} is Node {version}; OpenClaw needs {NODE_MIN}")
        saved = os.environ["PATH"]
        os.environ["PATH"] = f"{node.parent}{os.pathsep}{saved}"  # install scripts: Node 24
        try:
            npm.install_package(
                OPENCLAW_PACKAGE, OPENCLAW_VERSION, oc_prefix, name="openclaw",
                installed=entry.exists,
            )  # fmt: skip
        finally:
            os.environ["PATH"] = saved
    except ToolchainError as exc:
        raise Unavailable(str(exc)) from exc
    claw = OpenClaw(node, entry)
    done = subprocess.run(
        [*claw.argv("--version")], capture_output=True, text=True, timeout=120, check=False,
        stdin=subprocess.DEVNULL, env={**os.environ, "PATH": f"{node.parent}:{os.environ['PATH']}"},
    )  # fmt: skip
    if done.returncode != 0 or not re.search(rf"\b{re.escape(OPENCLAW_VERSION)}\b", done.stdout):
        raise Unavailable(f"openclaw --version: {(done.stdout + done.stderr).strip()[-300:]}")
    return claw


def _ensure_npm() -> None:
    if shutil.which("npm"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable("npm is missing, and cannot apt-get install it (not root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["update"], ["install", "-y", "--no-install-recommends", "nodejs", "npm"]):
        done = subprocess.run(
            ["apt-get", "-o", "DPkg::Lock::Timeout=300", *args],
            env=env, capture_output=True, text=True, check=False, timeout=900,
        )  # fmt: skip
        if done.returncode != 0:
            raise Unavailable(f"apt-get {args[0]} failed: {done.stderr.strip()[-300:]}")


_HOLDER = r"""
set -e
ip link set lo up
mount --bind /tmp /mnt
mount -t tmpfs -o mode=1777 tmpfs /tmp
IFS=:
for p in $KEEP; do
  mkdir -p "$p"
  mount --no-canonicalize --bind "/mnt${p#/tmp}" "$p"
done
echo ready
exec sleep infinity
"""


def _kept(keep: Path) -> list[str]:
    """What must stay visible under the private ``/tmp``: ``keep`` (the test's directory) and,
    when they live under ``/tmp`` (a CI clone, say), this checkout and the interpreter that runs
    codeswarm. Outermost paths only."""
    import codeswarm

    wanted = [keep, Path(codeswarm.__file__).resolve().parents[2], Path(sys.prefix),
              Path(sys.executable).resolve().parent]  # fmt: skip
    paths = sorted({str(p.resolve()) for p in wanted if p.resolve().is_relative_to("/tmp")})
    out: list[str] = []
    for p in paths:  # sorted: a path comes after any path it is inside
        if not any(p == o or p.startswith(o + "/") for o in out):
            out.append(p)
    return out


class Sandbox:
    """A loopback-only network namespace with a private ``/tmp`` (``keep``, this checkout and the
    interpreter stay visible: :func:`_kept`), held open by one ``sleep`` process; :meth:`close`
    ends it (and whatever still runs in it)."""

    def __init__(self, keep: Path) -> None:
        for tool in ("unshare", "nsenter", "ip", "mount"):
            if shutil.which(tool) is None:
                raise Unavailable(f"{tool} is not installed")
        self.keep = keep
        self._holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "sh", "-c", _HOLDER],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            env={**os.environ, "KEEP": ":".join(_kept(keep))}, text=True,
        )  # fmt: skip
        assert self._holder.stdout is not None
        line = self._holder.stdout.readline().strip()
        if line != "ready":
            self._holder.kill()
            _, err = self._holder.communicate(timeout=30)
            raise Unavailable(f"cannot make a network namespace (not root?): {err.strip()[-300:]}")
        self.pid = self._holder.pid
        self.netns = os.readlink(f"/proc/{self.pid}/ns/net")

    def argv(self, argv: list[str], cwd: Path) -> list[str]:
        return ["nsenter", f"--target={self.pid}", "--net", "--mount", f"--wd={cwd}", "--", *argv]

    def run(
        self, argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(argv, cwd), cwd=cwd, env=env, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip

    def popen(self, argv: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(argv, cwd), cwd=cwd, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        )  # fmt: skip

    def pids(self) -> list[int]:
        """Live processes in the namespace other than the one holding it (zombies left out)."""
        out = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == self.pid:
                continue
            try:
                if os.readlink(entry / "ns" / "net") != self.netns:
                    continue
                if ") Z " in (entry / "stat").read_text():
                    continue
            except OSError:
                continue
            out.append(int(entry.name))
        return out

    def close(self) -> list[int]:
        """Kill whatever still runs in the namespace, then its holder; returns what was killed
        (besides the holder)."""
        left = self.pids()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._holder.kill()
        self._holder.communicate(timeout=30)
        return left


def person_env(root: Path, *extra_path: Path) -> dict[str, str]:
    """A person's environment under ``root``: a fresh HOME and TMPDIR, ``codeswarm`` on PATH
    (a wrapper running this tree's), no OpenClaw or XDG settings of the caller's."""
    home, tmp, bin_dir = root / "home", root / "tmp", root / "bin"
    for d in (home, tmp, bin_dir):
        d.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "codeswarm"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -P -m codeswarm "$@"\n')
    wrapper.chmod(0o755)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CODESWARM_", "OPENCLAW_", "XDG_", "NODE_", "npm_"))
    }
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")  # this tree's codeswarm
    path = [str(p) for p in (bin_dir, *extra_path)]
    env.update(
        HOME=str(home),
        TMPDIR=str(tmp),
        PATH=os.pathsep.join([*path, os.environ.get("PATH", "/usr/bin:/bin")]),
        NO_COLOR="1",
    )
    return env


def wait_for_line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> bool:
    """Read ``proc``'s stdout until a line starting with ``prefix`` (True), its end, or
    ``timeout`` seconds (False)."""
    found = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(prefix):
                found.set()
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return found.is_set()
