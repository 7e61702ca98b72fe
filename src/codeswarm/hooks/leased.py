"""The files peers lease, by content: a snapshot before a tool call, the comparison after it, and
putting the holder's content back.

Before a tool call that may write (a shell command, a patch, a write tool) the hook records, for
every file a peer leases (a file lease; every file under a directory lease; every file a glob
lease matches), a *signature*: the SHA-256 of its bytes (and a copy of them, by hash, in the
scratch directory), or that it was absent, a symlink, or something else. After the call it
computes the signatures again and compares: content, not size or mtime, so a same-size write that
puts the mtime back is seen. Nothing here walks the whole tree: only what peers lease is read, so
no tree size turns it off and no directory (``build/``, ``dist/``) is skipped.

Cost: one ``open`` per leased path (one ``lstat`` for an absent directory, whatever number of
leased files it would hold), and reading and hashing the leased files that exist (leased files
are few). What depends only on the list of file leases (the paths they cover, by directory, and
their encoding in a snapshot) is kept for the very same list (the decision service's, while the
store holds it); the files' content never is. A file over :data:`COPY_CAP` is hashed but not
copied: a change to it is reported, not undone.
"""

from __future__ import annotations

import json
import os
import stat

from codeswarm.core.atomic import atomic_write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

COPY_CAP = 16 * 1024 * 1024
"""Bytes: a leased file up to this size is copied before a tool call (it can be put back after);
a larger one is only hashed (a change is reported, not undone)."""
KEEP_S = 6 * 3600.0
"""A copy or a snapshot not used for this long is forgotten (the bytes a restore displaced are
kept this long too)."""
ABSENT = None
"""The signature of a path where nothing is."""

Sig = str | None
"""``f:<sha256>`` a regular file (copied), ``F:<sha256>`` one too large to copy, ``l:<target>``
a symlink, ``o:<type>`` anything else, :data:`ABSENT` nothing."""


_SHA256: Any = None


def _hasher() -> Any:
    """A new SHA-256. The bare C module: hashlib's OpenSSL binding costs ~2 ms to import, and
    this runs on every tool call."""
    global _SHA256
    if _SHA256 is None:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
        except ImportError:  # pragma: no cover (Python 3.12+ renamed it)
            try:
                from _sha2 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
            except ImportError:
                from hashlib import sha256  # type: ignore[assignment,unused-ignore]
        _SHA256 = sha256
    return _SHA256()


# -- which files --------------------------------------------------------------------------------


class Spec:
    """One lease as the snapshot keeps it: canonical path, kind, holder (``name#gen``)."""

    __slots__ = ("holder", "kind", "path")

    def __init__(self, path: str, kind: str, holder: str) -> None:
        self.path = path
        self.kind = kind
        self.holder = holder

    def files(self, root: str) -> Iterator[str]:
        """The relative paths this lease covers: its own path for a file lease (whether or not
        anything is there), every non-directory under a directory lease, every non-directory a
        glob matches (under its literal prefix)."""
        if self.kind == "file":
            yield self.path
            return
        if self.kind == "dir":
            top = "" if self.path == "." else self.path.rstrip("/")
            yield from _walk(root, top)
            return
        from codeswarm.coordination.paths import PathSpec, from_canonical

        pattern = from_canonical(self.path, self.kind)
        parts = self.path.split("/")
        literal = []
        for part in parts:
            if any(c in "*?[" for c in part):
                break
            literal.append(part)
        for rel in _walk(root, "/".join(literal)):
            if pattern.overlaps(PathSpec(rel, "file")):
                yield rel


def _walk(root: str, top: str) -> Iterator[str]:
    """Every non-directory under ``root/top`` (relative to root); symlinked directories are not
    entered (they are reported as symlinks). The top-level ``.git`` of a whole-tree lease is
    skipped: Codex's sandbox keeps it read-only."""
    stack = [top]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = os.scandir(os.path.join(root, rel_dir) if rel_dir else root)
        except OSError:
            continue
        with entries:
            for e in entries:
                rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
                try:
                    is_dir = e.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                if is_dir:
                    if rel != ".git":
                        stack.append(rel)
                else:
                    yield rel


_KEPT: dict[str, tuple[object, str, Any]] = {}
"""Per kind of derived value, the last one: ``(the list it was made from, root, value)``. A list
of leases is kept by the hooks' decision service as long as the store holds it and never
changed in place, so the very same list (``is``, not ``==``) yields the very same value."""


def _kept(kind: str, source: object, root: str) -> Any:
    hit = _KEPT.get(kind)
    return hit[2] if hit is not None and hit[0] is source and hit[1] == root else None


def _ours(specs: object) -> bool:
    """Whether ``specs`` is the list :func:`specs_of` made last (nobody else holds it to change
    it): only what is derived from that one is kept."""
    hit = _KEPT.get("specs")
    return hit is not None and hit[2] is specs


def specs_of(leases: list[tuple[str, str, str]]) -> list[Spec]:
    """``Spec(*lease)`` for each of ``leases`` (``(path, kind, holder)``); the list made last
    time when ``leases`` is the very same list (the decision service's, per tool call). Not
    to be changed."""
    specs: list[Spec] | None = _kept("specs", leases, "")
    if specs is None:
        specs = [Spec(*le) for le in leases]
        _KEPT["specs"] = (leases, "", specs)
    return specs


def covered(root: str, specs: Iterable[Spec]) -> dict[str, Spec]:
    """Every relative path the leases cover -> the (first) lease covering it. Not to be
    changed: for file leases only (what they cover does not depend on the tree) the mapping
    made for the very same list of specs last time is returned again."""
    if isinstance(specs, list) and _ours(specs):
        out: dict[str, Spec] | None = _kept("covered", specs, root)
        if out is not None:
            return out
        made = _covered(root, specs)
        if all(spec.kind == "file" for spec in specs):
            _KEPT["covered"] = (specs, root, made)
        return made
    return _covered(root, specs)


def _by_directory(root: str, specs: list[Spec]) -> list[tuple[str, list[str]]]:
    """What :func:`covered` lists, by directory (relative; ``""`` the root), each in the order
    listed; kept like it for the same list of file leases."""
    groups: list[tuple[str, list[str]]] | None = _kept("by_directory", specs, root)
    if groups is not None:
        return groups
    by_dir: dict[str, list[str]] = {}
    for rel in covered(root, specs):
        by_dir.setdefault(rel.rpartition("/")[0], []).append(rel)
    groups = list(by_dir.items())
    if _kept("covered", specs, root) is not None:  # file leases only: the tree has no say
        _KEPT["by_directory"] = (specs, root, groups)
    return groups


def _covered(root: str, specs: Iterable[Spec]) -> dict[str, Spec]:
    out: dict[str, Spec] = {}
    for spec in specs:
        if spec.kind == "file":  # the common case, inline: this runs per tool call
            out.setdefault(spec.path, spec)
            continue
        for rel in spec.files(root):
            out.setdefault(rel, spec)
    return out


def inode_index(root: str, files: Iterable[str]) -> dict[tuple[int, int], str]:
    """``(st_dev, st_ino)`` of each regular file among ``files`` -> its relative path: a hard
    link to one of them, wherever it is, has the same pair."""
    out: dict[tuple[int, int], str] = {}
    for rel in files:
        try:
            st = os.lstat(os.path.join(root, rel))
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            out.setdefault((st.st_dev, st.st_ino), rel)
    return out


# -- signatures ---------------------------------------------------------------------------------


def signature(path: str, blobs: str | None) -> tuple[Sig, int]:
    """``(signature, permission bits)`` of what is at ``path`` now, without following a symlink
    there. With ``blobs`` (a directory), a regular file's bytes are kept in ``blobs/<sha256>``
    (once per content) when not over :data:`COPY_CAP`."""
    try:  # open first (one system call less than lstat + open): leased files are regular
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return ABSENT, 0
    except OSError:  # a symlink (ELOOP), a socket, a path through a file, unreadable
        return _other(path)
    try:
        st = os.fstat(fd)
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode):  # a FIFO opens at once with O_NONBLOCK; never read it
            return f"o:{stat.S_IFMT(st.st_mode):o}", mode
        h = _hasher()
        big = st.st_size > COPY_CAP
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, max(st.st_size + 1, 4096) if not chunks else 1 << 20)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
            big = big or size > COPY_CAP  # it may grow while we read
            if not big:
                chunks.append(chunk)
        digest: str = h.hexdigest()
    except OSError:
        return "o:unreadable", 0
    finally:
        os.close(fd)
    if big:
        return "F:" + digest, mode
    if blobs is not None:
        _keep(blobs, digest, b"".join(chunks))
    return "f:" + digest, mode


def _other(path: str) -> tuple[Sig, int]:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return ABSENT, 0
    except OSError:
        return "o:unreadable", 0
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        try:
            return "l:" + os.readlink(path), mode
        except OSError:
            return "l:?", mode
    if stat.S_ISREG(st.st_mode):
        return "o:unreadable", mode
    return f"o:{stat.S_IFMT(st.st_mode):o}", mode


def _keep(blobs: str, digest: str, data: bytes) -> None:
    path = os.path.join(blobs, digest)
    try:
        os.utime(path)  # in use again: not collected for another KEEP_S
    except FileNotFoundError:
        atomic_write(path, data, durable=False)


def collect(scratch: str, now: float) -> None:
    """Forget copies, snapshots and busy records not used for :data:`KEEP_S` (looked at once an
    hour at most)."""
    mark = os.path.join(scratch, "collected")
    try:
        if os.stat(mark).st_mtime > now - 3600:
            return
    except FileNotFoundError:
        pass
    with open(mark, "wb"):
        pass
    for sub in ("blobs", "calls", "busy"):
        top = os.path.join(scratch, sub)
        try:
            entries = os.scandir(top)
        except OSError:
            continue
        with entries:
            for e in entries:
                try:
                    if e.stat(follow_symlinks=False).st_mtime < now - KEEP_S:
                        os.unlink(e.path)
                except OSError:
                    continue


# -- one tool call's snapshot -------------------------------------------------------------------


class Snapshot:
    """What peers' leased files looked like before one tool call."""

    def __init__(
        self,
        t0: float,
        root: str,
        specs: list[Spec],
        files: dict[str, list[object]],
        tool: str = "",
        call: str = "",
    ) -> None:
        self.t0 = t0
        self.root = root
        self.specs = specs
        self.tool = tool
        """The tool and its call id (for the report)."""
        self.call = call
        self.files = files
        """relative path -> ``[signature, mode]`` of what was there (a covered path not listed
        was absent)."""

    @classmethod
    def take(
        cls, t0: float, root: str, specs: list[Spec], blobs: str, tool: str = "", call: str = ""
    ) -> Snapshot:
        files: dict[str, list[object]] = {}
        for parent, rels in _by_directory(root, specs):
            if parent and not os.path.lexists(os.path.join(root, parent)):
                continue  # the directory is absent: its files are too (one lstat for them all)
            for rel in rels:
                sig, mode = signature(os.path.join(root, rel), blobs)
                if sig is not ABSENT:  # absent: not listed
                    files[rel] = [sig, mode]
        return cls(t0, root, specs, files, tool, call)

    def changes(self) -> list[tuple[str, Sig, int, Spec]]:
        """``(relative path, signature before, mode before, lease)`` for every covered path
        whose signature differs now (created, changed, replaced, deleted), by path."""
        root = self.root
        now = covered(root, self.specs)
        if all(rel in now for rel in self.files):  # (file leases: what take() went through)
            groups = _by_directory(root, self.specs)
        else:
            by_dir: dict[str, list[str]] = {}
            for rel in now.keys() | self.files.keys():
                by_dir.setdefault(rel.rpartition("/")[0], []).append(rel)
            groups = list(by_dir.items())
        out = []
        files = self.files
        for parent, rels in groups:
            # the directory absent now: so are its files (one lstat); only those that were
            # there before are changes (deleted)
            gone = bool(parent) and not os.path.lexists(os.path.join(root, parent))
            for rel in rels:
                before = files.get(rel)
                if before is None and gone:
                    continue
                sig0: Sig = before[0] if before else ABSENT  # type: ignore[assignment]
                sig1 = ABSENT if gone else signature(os.path.join(root, rel), None)[0]
                if sig1 != sig0:
                    spec = now.get(rel) or _spec_for(
                        rel, {s.path: s for s in self.specs}, self.specs
                    )
                    if spec is not None:
                        mode0 = int(before[1]) if before else 0  # type: ignore[call-overload]
                        out.append((rel, sig0, mode0, spec))
        out.sort(key=lambda change: change[0])
        return out

    def dump(self) -> bytes:
        head = json.dumps(
            {"t0": self.t0, "root": self.root, "tool": self.tool, "call": self.call},
            separators=(",", ":"),
        )
        kept: tuple[str, list[list[str]]] | None = _kept("dump", self.specs, "")
        if kept is None:  # the same list of leases, call after call: encoded once
            lists = [[s.path, s.kind, s.holder] for s in self.specs]
            kept = json.dumps(lists, separators=(",", ":")), lists
            if _ours(self.specs):
                _KEPT["dump"] = (self.specs, "", kept)
        files = json.dumps(self.files, separators=(",", ":"))
        return f'{head[:-1]},"specs":{kept[0]},"files":{files}}}'.encode()

    @classmethod
    def load(cls, data: bytes) -> Snapshot | None:
        try:
            doc = json.loads(data)
            kept = _KEPT.get("dump")  # the list the last snapshot was taken with: the same
            if kept is not None and doc["specs"] == kept[2][1]:
                specs: list[Spec] = kept[0]  # type: ignore[assignment]
            else:
                specs = [Spec(str(p), str(k), str(h)) for p, k, h in doc["specs"]]
            return cls(
                float(doc["t0"]),
                str(doc["root"]),
                specs,
                dict(doc["files"]),
                str(doc.get("tool") or ""),
                str(doc.get("call") or ""),
            )
        except (ValueError, TypeError, KeyError):
            return None


def call_key(session: str, tool_use: str) -> str:
    """A file name for one tool call (session and tool-use ids, made safe)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{session}-{tool_use}")
    return safe[:200]


def save(scratch: str, key: str, snap: Snapshot) -> None:
    """Keep the snapshot for the PostToolUse of this call. Not fsynced: lost in a power failure
    (nothing is compared then), never seen half-written."""
    atomic_write(os.path.join(scratch, "calls", key + ".json"), snap.dump(), durable=False)


def leftovers(scratch: str, session: str) -> list[str]:
    """The keys of this session's snapshots that no PostToolUse used (a call Codex ran without
    one, or did not run)."""
    prefix = call_key(session, "")
    try:
        names = os.listdir(os.path.join(scratch, "calls"))
    except OSError:
        return []
    return sorted(n[:-5] for n in names if n.startswith(prefix) and n.endswith(".json"))


def load(scratch: str, key: str) -> Snapshot | None:
    """The snapshot taken before this call (and forget it)."""
    path = os.path.join(scratch, "calls", key + ".json")
    try:
        with open(path, "rb") as f:
            data = f.read()
        os.unlink(path)
    except OSError:
        return None
    return Snapshot.load(data)


def _spec_for(rel: str, by_path: dict[str, Spec], specs: list[Spec]) -> Spec | None:
    """The lease that covered ``rel`` before (a path gone now: a deleted file, a replaced
    directory)."""
    if rel in by_path:
        return by_path[rel]
    for spec in specs:
        if spec.kind == "dir" and (spec.path == "." or rel.startswith(spec.path)):
            return spec
    from codeswarm.coordination.paths import PathSpec, from_canonical

    for spec in specs:
        if spec.kind == "glob" and from_canonical(spec.path, "glob").overlaps(
            PathSpec(rel, "file")
        ):
            return spec
    return None


# -- putting it back -----------------------------------------------------------------------------


def restore(root: str, rel: str, sig: Sig, mode: int, blobs: str) -> str | None:
    """Put back what was at ``root/rel`` (signature ``sig``, permission bits ``mode``): the
    copied bytes, the symlink, or nothing. ``None`` when done, else why it could not be."""
    path = os.path.join(root, rel)
    parent = os.path.dirname(path)
    try:
        if sig is not None and sig.startswith(("f:", "l:")):
            os.makedirs(parent, 0o755, exist_ok=True)
        if os.path.exists(parent) and os.path.realpath(parent) != parent:
            # a directory on the way was replaced by a symlink: writing there would land elsewhere
            return f"{os.path.dirname(rel) or '.'} is now a symlink to {os.path.realpath(parent)}"
        try:
            now = os.lstat(path)
        except FileNotFoundError:
            now = None
        if now is not None and stat.S_ISDIR(now.st_mode):
            return f"{rel} is now a directory"
        if sig is None:
            if now is not None:
                os.unlink(path)
            return None
        if sig.startswith("f:"):
            try:
                with open(os.path.join(blobs, sig[2:]), "rb") as f:
                    data = f.read()
            except OSError:
                return "its copy is gone"
            atomic_write(path, data, mode=mode or 0o644)
            return None
        if sig.startswith("l:"):
            tmp = f"{path}.codeswarm-restore.{os.getpid()}"
            os.symlink(sig[2:], tmp)
            os.replace(tmp, path)
            return None
        if sig.startswith("F:"):
            return f"it is over {COPY_CAP // (1024 * 1024)} MiB: no copy was kept"
        return "it was not a regular file"
    except OSError as exc:
        return exc.strerror or str(exc)
