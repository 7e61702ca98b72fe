"""Install, locate and check the pinned Codex CLI.

The npm package ``@openai/codex`` ships a Node wrapper (``bin/codex.js``) that spawns the native
binary from a platform package. We run the native binary directly when we can find it: the pid we
hold is then Codex itself (signals reach it, nothing is orphaned when we kill it), and we skip
Node's start-up on every launch. The wrapper's environment (``CODEX_MANAGED_*``) is reproduced.

Lookup order: the configured binary (``codex.bin`` in config, or ``CODESWARM_CODEX_BIN``), the managed
prefix (per person, ``$XDG_CACHE_HOME/codeswarm/tools/codex-<version>``: installed once, used by
every project, and out of the agents' sandbox), then ``codex`` on ``PATH``. When none of them is
usable and none is configured, :class:`ToolchainMissingError` says so: the commands that need Codex
then install the pinned one (:func:`install`) unless that is turned off
(:func:`auto_install_enabled`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from codeswarm.core.atomic import atomic_write
from codeswarm.core.errors import ToolchainError, ToolchainMissingError
from codeswarm.core.paths import file_identity, tools_dir, user_cache_home
from codeswarm.core.versions import CODEX_VERSION

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from codeswarm.core.config import Config

CODEX_PACKAGE = "@openai/codex"

_TRIPLES = {
    ("Linux", "x86_64"): ("x86_64-unknown-linux-musl", "@openai/codex-linux-x64"),
    ("Linux", "aarch64"): ("aarch64-unknown-linux-musl", "@openai/codex-linux-arm64"),
    ("Darwin", "x86_64"): ("x86_64-apple-darwin", "@openai/codex-darwin-x64"),
    ("Darwin", "arm64"): ("aarch64-apple-darwin", "@openai/codex-darwin-arm64"),
}

Source = Literal["config", "managed", "path"]

AUTO_INSTALL_ENV = "CODESWARM_AUTO_INSTALL"
"""``0`` (or ``false``, ``no``, ``off``) turns installing on first need off; wins over
``[codex] auto_install`` in the configuration."""
_FALSE = ("0", "false", "no", "off")
_TRUE = ("1", "true", "yes", "on")


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


VERSION_CACHE = "codex-versions.json"
"""Under :func:`~codeswarm.core.paths.user_cache_home`: what ``codex --version`` said, per
binary (its real path, size and modification time): asked once per install, not per ``up``."""


def probe_version(executable: Path, env: dict[str, str] | None = None) -> str:
    """The version number ``codex --version`` prints, asked once per toolchain install: the
    answer is cached per binary (real path + size + mtime; another binary, or the same path
    rewritten, is asked anew). The cache is only a cache: unreadable or wrong, it is ignored
    and rewritten; a failed probe is never cached."""
    from codeswarm.codex import npm

    real = os.path.realpath(executable)
    key = file_identity(real)
    if key is None:
        return npm.probe_version(executable, env)  # says what is wrong with it
    cache = user_cache_home() / VERSION_CACHE
    entries = _read_cache(cache)
    entry = entries.get(real)
    if isinstance(entry, dict) and entry.get("key") == key:
        version = entry.get("version")
        if isinstance(version, str) and version:
            return version
    version = npm.probe_version(executable, env)
    entries[real] = {"key": key, "version": version}
    try:
        cache.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(cache, json.dumps(entries, indent=1).encode() + b"\n", durable=False)
    except OSError:
        pass  # a cache: the next probe asks again
    return version


def _read_cache(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


HOME_TEMPLATES = "codex-homes"
"""Under :func:`~codeswarm.core.paths.user_cache_home`, per binary (as :data:`VERSION_CACHE`):
the SQLite databases Codex makes in a new ``CODEX_HOME`` before it answers anything (62
migrations for ``state_5.sqlite`` alone with 0.169.0), made once and copied into each new agent
home (:func:`seed_home`): about half of Codex's own CPU until ``thread/start`` (measured: 12 → 6
ticks of 10 ms, 16 starting at once) for 0.4 ms of copying. Its bundled skills (``skills/.system``,
49 small files) are left to Codex: copying them costs what installing them does."""
TEMPLATE_BUILD_TIMEOUT = 60.0


def _template_dir(executable: Path) -> Path | None:
    """Where the template home of ``executable`` is (or would be): named by the binary's file
    identity, so a reinstalled or replaced binary gets its own."""
    key = file_identity(executable)
    return None if key is None else user_cache_home() / HOME_TEMPLATES / key


def build_home_template(binary: CodexBinary) -> Path | None:
    """Make the template home of ``binary`` (once: it runs ``codex app-server`` in an empty home
    until its stdin ends, then keeps its databases, checkpointed).
    Returns it, or None when another process is making it or Codex failed (nothing is kept).

    One builder at a time: ``<template>.lock``, ``flock``-ed while it builds (the kernel lets go
    of it when the builder dies, even by ``kill -9``); the builder that takes it first removes
    what a killed one left (its scratch directory ``.<template>.*``)."""
    final = _template_dir(binary.executable)
    if final is None:
        return None
    if final.is_dir():
        return final
    import contextlib
    import fcntl
    import subprocess
    import tempfile

    lock = final.parent / f"{final.name}.lock"
    try:
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(lock, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError:  # a cache that cannot be written: no template
        return None
    held = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another process is making it
            return None
        held = True
        if final.is_dir():  # made meanwhile
            return final
        for left in final.parent.glob(f".{final.name}.*"):  # a killed builder's
            shutil.rmtree(left, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix=f".{final.name}.", dir=final.parent) as tmp:
            home, kept = Path(tmp) / "home", Path(tmp) / "kept"
            home.mkdir(mode=0o700)
            kept.mkdir(mode=0o700)
            done = subprocess.run(
                [*binary.argv, "-c", "features.plugins=false", "app-server"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                cwd=tmp, env={**os.environ, **binary.env, "CODEX_HOME": str(home)},
                timeout=TEMPLATE_BUILD_TIMEOUT, check=False,
            )  # fmt: skip
            if done.returncode != 0 or not _keep_template(home, kept):
                return None
            try:
                os.rename(kept, final)
            except OSError:
                return final if final.is_dir() else None
            return final
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        if held:  # (whoever opened it meanwhile finds the template made, or builds it)
            with contextlib.suppress(OSError):
                lock.unlink()
        os.close(fd)


def _keep_template(home: Path, kept: Path) -> bool:
    """Copy each database of ``home`` (a Codex that exited) into ``kept``, its write-ahead log
    checkpointed into it first (or, when this Python's SQLite cannot, kept beside it: Codex
    recovers it). False when Codex made none (nothing worth keeping)."""
    import sqlite3

    names = sorted(n for n in os.listdir(home) if n.endswith(".sqlite"))
    for name in names:
        try:
            db = sqlite3.connect(home / name)
            try:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                db.close()
        except sqlite3.Error:
            pass
        shutil.copyfile(home / name, kept / name)
        wal = home / f"{name}-wal"
        if wal.is_file() and wal.stat().st_size:
            shutil.copyfile(wal, kept / wal.name)
    return bool(names)


def seed_home(binary: CodexBinary, home: Path) -> bool:
    """Copy the template databases of ``binary`` into ``home`` when Codex has not started there
    yet (no database in it): Codex then finds them made. Without a template, one is made in a
    background thread, for the next start. True when seeded."""
    names = os.listdir(home)
    if any(n.endswith(".sqlite") for n in names):
        return False  # Codex's own home already
    template = _template_dir(binary.executable)
    if template is None:
        return False
    try:
        kept = os.listdir(template)
    except FileNotFoundError:
        import threading

        threading.Thread(
            target=build_home_template, args=(binary,), name="codex-home-template", daemon=True
        ).start()
        return False
    except OSError:
        return False
    files = [n for n in kept if n.endswith((".sqlite", ".sqlite-wal"))]
    try:
        for name in files:
            shutil.copyfile(template / name, home / name)
    except OSError:
        import contextlib

        for name in files:  # half a seed: Codex makes its own (as without a template)
            with contextlib.suppress(OSError):
                os.unlink(home / name)
        return False
    return bool(files)


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
                raise ToolchainMissingError(
                    f"no Codex CLI found: run 'codeswarm toolchain install' "
                    f"(installs {CODEX_PACKAGE}@{version} under {managed_prefix(version)}), "
                    f"or set CODESWARM_CODEX_BIN"
                )
            found = describe(Path(on_path), "path")
    if check_version and found.version != version:
        error = ToolchainMissingError if found.source == "path" else ToolchainError
        raise error(
            f"codex at {found.path} is version {found.version}, codeswarm needs {version}: "
            f"run 'codeswarm toolchain install'"
        )
    return found


def auto_install_enabled(
    config: Config | None = None, env: Mapping[str, str] | None = None
) -> bool:
    """Whether a command that needs Codex installs the pinned one when it is missing:
    ``$CODESWARM_AUTO_INSTALL`` when set, else ``[codex] auto_install`` (default on). Raises
    :class:`UsageError` for a value that is neither on nor off."""
    from codeswarm.core.errors import UsageError

    value = (os.environ if env is None else env).get(AUTO_INSTALL_ENV, "")
    if value:
        word = value.strip().lower()
        if word in _FALSE or word in _TRUE:
            return word in _TRUE
        raise UsageError(f"{AUTO_INSTALL_ENV}={value!r}: expected 1 or 0 (true/false, on/off)")
    if config is not None:
        return config.codex.auto_install
    from codeswarm.core.layers import raw_setting

    setting = raw_setting("codex", "auto_install")
    if setting is None:
        return True
    if not isinstance(setting, bool):
        raise UsageError(f"[codex] auto_install must be true or false, not {setting!r}")
    return setting


def install(
    version: str = CODEX_VERSION,
    *,
    force: bool = False,
    on_wait: Callable[[], None] | None = None,
) -> CodexBinary:
    """Install ``@openai/codex@version`` with npm into the managed prefix (never globally),
    safely against an interrupted or a concurrent install (:mod:`codeswarm.codex.npm`): a second
    install waits (calling ``on_wait`` first), then finds the first's result (``force``
    reinstalls anyway)."""
    from codeswarm.codex import npm

    prefix = managed_prefix(version)
    wrapper = prefix / "node_modules" / ".bin" / "codex"

    def installed() -> bool:
        return wrapper.exists() and describe(wrapper, "managed").version == version

    npm.install_package(CODEX_PACKAGE, version, prefix, name="codex", installed=installed,
                        force=force, on_wait=on_wait)  # fmt: skip
    found = describe(wrapper, "managed")
    if found.version != version:
        raise ToolchainError(f"npm installed codex {found.version}, expected {version}")
    return found


def staging_dirs(version: str = CODEX_VERSION) -> list[Path]:
    """The temporary directories installs of ``version`` are filling now (for progress)."""
    from codeswarm.codex import npm

    return npm.staging_dirs(managed_prefix(version), "codex", version)
