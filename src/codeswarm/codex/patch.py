"""The apply_patch envelope Codex writes, read for what it touches.

::

    *** Begin Patch
    *** Add File: a.txt            +lines
    *** Delete File: b.txt
    *** Update File: c.txt
    *** Move to: d.txt             (optional: a rename; the destination is touched too)
    @@ optional context
     context / -removed / +added
    *** End of File                (optional)
    *** End Patch

:func:`parse_patch` never raises: whatever it is given (a heredoc-wrapped shell command, a
truncated patch, garbage) it returns every file operation it could read and a list of problems.
The hooks use :func:`affected_paths` to check leases before Codex applies a patch, so a rename's
destination counts (a form like ``*** Move File:`` is not what Codex writes, and is not read).
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

OpKind = Literal["add", "delete", "update"]
_HEADERS = (("*** Add File:", "Add File"), ("*** Delete File:", "Delete File"),
            ("*** Update File:", "Update File"), ("*** Move to:", "Move to"))  # fmt: skip


def _header(line: str) -> tuple[str, str] | None:
    """(section, path) for a file-section header line (no ``re``: hooks import this per call)."""
    for prefix, what in _HEADERS:
        if line.startswith(prefix):
            return what, line[len(prefix) :]
    return None


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
    """What did not follow the grammar (the ops are still every one that could be read)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def affected_paths(self) -> list[str]:
        """Every path the patch creates, changes, deletes or renames to (in order, no repeats)."""
        seen: dict[str, None] = {}
        for op in self.ops:
            for p in op.paths():
                seen.setdefault(p, None)
        return list(seen)


def _body(text: str) -> tuple[list[str], list[str]]:
    """The lines between the envelope markers (a heredoc or shell wrapper around it is ignored)."""
    problems: list[str] = []
    lines = text.replace("\r\n", "\n").split("\n")
    start = next((i for i, ln in enumerate(lines) if ln.strip() == BEGIN), None)
    if start is None:
        problems.append(f"no '{BEGIN}' line")
        start = -1
    end = next((i for i in range(start + 1, len(lines)) if lines[i].strip() == END), None)
    if end is None:
        problems.append(f"no '{END}' line")
        end = len(lines)
    return lines[start + 1 : end], problems


def parse_patch(text: object) -> Patch:
    """Read a patch (see the module docstring). Never raises."""
    if not isinstance(text, str):
        return Patch((), ("not text",))
    body, problems = _body(text)
    ops: list[FileOp] = []
    current: FileOp | None = None
    for n, raw in enumerate(body, 1):
        line = raw.strip()
        m = _header(line) if line.startswith("*** ") else None
        if m is None:
            if line == END_OF_FILE:
                continue
            if current is None and line:
                problems.append(f"line {n}: content outside a file section")
            continue
        what, path = m[0], m[1].strip()
        if not path:
            problems.append(f"line {n}: '{what}' without a path")
            continue
        if what == "Move to":
            if current is None or current.kind != "update":
                problems.append(f"line {n}: 'Move to' not after an 'Update File'")
            elif current.move_to is not None:
                problems.append(f"line {n}: a second 'Move to' for {current.path}")
            else:
                current = FileOp("update", current.path, path)
                ops[-1] = current
            continue
        kind: OpKind = {"Add File": "add", "Delete File": "delete", "Update File": "update"}[what]  # type: ignore[assignment]
        current = FileOp(kind, path)
        ops.append(current)
    if not ops and not problems:
        problems.append("no file sections")
    return Patch(tuple(ops), tuple(problems))


def affected_paths(text: object) -> list[str]:
    """Shorthand: every path a patch touches (rename destinations included)."""
    return parse_patch(text).affected_paths()
