"""The pinned Codex CLI for a command that needs it: found, or installed on first need.

``codeswarm exec`` and ``codeswarm up`` call :func:`locate_or_install`; when the toolchain finds
no usable Codex (:class:`~codeswarm.core.errors.ToolchainMissingError`), the pinned one is
installed into the per-user cache, once for every project, with a progress bar on a terminal and
one line otherwise, unless ``CODESWARM_AUTO_INSTALL=0`` (or ``[codex] auto_install = false``)
turns that off: then the error is one line saying how to install it. ``codeswarm toolchain
install`` shows the same progress (:func:`install_with_progress`).

Cheap when Codex is there: Rich is imported only for an install.
"""

from __future__ import annotations

import os
import sys

from codeswarm.codex.toolchain import (
    AUTO_INSTALL_ENV,
    CODEX_PACKAGE,
    CodexBinary,
    auto_install_enabled,
    install,
    locate,
    managed_prefix,
    staging_dirs,
)
from codeswarm.core.errors import ToolchainMissingError
from codeswarm.core.versions import CODEX_VERSION

TYPE_CHECKING = False
if TYPE_CHECKING:
    from codeswarm.core.config import Config

PROGRESS_REFRESH_S = 0.25
"""How often the bar re-measures what npm has written so far."""


def locate_or_install(config: Config | None = None) -> CodexBinary:
    """:func:`~codeswarm.codex.toolchain.locate`, installing the pinned Codex first when it is
    missing and installing on first need is on. Raises ToolchainError (one line) otherwise."""
    try:
        return locate(config)
    except ToolchainMissingError as exc:
        if not auto_install_enabled(config):
            raise ToolchainMissingError(
                f"{exc} (installing it on first use is off: {AUTO_INSTALL_ENV}=0 "
                f"or [codex] auto_install = false)"
            ) from None
        reason = str(exc).split(": run ", 1)[0]
    install_with_progress(reason=f"{reason}: ")
    return locate(config)


def install_with_progress(*, force: bool = False, reason: str = "") -> CodexBinary:
    """Install the pinned Codex (:func:`~codeswarm.codex.toolchain.install`), shown: one line
    saying what and where (after ``reason``), then on a terminal a bar with what npm has written
    so far. Says where it went."""
    what = f"{CODEX_PACKAGE}@{CODEX_VERSION}"
    first_use = f"; {AUTO_INSTALL_ENV}=0 turns installing on first use off" if reason else ""
    _say(f"{reason}installing {what} with npm into {managed_prefix()} (once per user{first_use})")
    if sys.stderr.isatty():
        found = _install_with_bar(what, force=force)
    else:
        found = install(force=force, on_wait=lambda: _say("waiting for another install to end"))
    _say(f"installed codex {found.version}: {found.executable}")
    from codeswarm.codex.toolchain import build_home_template

    build_home_template(found)  # every agent's first start copies it (else the first `up` makes it)
    return found


def _install_with_bar(what: str, *, force: bool) -> CodexBinary:
    """npm's progress is not ours to read: a pulsing bar, the bytes written so far, the time."""
    import threading

    from rich.console import Console
    from rich.filesize import decimal
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    done = threading.Event()
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("[green]{task.fields[written]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(f"npm install {what}", total=None, written="")

        def measure() -> None:
            while not done.wait(PROGRESS_REFRESH_S):
                written = sum(_size(d) for d in staging_dirs())
                progress.update(task, written=decimal(written) if written else "")

        def waiting() -> None:
            progress.update(task, description=f"waiting for another install of {what}")

        watcher = threading.Thread(target=measure, name="install-progress", daemon=True)
        watcher.start()
        try:
            return install(force=force, on_wait=waiting)
        finally:
            done.set()
            watcher.join()


def _size(directory: os.PathLike[str]) -> int:
    """Bytes of the files under ``directory`` so far (files may vanish while we look)."""
    total = 0
    for parent, _dirs, files in os.walk(directory):
        for name in files:
            try:
                total += os.lstat(os.path.join(parent, name)).st_size
            except OSError:
                continue
    return total


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
