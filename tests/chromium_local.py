"""Debian's Chromium for Playwright (shared notes "browser-facts"): found, or installed with apt
when missing and we are root (``chromium`` and ``fonts-liberation``: without a font package a
screenshot is silently blank). Playwright's own browser download is never used.

Plain module (no pytest) so the benchmark can use it too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# the real binary first: it skips the wrapper's /etc/chromium.d noise and Debian's default flags
CANDIDATES = (Path("/usr/lib/chromium/chromium"), Path("/usr/bin/chromium"))
FONTS = Path("/usr/share/fonts/truetype/liberation")
PACKAGES = ("chromium", "fonts-liberation")
APT_TIMEOUT = 900.0


class Unavailable(Exception):
    """Chromium cannot be provided here (the message says why)."""


def _found() -> Path | None:
    override = os.environ.get("CODESWARM_CHROMIUM")
    if override:
        return Path(override) if Path(override).exists() else None
    return next((p for p in CANDIDATES if p.exists()), None)


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["apt-get", "-o", "DPkg::Lock::Timeout=300", *args],
        capture_output=True, text=True, timeout=APT_TIMEOUT, check=False,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )  # fmt: skip


def ensure_chromium() -> Path:
    """The Chromium executable to launch; installs ``chromium fonts-liberation`` with apt-get
    if either is missing (root only). Raises :class:`Unavailable` with the reason."""
    found = _found()
    if found is not None and FONTS.is_dir():
        return found
    if os.environ.get("CODESWARM_CHROMIUM") and found is None:
        raise Unavailable(f"CODESWARM_CHROMIUM={os.environ['CODESWARM_CHROMIUM']} does not exist")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable(
            "chromium or fonts-liberation missing, and cannot apt-get install (not root)"
        )
    update = _apt("update", "-q")
    if update.returncode != 0:
        tail = (update.stderr or update.stdout).strip().splitlines()[-1:] or ["?"]
        raise Unavailable(f"apt-get update failed: {tail[0]}")
    done = _apt("install", "-y", "-q", *PACKAGES)
    found = _found()
    if done.returncode != 0 or found is None or not FONTS.is_dir():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        raise Unavailable(f"apt-get install {' '.join(PACKAGES)} failed: {tail[0]}")
    return found
