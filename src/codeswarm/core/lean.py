"""Keeping codeswarm's long-running processes small: asyncio and hashlib without OpenSSL.

asyncio imports :mod:`ssl` only to offer TLS, and :mod:`hashlib` imports ``_hashlib`` for hashes
Python also has built in. Together they map OpenSSL's libraries (libssl, libcrypto: ≈ 7 MB RSS
and ≈ 50 ms of start-up on a busy machine) into every process, while a worker, the supervisor
and a Slurm task talk to Codex over pipes, to files and to local sockets, and hash a token or
two with SHA-256. Their entry points call :func:`import_without_openssl` first.
"""

from __future__ import annotations

import sys

OPENSSL_MODULES = ("ssl", "_hashlib")


def import_without_openssl() -> None:
    """Import asyncio and hashlib as on a Python built without OpenSSL: asyncio with
    ``ssl = None`` (no TLS), hashlib with its built-in hashes (sha256, blake2b, …). Only their
    import is affected: a later ``import ssl`` (say, by a database driver) still works. Does
    nothing when one of them is loaded already (it is too late to matter)."""
    if any(name in sys.modules for name in ("asyncio", "hashlib", *OPENSSL_MODULES)):
        return
    for name in OPENSSL_MODULES:
        sys.modules[name] = None  # type: ignore[assignment]  # import -> ImportError
    try:
        import asyncio  # noqa: F401
        import hashlib  # noqa: F401
        import hmac  # noqa: F401
    finally:
        for name in OPENSSL_MODULES:
            del sys.modules[name]
