"""``codex.patch`` against the real thing: the pinned Codex binary's own apply_patch
(``codex --codex-run-as-apply-patch PATCH``) on generated and adversarial patches.

Each patch runs in a fresh sandbox tree ``<tmp>/a/b`` (the cwd) with files present, so ``../x``,
``../../x`` and absolute paths (``{ABS}`` stands for ``<tmp>``) all land inside ``<tmp>``. The
tree is hashed before and after; what Codex changed must be a subset of what ``affected_paths``
reports (the security property, docs/security/patch.md), and the parser must agree with Codex
on whether the text is a patch at all and on which files its sections name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from codeswarm.codex.patch import parse_patch

pytestmark = pytest.mark.codex

CONTENT = ["one", "two", "*** End Patch", "*** Update File: v", "  *** Move to: m", "three"]
"""Every file holds these lines, so context lines that look like markers can match."""
FILES = ("a/b/f", "a/b/g", "a/b/v", "a/b/sub/h", "a/b/ f", "a/up", "top")
EXISTING = ("f", "g", "v", "sub/h", "../up", "../../top", "{ABS}/a/b/g", " f", "./f", "sub/../g")
"""How a patch run in ``<tmp>/a/b`` can name the files above."""
NEW = ("new1", "sub/new2", "deep/er/new3", "../new4", "{ABS}/abs1", "m")


class Outcome(NamedTuple):
    rc: int
    stderr: str
    changed: set[str]
    """Files (relative to the sandbox) created, changed or removed."""
    reported: list[str]
    """The ``A/M/D path`` lines of Codex's stdout: the paths as the patch spelled them, less the
    tabs and carriage returns Codex drops from a path before it writes."""


def _tree(root: str) -> dict[str, str]:
    files: dict[str, str] = {}
    for d, _dirs, names in os.walk(root):
        for name in names:
            p = os.path.join(d, name)
            with open(p, "rb") as fh:
                files[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return files


def apply(codex: Path, root: str, text: str) -> Outcome:
    before = _tree(root)
    proc = subprocess.run(
        [str(codex), "--codex-run-as-apply-patch", text],
        cwd=os.path.join(root, "a", "b"),
        capture_output=True,
        timeout=30,
    )
    after = _tree(root)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    out = proc.stdout.decode(errors="surrogateescape").split("\n")[1:]
    reported = [
        ln[2:].replace("\t", "").replace("\r", "") for ln in out if ln[:2] in ("A ", "M ", "D ")
    ]
    return Outcome(proc.returncode, proc.stderr.decode(errors="replace"), changed, reported)


def sandbox() -> str:
    root = tempfile.mkdtemp(prefix="codeswarm-patch-")
    for rel in FILES:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write("\n".join(CONTENT) + "\n")
    return root


def under(root: str, paths: list[str] | set[str]) -> set[str]:
    """Paths as a patch names them, as files relative to the sandbox."""
    cwd = os.path.join(root, "a", "b")
    return {os.path.relpath(os.path.normpath(os.path.join(cwd, p)), root) for p in paths}


def check(codex: Path, template: str) -> Outcome:
    """Apply ``template`` with the real binary and hold our reading of it against what happened."""
    root = sandbox()
    try:
        text = template.replace("{ABS}", root)
        patch = parse_patch(text)
        outcome = apply(codex, root, text)
        exact = under(root, {p for op in patch.ops for p in op.paths()})
        reported = under(root, patch.affected_paths())
        context = f"patch {text!r}\ncodex rc={outcome.rc} {outcome.stderr.strip()!r}\nours {patch}"
        # the security property: whatever Codex changed, we named (rename destinations included)
        assert outcome.changed <= reported, context
        assert set(outcome.reported) <= set(patch.affected_paths()), context
        # and the parser reads the grammar as Codex does: same verdict, same sections
        if outcome.rc == 0:
            assert patch.ok and outcome.changed <= exact, context
            assert set(outcome.reported) <= {p for op in patch.ops for p in op.paths()}, context
        if not patch.ok:
            assert outcome.rc != 0 and not outcome.changed, context
        else:
            assert not outcome.stderr.startswith("Invalid patch"), context
        return outcome
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- the adversarial cases, spelled out ----------------------------------------------------------
SMUGGLE = (
    "*** Begin Patch\n*** Update File: f\n@@\n two\n *** End Patch\n+harmless\n"
    "*** Update File: v\n@@\n-one\n+pwned\n*** End Patch"
)

ADVERSARIAL = {
    "context End Patch then a second section": SMUGGLE,
    "context End Patch, second section indented": SMUGGLE.replace("\n*** Update File: v", "\n  *** Update File: v"),
    "context header line is context": "*** Begin Patch\n*** Update File: f\n one\n *** Update File: v\n+x\n*** End Patch",
    "context Move to is context": "*** Begin Patch\n*** Update File: f\n@@\n  *** Move to: m\n-three\n*** End Patch",
    "tab-indented header in an update": "*** Begin Patch\n*** Update File: f\n-one\n\t*** Update File: v\n-one\n*** End Patch",
    "indented End Patch ends an add": "*** Begin Patch\n*** Add File: new1\n+x\n   *** End Patch\n*** Update File: v\n@@\n-one\n+p\n*** End Patch",
    "indented End Patch then only End Patch": "*** Begin Patch\n*** Add File: new1\n+x\n *** End Patch\n*** End Patch",
    "indented headers outside updates": "*** Begin Patch\n  *** Delete File: g\n\t*** Add File: new1\n+x\n *** End Patch",
    "two spaces after the colon": "*** Begin Patch\n*** Update File:  f\n-one\n+x\n*** End Patch",
    "no space after the colon": "*** Begin Patch\n*** Update File:f\n-one\n+x\n*** End Patch",
    "tab after the colon": "*** Begin Patch\n*** Delete File:\tg\n*** End Patch",
    "lower-case header": "*** Begin Patch\n*** update file: f\n-one\n+x\n*** End Patch",
    "trailing spaces on a header": "*** Begin Patch\n*** Delete File: g   \n*** End Patch",
    "heredoc <<'EOF'": "<<'EOF'\n*** Begin Patch\n*** Delete File: g\n*** End Patch\nEOF",
    'heredoc <<"EOF"': '<<"EOF"\n*** Begin Patch\n*** Delete File: g\n*** End Patch\nEOF\n',
    "heredoc <<EOF, closing glued": "<<EOF\n*** Begin Patch\n*** Delete File: g\n*** End Patch\nxEOF",
    "heredoc << EOF (refused)": "<< EOF\n*** Begin Patch\n*** Delete File: g\n*** End Patch\nEOF",
    "shell heredoc (refused)": "apply_patch <<'EOF'\n*** Begin Patch\n*** Delete File: g\n*** End Patch\nEOF\n",
    "CRLF": "*** Begin Patch\r\n*** Update File: f\r\n*** Move to: m\r\n@@\r\n-one\r\n+x\r\n*** End Patch\r\n",
    "tab and CR inside a path are dropped": "*** Begin Patch\n*** Update File: \tv\n@@\n-one\n+p\n*** Delete File: su\rb/h\n*** End Patch",
    "Rust trim keeps \\x1c (refused)": "*** Begin Patch\n\x1c*** Delete File: g\n*** End Patch",
    "upper-case header (refused)": "*** Begin Patch\n*** DELETE FILE: g\n*** End Patch",
    "lone CR is not a line break": "*** Begin Patch\n*** Add File: new1\r*** Delete File: g\n+x\n*** End Patch",
    "Move to onto an existing file": "*** Begin Patch\n*** Update File: f\n*** Move to: g\n@@\n-one\n+x\n*** End Patch",
    "Move to out of the cwd": "*** Begin Patch\n*** Update File: f\n*** Move to: ../../moved\n@@\n-two\n*** End Patch",
    "Move to after a chunk (refused)": "*** Begin Patch\n*** Update File: f\n-one\n*** Move to: g\n*** End Patch",
    "absolute path": "*** Begin Patch\n*** Add File: {ABS}/abs1\n+x\n*** Delete File: {ABS}/a/b/g\n*** End Patch",
    "dot-dot paths": "*** Begin Patch\n*** Update File: ../up\n@@\n-one\n+x\n*** Delete File: ../../top\n*** End Patch",
    "empty add": "*** Begin Patch\n*** Add File: new1\n*** End Patch",
    "End of File then another section": "*** Begin Patch\n*** Update File: f\n-three\n+x\n*** End of File\n\n*** Delete File: g\n*** End Patch",
    "End of File then a line (refused)": "*** Begin Patch\n*** Update File: f\n-three\n*** End of File\n+x\n*** End Patch",
    "Environment ID": "*** Begin Patch\n*** Environment ID: remote\n*** Delete File: g\n*** End Patch",
    "whitespace around the text": " \n\t*** Begin Patch\n*** Delete File: g\n*** End Patch\n\n  ",
    "text after End Patch (refused)": "*** Begin Patch\n*** Delete File: g\n*** End Patch\n*** Delete File: v",
    "indented last End Patch after an update": "*** Begin Patch\n*** Update File: f\n-one\n+x\n   *** End Patch",
    "non-atomic: second section fails": "*** Begin Patch\n*** Delete File: g\n*** Update File: v\n-nope\n*** End Patch",
    "garbage": "rm -rf / *** Update File: v",
    "empty": "",
}  # fmt: skip


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_patch_is_read_as_codex_applies_it(codex_bin: Path, name: str) -> None:
    check(codex_bin, ADVERSARIAL[name])


def test_the_smuggling_patch_reaches_the_second_file_and_we_name_it(codex_bin: Path) -> None:
    """Issue 10 item 1: Codex applies the section after a context line `` *** End Patch``."""
    outcome = check(codex_bin, SMUGGLE)
    assert outcome.rc == 0 and outcome.changed == {"a/b/f", "a/b/v"}
    assert parse_patch(SMUGGLE).affected_paths() == ["f", "v"]


# -- generated patches ---------------------------------------------------------------------------
odd_names = st.text(
    st.characters(exclude_characters="/\n\x00", codec="utf-8"), min_size=1, max_size=5
)
existing = st.sampled_from(EXISTING)
paths = existing | st.sampled_from(NEW) | odd_names.map(lambda name: f"r/{name}")
"""Paths that stay inside the sandbox, however Codex trims or cleans them."""
spaces = st.sampled_from(
    ["", " ", "  ", "\t", "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\u3000", "\r"]
)
content_lines = st.sampled_from(CONTENT)


@st.composite
def chunk(draw: st.DrawFn) -> list[str]:
    """One ``@@`` chunk whose old lines are a run of the files' lines (so it usually applies)."""
    start = draw(st.integers(0, len(CONTENT) - 1))
    run = CONTENT[start : start + draw(st.integers(1, 3))]
    lines = [draw(st.sampled_from([" ", "-"])) + ln for ln in run]
    lines += [f"+{draw(st.sampled_from(['x', '', '*** End Patch', 'y']))}"] * draw(
        st.integers(0, 2)
    )
    head = draw(st.sampled_from(["@@", "@@ ", "@@ one", ""]))
    return ([head] if head else []) + lines + (["*** End of File"] if draw(st.booleans()) else [])


@st.composite
def section(draw: st.DrawFn) -> list[str]:
    kind = draw(st.sampled_from(["add", "delete", "update", "update", "move"]))
    path = draw(paths if kind == "add" else existing)
    if kind == "add":
        return [f"*** Add File: {path}"] + [
            f"+{draw(content_lines)}" for _ in range(draw(st.integers(0, 2)))
        ]
    if kind == "delete":
        return [f"*** Delete File: {path}"]
    head = [f"*** Update File: {path}"] + (
        [f"*** Move to: {draw(paths)}"] if kind == "move" else []
    )
    return head + [ln for _ in range(draw(st.integers(1, 2))) for ln in draw(chunk())]


ODD_LINES = [
    "", " ", "\t", "*** End Patch", " *** End Patch", "\t*** End Patch", "  *** End Patch  ",
    "*** End of File", " *** End of File", "@@", "@@ two", "+x", "-one", " two", "garbage",
    "*** Environment ID: e", "*** Move to: m", " *** Move to: g", "*** Begin Patch", "EOF",
]  # fmt: skip


@st.composite
def header_line(draw: st.DrawFn) -> str:
    """A file header with odd spelling: indentation, spacing after the colon, case."""
    word = draw(
        st.sampled_from(["Add File", "Delete File", "Update File", "Move to", "update file"])
    )
    indent, gap, tail = draw(spaces), draw(st.sampled_from([" ", " "]) | spaces), draw(spaces)
    return f"{indent}*** {word}:{gap}{draw(paths)}{tail}"


@st.composite
def patch_text(draw: st.DrawFn) -> str:
    lines = ["*** Begin Patch"]
    for _ in range(draw(st.integers(1, 3))):
        lines += draw(section())
    lines.append("*** End Patch")
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):  # adversarial edits
        at = draw(st.integers(1, len(lines) - 1))
        edit = draw(st.sampled_from(["insert", "header", "indent", "crlf", "delete"]))
        if edit == "insert":
            lines.insert(at, draw(st.sampled_from(ODD_LINES)))
        elif edit == "header":
            lines.insert(at, draw(header_line()))
        elif edit == "indent":
            lines[at] = draw(spaces) + lines[at]
        elif edit == "crlf":
            lines[at] += "\r"
        elif len(lines) > 2:
            del lines[at]
    text = "\n".join(lines)
    wrap = draw(st.sampled_from(["", "", "", "<<EOF", "<<'EOF'", '<<"EOF"', "<< EOF", "space"]))
    if wrap == "space":
        text = f"  \n{text}\n\n "
    elif wrap:
        text = f"{wrap}\n{text}\n{draw(st.sampled_from(['EOF', 'xEOF', 'EOF ']))}"
    return text


# each binary run takes ~10 ms on an idle machine (~40 ms on two busy cores): 400 runs in all
@pytest.mark.slow
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@example(SMUGGLE)
@given(patch_text())
def test_generated_patch_changes_nothing_we_did_not_name(codex_bin: Path, text: str) -> None:
    check(codex_bin, text)


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(ODD_LINES) | header_line() | section().map("\n".join), max_size=8))
def test_generated_garbage_changes_nothing_we_did_not_name(
    codex_bin: Path, lines: list[str]
) -> None:
    check(codex_bin, "\n".join(["*** Begin Patch", *lines, "*** End Patch"]))
