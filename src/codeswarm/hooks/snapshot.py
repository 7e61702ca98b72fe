"""A cheap picture of the files under the scope root (path → mtime, size), to find what a
command changed behind the hooks' back (PostToolUse compares the picture taken before it)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from codeswarm.core.atomic import atomic_write

SKIP_DIRS = frozenset(
    {".git", ".codeswarm", "node_modules", "__pycache__", ".venv", "venv", ".mypy_cache",
     ".ruff_cache", ".pytest_cache", ".hypothesis", ".tox", "dist", "build", ".idea"}
)  # fmt: skip
MAX_FILES = 50_000
"""Past this many files a picture is not taken (too costly per tool call): nothing is reported."""

Picture = dict[str, list[int]]


def take(root: str) -> Picture | None:
    """``{relative path: [mtime_ns, size]}``; ``None`` when the tree is too big."""
    out: Picture = {}
    stack = [root]
    while stack:
        top = stack.pop()
        try:
            entries = os.scandir(top)
        except OSError:
            continue
        with entries:
            for e in entries:
                try:
                    if e.is_dir(follow_symlinks=False):
                        if e.name not in SKIP_DIRS:
                            stack.append(e.path)
                    elif e.is_file(follow_symlinks=False):
                        st = e.stat(follow_symlinks=False)
                        out[os.path.relpath(e.path, root)] = [st.st_mtime_ns, st.st_size]
                except OSError:
                    continue
                if len(out) > MAX_FILES:
                    return None
    return out


def changed(before: Picture, after: Picture) -> list[str]:
    """Paths created, modified or deleted between the two pictures, sorted."""
    keys = before.keys() | after.keys()
    return sorted(k for k in keys if before.get(k) != after.get(k))


def _store_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    d = Path(base) / f"codeswarm-hooks-{os.getuid()}"
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def _key(session: str, tool_use: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{session}-{tool_use}")
    return _store_dir() / f"{safe[:200]}.json"


def save(session: str, tool_use: str, root: str, picture: Picture) -> None:
    """Keep the picture for the PostToolUse of this call. A cache: not fsynced (lost in a power
    failure, PostToolUse then reports nothing), but never seen half-written."""
    data = json.dumps({"root": root, "files": picture}).encode()
    atomic_write(_key(session, tool_use), data, durable=False)


def load(session: str, tool_use: str) -> tuple[str, Picture] | None:
    """The picture saved before the tool ran (and forget it)."""
    path = _key(session, tool_use)
    try:
        data = json.loads(path.read_bytes())
        path.unlink()
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return None
    return str(data.get("root")), data["files"]
