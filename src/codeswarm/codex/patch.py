"""The apply_patch envelope, read exactly as Codex 0.169 applies it, for what it touches.

::

    *** Begin Patch
    *** Environment ID: <id>        (optional, directly after Begin)
    *** Add File: a.txt             +lines
    *** Delete File: b.txt
    *** Update File: c.txt
    *** Move to: d.txt              (optional, first line of the update: a rename)
    @@ optional context
     context / -removed / +added
    *** End of File                 (optional)
    *** End Patch

The contract the hooks rely on (docs/security/patch.md): for every text, every path Codex would
create, change, delete or rename to is in :meth:`Patch.affected_paths`. Two readings give it:

- ``ops``: the file sections as Codex 0.169's own parser reads them (line by line, with its
  rules for where leading whitespace counts: inside an Update hunk a line starting with a space
  is a context line, so `` *** End Patch`` there ends nothing), each path as the file Codex
  writes (it drops tabs and carriage returns inside a path). A text Codex would refuse gets
  ``problems`` (Codex changes nothing then) and the sections read before the first one.
- ``maybe``: every path on any line that merely *looks* like a file header (any indentation, any
  spacing after the colon, any case, any line-break convention, anywhere in the text). A more
  lenient reader (another Codex version, a shell heredoc wrapper) could act on those, so they are
  reported too: a deny of a path Codex would not touch is harmless; a missed one is not.

:func:`parse_patch` never raises. No ``re``, no dataclasses: the hooks import this per tool call.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

BEGIN = "*** Begin Patch"
END = "*** End Patch"
ADD = "*** Add File: "
DELETE = "*** Delete File: "
UPDATE = "*** Update File: "
MOVE = "*** Move to: "
END_OF_FILE = "*** End of File"
ENVIRONMENT = "*** Environment ID:"

OpKind = Literal["add", "delete", "update"]

_WS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Rust's ``char::is_whitespace`` (what ``str::trim`` removes); Python's ``str.strip()`` also
removes ``\\x1c``-``\\x1f``, which Rust keeps."""
_HEREDOC_OPENERS = ("<<EOF", "<<'EOF'", '<<"EOF"')
_HEADERS: tuple[tuple[str, OpKind], ...] = ((ADD, "add"), (DELETE, "delete"), (UPDATE, "update"))
_LOOSE = ("*** add file:", "*** delete file:", "*** update file:", "*** move to:")


def _target(path: str) -> str:
    """The file Codex 0.169 writes for a path as the patch spells it: it drops every tab and
    carriage return in it (``*** Update File: \\tv`` changes ``v``, ``v\\rv`` changes ``vv``)."""
    if "\t" in path or "\r" in path:
        return path.replace("\t", "").replace("\r", "")
    return path


class FileOp(NamedTuple):
    # (NamedTuples, not dataclasses: the hooks import this on every tool call, and
    # ``dataclasses`` pulls in ``inspect``)
    kind: OpKind
    path: str
    move_to: str | None = None
    """For an update that renames: the destination."""

    def paths(self) -> tuple[str, ...]:
        return (self.path, self.move_to) if self.move_to else (self.path,)


class Patch(NamedTuple):
    ops: tuple[FileOp, ...]
    problems: tuple[str, ...] = ()
    """Why Codex would refuse the text (it then changes nothing); empty when it would apply."""
    maybe: tuple[str, ...] = ()
    """Paths on header-like lines that ``ops`` does not name (see the module docstring)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def affected_paths(self) -> list[str]:
        """Every path the patch may create, change, delete or rename to: ``ops`` (in order)
        then ``maybe``, no repeats."""
        seen: dict[str, None] = {}
        for op in self.ops:
            for p in op.paths():
                seen.setdefault(p, None)
        for p in self.maybe:
            seen.setdefault(p, None)
        return list(seen)


def _lines(text: str) -> list[str]:
    """Rust's ``text.trim().lines()``: split on ``\\n``, one trailing ``\\r`` dropped per line."""
    text = text.strip(_WS)
    if not text:
        return []
    return [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]


def _envelope(lines: list[str]) -> tuple[list[str], str | None]:
    """The patch lines (Begin .. End) inside the text, and why Codex would refuse the envelope.
    A refused envelope still yields the lines from the first Begin on, for a best-effort read."""

    def strict(ls: list[str]) -> str | None:
        if not ls or ls[0].strip(_WS) != BEGIN:
            return "The first line of the patch must be '*** Begin Patch'"
        if len(ls) < 2 or ls[-1].strip(_WS) != END:
            return "The last line of the patch must be '*** End Patch'"
        return None

    problem = strict(lines)
    if problem is None:
        return lines, None
    if len(lines) >= 4 and lines[0] in _HEREDOC_OPENERS and lines[-1].endswith("EOF"):
        inner = lines[1:-1]
        if strict(inner) is None:
            return inner, None
    start = next((i for i, ln in enumerate(lines) if ln.strip(_WS) == BEGIN), None)
    return ([] if start is None else lines[start:]), problem


class _Reader:
    """Codex 0.169's line-by-line patch parser, reduced to what decides which files it touches
    and whether it accepts the text. Stops at the first problem, as Codex does."""

    def __init__(self) -> None:
        self.ops: list[FileOp] = []
        self.mode = "start"  # start | add | delete | update | ended
        self.environment_seen = False
        self.chunks = 0  # update mode: chunks read so far
        self.chunk_empty = False  # update mode: the last chunk has no lines yet
        self.chunk_closed = False  # update mode: the last chunk ended with *** End of File
        self.problem: str | None = None

    def _fail(self, n: int, msg: str) -> None:
        self.problem = f"line {n}: {msg}"

    def _update_complete(self, n: int) -> bool:
        if self.mode != "update":
            return True
        if self.chunks == 0:
            self._fail(n, f"Update file hunk for path '{self.ops[-1].path}' is empty")
            return False
        if self.chunk_empty:
            self._fail(n, "Update hunk does not contain any lines")
            return False
        return True

    def _header(self, n: int, line: str) -> bool:
        """A hunk header or End Patch on ``line`` (already trimmed as the mode requires)."""
        if line == END:
            if self._update_complete(n):
                self.mode = "ended"
            return True
        for prefix, kind in _HEADERS:
            if line.startswith(prefix):
                if self._update_complete(n):
                    self.ops.append(FileOp(kind, _target(line[len(prefix) :])))
                    self.mode = kind
                    self.chunks, self.chunk_empty, self.chunk_closed = 0, False, False
                return True
        return False

    def feed(self, n: int, line: str) -> None:
        if self.mode == "update":
            self._update_line(n, line)
            return
        if self.mode == "add" and line[:1] == "+":  # content (trimmed, it is no marker either)
            return
        trimmed = line.strip(_WS)
        if self.mode == "ended":  # blank lines only (the text's last line may repeat End Patch)
            if trimmed:
                self._fail(n, "The last line of the patch must be '*** End Patch'")
            return
        if self.mode == "start" and not self.ops and trimmed.startswith(ENVIRONMENT):
            if self.environment_seen:
                self._fail(n, "environment_id cannot be specified more than once")
            elif not trimmed[len(ENVIRONMENT) :].strip(_WS):
                self._fail(n, "environment_id cannot be empty")
            self.environment_seen = True
            return
        if self._header(n, trimmed):
            return
        self._fail(n, f"'{trimmed}' is not a valid hunk header")

    def _update_line(self, n: int, line: str) -> None:
        if line[:1] in ("+", "-", " ") and not self.chunk_closed:  # a diff line (no marker)
            self.chunks = self.chunks or 1
            self.chunk_empty = False
            return
        ul = line.rstrip(_WS)
        if self._header(n, ul):
            return
        op = self.ops[-1]
        if self.chunks == 0 and op.move_to is None and ul.startswith(MOVE):
            self.ops[-1] = FileOp("update", op.path, _target(ul[len(MOVE) :]))
            return
        if ul == "@@" or ul.startswith("@@ "):
            if self.chunk_empty:
                self._fail(n, f"Unexpected line found in update hunk: '{line}'")
                return
            self.chunks += 1
            self.chunk_empty, self.chunk_closed = True, False
            return
        if self.chunk_closed:
            if ul:
                self._fail(n, f"Expected update hunk to start with a @@ context marker: '{line}'")
            return
        if ul == END_OF_FILE:
            if self.chunk_empty:
                self._fail(n, "Update hunk does not contain any lines")
            elif self.chunks:
                self.chunk_closed = True
            return
        if not line:  # an empty context line
            self.chunks = self.chunks or 1
            self.chunk_empty = False
            return
        if self.chunks and not self.chunk_empty:
            self._fail(n, f"Expected update hunk to start with a @@ context marker: '{line}'")
        else:
            self._fail(n, f"Unexpected line found in update hunk: '{line}'")

    def finish(self, n: int) -> None:
        """The text's last line, End Patch: Codex checks it fully trimmed, whatever the mode."""
        if self.mode != "ended" and self._update_complete(n):
            self.mode = "ended"


def _read(lines: list[str], problem: str | None) -> tuple[list[FileOp], list[str]]:
    problems = [problem] if problem else []
    if not lines:
        return [], problems
    reader = _Reader()
    last = len(lines) - 1
    for n in range(1, last + 1):
        if n == last and problem is None:
            reader.finish(n + 1)
        else:
            reader.feed(n + 1, lines[n])
        if reader.problem is not None:
            break
    if reader.problem is not None and not problems:
        problems.append(reader.problem)
    if not reader.ops and not problems:
        problems.append("no file sections (Codex: 'No files were modified.')")
    return reader.ops, problems


def _loose_paths(text: str, known: set[str]) -> list[str]:
    """Paths on every line that looks like a file header to any reader (see ``maybe``): lines
    split on ``\n`` as Codex does, and on every other line break ``str.splitlines`` knows."""
    found: dict[str, None] = {}
    at = text.find("***")
    while at >= 0:
        start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", at)
        end = len(text) if end < 0 else end
        line = text[start:end]
        pieces = line.splitlines()
        for piece in (line, *pieces) if len(pieces) > 1 else (line,):
            for trimmed in {piece.strip(), piece.strip(_WS)}:
                low = trimmed[:20].lower()
                prefix = next((h for h in _LOOSE if low.startswith(h)), None)
                if prefix is None:
                    continue
                rest = trimmed[len(prefix) :]
                exact = rest[1:].rstrip(_WS) if rest.startswith(" ") else ""
                for p in (exact, rest.strip(), rest.strip(_WS)):
                    for q in (p, _target(p)):
                        if q and q not in known:
                            found.setdefault(q, None)
        at = text.find("***", end)
    return list(found)


def parse_patch(text: object) -> Patch:
    """Read a patch (see the module docstring). Never raises."""
    if not isinstance(text, str):
        return Patch((), ("not text",))
    lines, problem = _envelope(_lines(text))
    ops, problems = _read(lines, problem)
    known = {p for op in ops for p in op.paths()}
    return Patch(tuple(ops), tuple(problems), tuple(_loose_paths(text, known)))


def affected_paths(text: object) -> list[str]:
    """Shorthand: every path a patch may touch (rename destinations included)."""
    return parse_patch(text).affected_paths()
