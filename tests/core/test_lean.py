"""Long-running processes import asyncio and hashlib without OpenSSL (codeswarm.core.lean)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from codeswarm.core.lean import import_without_openssl
import_without_openssl()
import asyncio, hashlib, hmac
loaded = sorted(m for m in ("ssl", "_ssl", "_hashlib") if m in sys.modules)
digests = (hashlib.sha256(b"x").hexdigest()[:8], hashlib.blake2b(b"x").hexdigest()[:8],
           hmac.new(b"k", b"x", "sha256").hexdigest()[:8])
async def main():
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "print(42)",
                                                stdout=asyncio.subprocess.PIPE)
    return (await proc.communicate())[0].strip().decode()
ran = asyncio.run(main())
import ssl  # still importable afterwards
print(loaded, digests, ran, bool(ssl.OPENSSL_VERSION))
"""


def test_asyncio_and_hashlib_work_without_openssl_loaded() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "[]"  # neither ssl nor _hashlib was loaded by asyncio, hashlib or hmac
    assert out[1] == "('2d711642',"  # sha256 of b"x", from the built-in implementation
    assert "42" in out and out[-1] == "True"


def test_too_late_is_left_alone() -> None:
    code = (
        "import asyncio, sys\n"
        "from codeswarm.core.lean import import_without_openssl\n"
        "import_without_openssl()\n"
        "print('ssl' in sys.modules, sys.modules.get('_hashlib', 1) is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]  # asyncio came first: nothing changed
