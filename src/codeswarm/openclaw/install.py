"""Putting the codeswarm skill where OpenClaw finds skills, and taking it out again.

The skill (``codeswarm/openclaw/skill/``: ``SKILL.md`` and any file beside it) is copied to
``<state>/skills/codeswarm``, where ``<state>`` is ``$OPENCLAW_STATE_DIR``, else
``~/.openclaw``: OpenClaw's shared managed skills, seen by every agent of that state.

- **Idempotent**: a second install finds every file as it should be and writes nothing.
- **Atomic**: the new copy is written in full beside the state directory's ``skills/``
  (``<state>/.codeswarm-skill.<random>``), then renamed into place; an update renames the old
  copy away first and removes it after. A reader sees the old skill or the new, never half of one
  (while an update swaps, for an instant, none).
- **Owned**: the copy carries a manifest, ``.codeswarm-install.json`` (each file's SHA-256).
  A ``skills/codeswarm`` without one is someone else's and is left alone (install refuses);
  files the person added to the directory survive an update. Uninstall removes only the files
  whose content is still what it installed, then the manifest, then the directory if empty
  (and the state directory and its ``skills/`` when the first install made them and they are
  empty now).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from codeswarm.core.errors import UsageError

SKILL_NAME: Final = "codeswarm"
MANIFEST: Final = ".codeswarm-install.json"


@dataclass(frozen=True)
class Change:
    """What an install or uninstall does (or, in a dry run, would do) to one file."""

    path: Path
    action: str  # "create", "update", "unchanged", "remove", "keep" (changed by the person)

    def line(self) -> str:
        return f"{self.action:<9} {self.path}"


def state_dir() -> Path:
    """OpenClaw's state directory: ``$OPENCLAW_STATE_DIR``, else ``~/.openclaw``."""
    given = os.environ.get("OPENCLAW_STATE_DIR")
    return Path(given).expanduser() if given else Path.home() / ".openclaw"


def skill_dir() -> Path:
    """Where the skill goes: ``<state>/skills/codeswarm``."""
    return state_dir() / "skills" / SKILL_NAME


def skill_files() -> dict[str, bytes]:
    """The skill as shipped: relative path -> content (``SKILL.md`` and any helper)."""
    from importlib.resources import files

    root = files("codeswarm.openclaw") / "skill"
    out: dict[str, bytes] = {}

    def walk(node: object, prefix: str) -> None:
        for child in node.iterdir():  # type: ignore[attr-defined]
            if child.name == "__pycache__":
                continue
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, rel + "/")
            else:
                out[rel] = child.read_bytes()

    walk(root, "")
    return out


def install(*, dry_run: bool = False, target: Path | None = None) -> list[Change]:
    """Copy the skill to ``target`` (default :func:`skill_dir`); see the module docstring.

    Raises UsageError when ``target`` exists and codeswarm did not install it, or cannot be
    written."""
    target = target or skill_dir()
    ours = skill_files()
    old = _manifest(target) if target.exists() else {}
    if target.exists() and old is None:
        raise UsageError(
            f"{target} exists and codeswarm did not install it: move it away, then install again"
        )
    old = old or {}
    changes = []
    for rel, data in sorted(ours.items()):
        path = target / rel
        current = _read(path)
        action = "create" if current is None else "unchanged" if current == data else "update"
        changes.append(Change(path, action))
    changes += [Change(target / rel, "remove") for rel in sorted(set(old) - set(ours))]
    manifest_ok = old == {rel: _digest(data) for rel, data in ours.items()}
    if dry_run or (manifest_ok and all(c.action == "unchanged" for c in changes)):
        return changes
    try:
        _swap_in(target, ours, keep=_extra_files(target, old), made=_made(target))
    except OSError as exc:
        raise UsageError(f"cannot install the OpenClaw skill into {target}: {exc}") from exc
    return changes


def uninstall(*, dry_run: bool = False, target: Path | None = None) -> list[Change]:
    """Remove what :func:`install` put in ``target`` (default :func:`skill_dir`): the files it
    installed that nobody changed since, its manifest, and the directory when that leaves it
    empty. Nothing there: no changes. Raises UsageError when codeswarm did not install it."""
    target = target or skill_dir()
    if not target.exists():
        return []
    installed = _manifest(target)
    made = _manifest(target, "made") or {}
    if installed is None:
        raise UsageError(f"{target} was not installed by codeswarm: leaving it as it is")
    changes = []
    for rel, digest in sorted(installed.items()):
        path = target / rel
        data = _read(path)
        if data is None:
            continue
        changes.append(Change(path, "remove" if _digest(data) == digest else "keep"))
    if dry_run:
        return changes
    try:
        for change in changes:
            if change.action == "remove":
                change.path.unlink()
        (target / MANIFEST).unlink()
        mine = [*_dirs(target), *(Path(d) for d in made)]
        for directory in sorted(mine, key=lambda p: len(p.parts), reverse=True):
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
    except OSError as exc:
        raise UsageError(f"cannot uninstall the OpenClaw skill from {target}: {exc}") from exc
    return changes


def _made(target: Path) -> dict[str, str]:
    """The directories above ``target`` (the skills directory, the state directory) that an
    install makes, or that the first install made (kept in its manifest)."""
    earlier = _manifest(target, "made") if target.exists() else None
    if earlier is not None:
        return earlier
    return {str(d): "dir" for d in (target.parent, target.parent.parent) if not d.exists()}


def _swap_in(
    target: Path, ours: dict[str, bytes], keep: dict[str, Path], made: dict[str, str]
) -> None:
    """Write the new copy beside ``target``'s parent and rename it into place."""
    state = target.parent.parent
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".codeswarm-skill.", dir=state))
    try:
        staging.chmod(0o755)
        for rel, source in keep.items():  # the person's own files, kept across updates
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, staging / rel)
        for rel, data in ours.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_bytes(data)
        manifest = {rel: _digest(data) for rel, data in sorted(ours.items())}
        doc = {"files": manifest, "made": made}
        (staging / MANIFEST).write_text(json.dumps(doc, indent=2) + "\n")
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=".codeswarm-skill.old.", dir=state))
            target.rename(old / SKILL_NAME)
            staging.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _manifest(target: Path, key: str = "files") -> dict[str, str] | None:
    """What an install recorded in ``target``'s manifest: ``files`` (relative path -> SHA-256)
    or ``made`` (the directories it made). None: no manifest (not codeswarm's)."""
    try:
        doc = json.loads((target / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    files = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(files, dict):
        return None
    return {str(k): str(v) for k, v in files.items()}


def _extra_files(target: Path, installed: dict[str, str]) -> dict[str, Path]:
    """Files in ``target`` that no install put there (the person's own)."""
    if not target.is_dir():
        return {}
    out = {}
    for path in _walk(target):
        rel = path.relative_to(target).as_posix()
        if rel != MANIFEST and rel not in installed:
            out[rel] = path
    return out


def _walk(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            yield path


def _dirs(root: Path) -> list[Path]:
    return [root, *(p for p in root.rglob("*") if p.is_dir() and not p.is_symlink())]


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
