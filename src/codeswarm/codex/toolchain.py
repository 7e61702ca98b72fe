"""Install, locate and check the pinned Codex CLI.

The npm package ``@openai/codex`` ships a Node wrapper (``bin/codex.js``) that spawns the native
binary from a platform package. We run the native binary directly when we can find it: the pid we
hold is then Codex itself (signals reach it, nothing is orphaned when we kill it), and we skip
Node's start-up on every launch. The wrapper's environment (``CODEX_MANAGED_*``) is reproduced.

Lookup order: the configured binary (``codex.bin`` in config, or ``CODESWARM_CODEX_BIN``), the managed
prefix (per person, ``$XDG_CACHE_HOME/codeswarm/tools/codex-<version>``: installed once, used by
every project, and out of the agents' sandbox), then ``codex`` on ``PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from codeswarm.core.errors import ToolchainError
from codeswarm.core.paths import tools_dir
from codeswarm.core.versions import CODEX_VERSION

if TYPE_CHECKING:
    from codeswarm.core.config import Config

CODEX_PACKAGE = "@openai/codex"
NPM_INSTALL_TIMEOUT = 600.0
VERSION_PROBE_TIMEOUT = 30.0

_TRIPLES = {
    ("Linux", "x86_64"): ("x86_64-unknown-linux-musl", "@openai/codex-linux-x64"),
    ("Linux", "aarch64"): ("aarch64-unknown-linux-musl", "@openai/codex-linux-arm64"),
    ("Darwin", "x86_64"): ("x86_64-apple-darwin", "@openai/codex-darwin-x64"),
    ("Darwin", "arm64"): ("aarch64-apple-darwin", "@openai/codex-darwin-arm64"),
}

Source = Literal["config", "managed", "path"]


class CodexBinary(NamedTuple):
    """A runnable Codex CLI: ``argv`` to prefix every command with, extra ``env`` to set.

    (A NamedTuple, not a dataclass: this module is on the path that starts Codex, where the
    import of ``dataclasses``, and through it ``inspect``, is measurable.)
    """

    path: Path
    """What was found (the wrapper or the native binary)."""
    executable: Path
    """What is actually executed (the native binary when it could be resolved)."""
    version: str | None
    source: Source
    env: dict[str, str] = {}  # noqa: RUF012 (never mutated; replaced per instance)

    @property
    def argv(self) -> list[str]:
        return [str(self.executable)]


def managed_prefix(version: str = CODEX_VERSION) -> Path:
    """The npm prefix of the managed install of ``version``."""
    return tools_dir() / f"codex-{version}"


def _native_for(wrapper: Path) -> tuple[Path, Path] | None:
    """(package root, native binary) behind an npm ``codex`` wrapper, if it can be found."""
    try:
        real = wrapper.resolve(strict=True)
    except OSError:
        return None
    if real.name != "codex.js" or real.parent.name != "bin":
        return None
    package_root = real.parent.parent
    uname = os.uname()
    triple_pkg = _TRIPLES.get((uname.sysname, uname.machine))
    if triple_pkg is None:
        return None
    triple, pkg = triple_pkg
    for node_modules in (package_root / "node_modules", package_root.parent.parent):
        native = node_modules / pkg / "vendor" / triple / "bin" / "codex"
        if native.is_file() and os.access(native, os.X_OK):
            return package_root, native
    native = package_root / "vendor" / triple / "bin" / "codex"
    if native.is_file() and os.access(native, os.X_OK):
        return package_root, native
    return None


def _package_version(package_root: Path) -> str | None:
    try:
        data = json.loads((package_root / "package.json").read_text())
    except (OSError, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) else None


def probe_version(executable: Path, env: dict[str, str] | None = None) -> str:
    """Run ``codex --version`` and return the version number it prints."""
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
    import re

    match = re.search(r"(\d+\.\d+\.\d+\S*)", proc.stdout)
    if proc.returncode != 0 or match is None:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise ToolchainError(
            f"{executable} --version failed (exit {proc.returncode})"
            + (f": {detail[-1]}" if detail else "")
        )
    return match.group(1)


def describe(path: Path, source: Source) -> CodexBinary:
    """Resolve ``path`` to what will run and its version (without running it when possible)."""
    if not path.exists():
        raise ToolchainError(f"codex binary {path} does not exist")
    if not os.access(path, os.X_OK):
        raise ToolchainError(f"codex binary {path} is not executable")
    native = _native_for(path)
    if native is not None:
        package_root, executable = native
        env = {"CODEX_MANAGED_PACKAGE_ROOT": str(package_root), "CODEX_MANAGED_BY_NPM": "1"}
        version = _package_version(package_root) or probe_version(executable, env)
        return CodexBinary(path, executable, version, source, env)
    return CodexBinary(path, path, probe_version(path), source)


def locate(config: Config | None = None, *, check_version: bool = True) -> CodexBinary:
    """Find the Codex CLI to use, or raise :class:`ToolchainError` saying what is missing.

    Without ``config`` the configured binary is read from the raw configuration layers, without
    loading (or validating) the rest: this runs before Codex is started on hot paths.
    """
    if config is not None:
        configured = config.codex.bin
    else:
        from codeswarm.core.layers import raw_setting

        value = raw_setting("codex", "bin")
        configured = value if isinstance(value, str) else None
    version = CODEX_VERSION
    if configured:
        found = describe(Path(configured).expanduser(), "config")
    else:
        managed = managed_prefix(version) / "node_modules" / ".bin" / "codex"
        if managed.exists():
            found = describe(managed, "managed")
        else:
            on_path = shutil.which("codex")
            if on_path is None:
                raise ToolchainError(
                    f"no Codex CLI found: run 'codeswarm toolchain install' "
                    f"(installs {CODEX_PACKAGE}@{version} under {managed_prefix(version)}), "
                    f"or set CODESWARM_CODEX_BIN"
                )
            found = describe(Path(on_path), "path")
    if check_version and found.version != version:
        raise ToolchainError(
            f"codex at {found.path} is version {found.version}, codeswarm needs {version}: "
            f"run 'codeswarm toolchain install'"
        )
    return found


def install(version: str = CODEX_VERSION, *, force: bool = False) -> CodexBinary:
    """Install ``@openai/codex@version`` with npm into the managed prefix (never globally).

    The install goes to a temporary directory beside the prefix, which is renamed into place only
    when complete, so an interrupted install never leaves a half-populated prefix behind. Installs
    of one version take turns (a lock file beside the prefix): a second one waits, then finds the
    first's result (``force`` reinstalls anyway).
    """
    prefix = managed_prefix(version)
    try:
        prefix.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = os.open(prefix.parent / f".codex-{version}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ToolchainError(f"cannot install into {prefix.parent}: {exc.strerror or exc}") from exc
    import fcntl

    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _install_locked(prefix, version, force=force)
    finally:
        os.close(lock)  # releases the lock


def _install_locked(prefix: Path, version: str, *, force: bool) -> CodexBinary:
    wrapper = prefix / "node_modules" / ".bin" / "codex"
    if wrapper.exists() and not force:
        found = describe(wrapper, "managed")
        if found.version == version:
            return found
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainError(
            "npm not found: install Node.js 18+ with npm (Debian: apt-get install nodejs npm)"
        )
    import tempfile

    staging = Path(tempfile.mkdtemp(prefix=f".codex-{version}.", dir=prefix.parent))
    try:
        proc = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(staging),
                "--no-fund",
                "--no-audit",
                "--no-save",
                "--loglevel=error",
                f"{CODEX_PACKAGE}@{version}",
            ],
            capture_output=True,
            text=True,
            timeout=NPM_INSTALL_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            raise ToolchainError(
                f"npm install {CODEX_PACKAGE}@{version} failed (exit {proc.returncode})"
                + (f": {lines[-1]}" if lines else "")
            )
        if prefix.exists():
            shutil.rmtree(prefix)
        staging.rename(prefix)
    except subprocess.TimeoutExpired as exc:
        raise ToolchainError(f"npm install timed out after {NPM_INSTALL_TIMEOUT:.0f}s") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    found = describe(wrapper, "managed")
    if found.version != version:
        raise ToolchainError(f"npm installed codex {found.version}, expected {version}")
    return found
