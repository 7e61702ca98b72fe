"""The two things every npm-installed CLI we pin needs: asking a binary its version, and
installing a package into a private prefix with npm (never globally), safely.

An install goes to a temporary directory beside the prefix (``.<name>-<version>.staging.*``),
renamed into place only when complete, so an interrupted install never leaves a half-populated
prefix behind. Installs of one version take turns on a lock file beside the prefix: a second one
waits (calling ``on_wait`` first), then finds the first's result.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from codeswarm.core.errors import ToolchainError

INSTALL_TIMEOUT = 900.0
VERSION_PROBE_TIMEOUT = 30.0


def probe_version(executable: Path, env: Mapping[str, str] | None = None) -> str:
    """Run ``<executable> --version`` and return the version number it prints."""
    try:
        proc = subprocess.run(
            [str(executable), "--version"],
            capture_output=True,
            text=True,
            timeout=VERSION_PROBE_TIMEOUT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolchainError(f"cannot run {executable} --version: {exc}") from exc
    match = re.search(r"(\d+\.\d+\.\d+\S*)", proc.stdout)
    if proc.returncode != 0 or match is None:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise ToolchainError(
            f"{executable} --version failed (exit {proc.returncode})"
            + (f": {detail[-1]}" if detail else "")
        )
    return match.group(1)


def staging_dirs(prefix: Path, name: str, version: str) -> list[Path]:
    """The temporary directories installs of ``name`` ``version`` are filling now."""
    return sorted(prefix.parent.glob(f".{name}-{version}.staging.*"))


def install_package(
    package: str,
    version: str,
    prefix: Path,
    *,
    name: str,
    installed: Callable[[], bool],
    force: bool = False,
    on_wait: Callable[[], None] | None = None,
) -> None:
    """``npm install <package>@<version>`` into ``prefix``, under the lock; skipped when
    ``installed()`` says the prefix already holds it (unless ``force``)."""
    try:
        prefix.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = os.open(prefix.parent / f".{name}-{version}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ToolchainError(f"cannot install into {prefix.parent}: {exc.strerror or exc}") from exc
    import fcntl

    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another install of this version runs: wait for it
            if on_wait is not None:
                on_wait()
            fcntl.flock(lock, fcntl.LOCK_EX)
        if force or not installed():
            _npm_install(f"{package}@{version}", prefix, name, version)
    finally:
        os.close(lock)  # releases the lock


def _npm_install(what: str, prefix: Path, name: str, version: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainError(
            "npm not found: install Node.js 18+ with npm (Debian: apt-get install nodejs npm)"
        )
    import tempfile

    staging = Path(tempfile.mkdtemp(prefix=f".{name}-{version}.staging.", dir=prefix.parent))
    try:
        proc = subprocess.run(
            [npm, "install", "--prefix", str(staging), "--no-fund", "--no-audit", "--no-save",
             "--loglevel=error", what],
            capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
            stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            raise ToolchainError(
                f"npm install {what} failed (exit {proc.returncode})"
                + (f": {lines[-1]}" if lines else "")
            )
        if prefix.exists():
            shutil.rmtree(prefix)
        staging.rename(prefix)
    except subprocess.TimeoutExpired as exc:
        raise ToolchainError(f"npm install {what} timed out after {INSTALL_TIMEOUT:.0f}s") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
