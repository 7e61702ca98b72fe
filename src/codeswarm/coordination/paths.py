"""Lease paths: normalization against the scope root, and whether two paths can overlap.

A lease (or a task's file list) names one of three kinds of path, always stored relative to the
scope root in a canonical form:

- a **file**: ``src/app.py``;
- a **directory** and everything under it: ``src/`` (the whole tree is ``.``);
- a **glob**: ``src/**/*.py`` (``*``, ``?`` and ``[...]`` within one segment; ``**`` alone as a
  segment matches any number of segments).

Normalization follows the path the way the kernel would (symlinks included) and refuses one that
ends up outside the scope root. Overlap is decided segment by segment; for two globs it may answer
"overlaps" when they cannot actually match the same file (conservative: it never misses one).
"""

from __future__ import annotations

import os

from codeswarm.coordination.bounds import check_path_input

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

if TYPE_CHECKING:
    from codeswarm.core import errors
else:  # (loaded on the way to an error: ._errors)
    from codeswarm.coordination._errors import errors

GLOB_CHARS = frozenset("*?[")
FILE = "file"
DIR = "dir"
GLOB = "glob"
KINDS = (FILE, DIR, GLOB)
ROOT = "."
"""The canonical path of the whole tree (a directory lease on the scope root)."""

_ANY = ("**", True)


class PathSpec:
    """A canonical lease path: ``path`` (as stored and shown), ``kind`` and its segments."""

    __slots__ = ("kind", "path", "segments")

    def __init__(self, path: str, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown path kind {kind!r}")
        self.path = path
        self.kind = kind
        self.segments = _segments(path, kind)

    def overlaps(self, other: PathSpec) -> bool:
        """Whether some file could be covered by both (conservative for two globs)."""
        if self.kind == FILE and other.kind == FILE:
            return self.path == other.path
        return _intersect(self.segments, other.segments)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PathSpec) and (self.path, self.kind) == (other.path, other.kind)

    def __hash__(self) -> int:
        return hash((self.path, self.kind))

    def __repr__(self) -> str:
        return f"PathSpec({self.path!r}, {self.kind!r})"


def kind_of(canonical: str) -> str:
    """The kind a canonical path string denotes on its own (task file lists store only this)."""
    if canonical == ROOT or canonical.endswith("/"):
        return DIR
    if any(c in GLOB_CHARS for c in canonical):
        return GLOB
    return FILE


def from_canonical(canonical: str, kind: str | None = None) -> PathSpec:
    """A spec from its stored form."""
    return PathSpec(canonical, kind or kind_of(canonical))


def normalize(path: str, root: str, cwd: str | None = None) -> PathSpec:
    """Canonicalize ``path`` (absolute, or relative to ``cwd``, default the root) against the
    scope ``root`` (an absolute, symlink-free directory, see :func:`resolve_root`).

    A trailing ``/`` or an existing directory makes a directory spec; ``*``, ``?`` or ``[`` make a
    glob. Raises :class:`PathEscapeError` when the path ends up outside the root (absolute
    elsewhere, ``..`` or a symlink), :class:`TooLargeError` when it is too long to be worth
    resolving (:func:`~codeswarm.coordination.bounds.check_path_input`; what is stored has a
    tighter bound, checked where it is stored) and :class:`CoordInputError` when it is empty or
    malformed.
    """
    if not path or not path.strip():
        raise errors.CoordInputError("empty path")
    check_path_input(path)
    if "\0" in path or "\n" in path or "\r" in path:
        raise errors.CoordInputError(f"path {path!r} contains a NUL or line break")
    base = root if cwd is None else os.path.abspath(cwd)
    parts = path.split("/")
    first_glob = next((i for i, p in enumerate(parts) if any(c in GLOB_CHARS for c in p)), None)
    pattern: list[str] = []
    literal = path
    if first_glob is not None:
        pattern = [p for p in parts[first_glob:] if p not in ("", ".")]
        if ".." in pattern:
            raise errors.CoordInputError(f"{path}: '..' after a wildcard is not allowed in a glob")
        literal = "/".join(parts[:first_glob])
    full = os.path.join(base, literal) if literal else base
    resolved = os.path.realpath(full)
    if resolved != root and not resolved.startswith(root.rstrip("/") + "/"):
        lexical = os.path.normpath(full)
        if lexical == root or lexical.startswith(root.rstrip("/") + "/"):
            raise errors.PathEscapeError(
                f"{path}: resolves through a symlink to {resolved}, outside the scope root {root}"
            )
        raise errors.PathEscapeError(f"{path}: {lexical} is outside the scope root {root}")
    rel = "" if resolved == root else resolved[len(root.rstrip("/")) + 1 :]
    if pattern:
        canonical = "/".join([rel, *pattern]) if rel else "/".join(pattern)
        return PathSpec(canonical, GLOB)
    if not rel:
        return PathSpec(ROOT, DIR)
    if path.endswith("/") or os.path.isdir(resolved):
        return PathSpec(rel + "/", DIR)
    return PathSpec(rel, FILE)


def resolve_root(root: str) -> str:
    """The absolute, symlink-free form of a scope root directory."""
    return os.path.realpath(os.path.abspath(root))


# -- overlap --------------------------------------------------------------------------------------

Segment = tuple[str, bool]
"""One path segment and whether it is a pattern (else a literal name)."""


def _segments(path: str, kind: str) -> tuple[Segment, ...]:
    if kind == FILE:
        return tuple((s, False) for s in path.split("/"))
    if kind == DIR:
        if path == ROOT:
            return (_ANY,)
        return (*((s, False) for s in path.rstrip("/").split("/")), _ANY)
    return tuple((s, any(c in GLOB_CHARS for c in s)) for s in path.split("/"))


def _intersect(a: tuple[Segment, ...], b: tuple[Segment, ...]) -> bool:
    memo: dict[tuple[int, int], bool] = {}

    def go(i: int, j: int) -> bool:
        key = (i, j)
        if key in memo:
            return memo[key]
        memo[key] = False  # guards recursion on the same pair
        result = _step(i, j)
        memo[key] = result
        return result

    def _step(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == _ANY:
            return go(i + 1, j) or (j < len(b) and go(i, j + 1))
        if j < len(b) and b[j] == _ANY:
            return go(i, j + 1) or (i < len(a) and go(i + 1, j))
        if i == len(a) or j == len(b):
            return False
        return _segment_compatible(a[i], b[j]) and go(i + 1, j + 1)

    return go(0, 0)


def _segment_compatible(x: Segment, y: Segment) -> bool:
    (xs, xp), (ys, yp) = x, y
    if not xp and not yp:
        return xs == ys
    if not xp or not yp:
        literal, pattern = (xs, ys) if not xp else (ys, xs)
        return _fnmatch()(literal, pattern)
    # two patterns: they can only match a common name if their literal ends agree
    xpre, xsuf = _literal_ends(xs)
    ypre, ysuf = _literal_ends(ys)
    if not (xpre.startswith(ypre) or ypre.startswith(xpre)):
        return False
    return xsuf.endswith(ysuf) or ysuf.endswith(xsuf)


def _literal_ends(pattern: str) -> tuple[str, str]:
    """The literal text before the first and after the last wildcard of a segment pattern."""
    first = last_end = None
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        end = None
        if c in "*?":
            end = i + 1
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j < n:  # a closed class; an unclosed '[' is a literal (as in fnmatch)
                end = j + 1
        if end is not None:
            if first is None:
                first = i
            last_end = end
            i = end
        else:
            i += 1
    if first is None or last_end is None:
        return pattern, pattern
    return pattern[:first], pattern[last_end:]


def _fnmatch() -> Callable[[str, str], bool]:
    import fnmatch  # only globs pay for `re`

    return fnmatch.fnmatchcase


def outside(paths: Iterable[str], files: Iterable[str], root: str, cwd: str) -> list[str]:
    """Those of ``paths`` (absolute, or relative to ``cwd``) that no task file spec (canonical,
    relative to the scope ``root``: a file, ``dir/`` or a glob) covers. A path outside the root
    is outside every scope. Empty ``files``: no scope, nothing is outside."""

    specs = [from_canonical(f) for f in files]
    if not specs:
        return []
    out = []
    for path in paths:
        try:
            spec = normalize(path, root, cwd)
        except (errors.CoordInputError, errors.PathEscapeError):
            out.append(path)
            continue
        if not any(s.overlaps(spec) for s in specs):
            out.append(path)
    return out
