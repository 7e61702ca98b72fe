"""The apply_patch grammar as Codex 0.169 applies it: every affected path, rename destinations
included; never raises. (tests/codex/test_patch_differential.py holds it against the binary.)"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from codeswarm.codex.patch import FileOp, parse_patch


def test_every_kind_of_section() -> None:
    patch = parse_patch(
        "*** Begin Patch\n"
        "*** Add File: src/new.py\n+print('hi')\n"
        "*** Delete File: old.txt\n"
        "*** Update File: src/a.py\n*** Move to: src/b.py\n@@ def f():\n-    pass\n+    return 1\n"
        "*** Update File: README.md\n@@\n-x\n+y\n*** End of File\n"
        "*** End Patch\n"
    )
    assert patch.ok
    assert patch.ops == (
        FileOp("add", "src/new.py"),
        FileOp("delete", "old.txt"),
        FileOp("update", "src/a.py", "src/b.py"),
        FileOp("update", "README.md"),
    )
    assert patch.affected_paths() == ["src/new.py", "old.txt", "src/a.py", "src/b.py", "README.md"]


def test_a_context_line_that_says_end_patch_ends_nothing() -> None:
    """Issue 10 item 1: Codex reads `` *** End Patch`` in an update as context and applies the
    section after it."""
    patch = parse_patch(
        "*** Begin Patch\n*** Update File: free.py\n@@\n x\n *** End Patch\n+y\n"
        "*** Update File: leased.py\n@@\n-a\n+b\n*** End Patch"
    )
    assert patch.ok
    assert patch.affected_paths() == ["free.py", "leased.py"]


def test_indented_markers_count_outside_updates_and_not_inside() -> None:
    inside = parse_patch(
        "*** Begin Patch\n*** Update File: a\n x\n *** Update File: b\n *** Move to: c\n+y\n*** End Patch"
    )
    assert inside.ok and inside.ops == (FileOp("update", "a"),)
    # ... but a lenient reader could take them for headers: reported all the same
    assert inside.affected_paths() == ["a", "b", "c"]
    outside = parse_patch(
        "*** Begin Patch\n  *** Delete File: a\n\t*** Add File: b\n+x\n *** End Patch"
    )
    assert outside.ok and outside.ops == (FileOp("delete", "a"), FileOp("add", "b"))


def test_an_indented_end_patch_ends_an_add_and_codex_refuses_what_follows() -> None:
    patch = parse_patch(
        "*** Begin Patch\n*** Add File: a\n+x\n  *** End Patch\n*** Update File: b\n@@\n-1\n+2\n*** End Patch"
    )
    assert not patch.ok and patch.ops == (FileOp("add", "a"),)
    assert patch.affected_paths() == ["a", "b"]
    ended = parse_patch("*** Begin Patch\n*** Add File: a\n+x\n  *** End Patch\n\n*** End Patch")
    assert ended.ok and ended.affected_paths() == ["a"]


def test_spacing_after_the_colon() -> None:
    two = parse_patch("*** Begin Patch\n*** Update File:  a\n-x\n+y\n*** End Patch")
    assert two.ok and two.ops == (FileOp("update", " a"),)  # Codex keeps the space in the name
    assert two.affected_paths() == [" a", "a"]
    none = parse_patch("*** Begin Patch\n*** Update File:a\n-x\n+y\n*** End Patch")
    assert not none.ok and none.ops == () and none.affected_paths() == ["a"]
    trailing = parse_patch("*** Begin Patch\n*** Delete File: a \t \n*** End Patch")
    assert trailing.ok and trailing.affected_paths() == ["a"]
    shouted = parse_patch("*** Begin Patch\n*** UPDATE FILE: a\n-x\n*** End Patch")
    assert not shouted.ok and shouted.affected_paths() == ["a"]


def test_codex_drops_tabs_and_carriage_returns_inside_a_path() -> None:
    patch = parse_patch(
        "*** Begin Patch\n*** Update File: \tle\rased.py\n*** Move to: o\tther\n@@\n-x\n*** End Patch"
    )
    assert patch.ok and patch.ops == (FileOp("update", "leased.py", "other"),)


def test_heredoc_wrappers() -> None:
    body = "*** Begin Patch\n*** Update File: x.py\n*** Move to: y.py\n@@\n-a\n+b\n*** End Patch\n"
    for opener in ("<<EOF", "<<'EOF'", '<<"EOF"'):
        wrapped = parse_patch(f"{opener}\n{body}EOF\n")
        assert wrapped.ok and wrapped.affected_paths() == ["x.py", "y.py"], opener
    # Codex refuses these; the paths are reported all the same
    for cmd in (f"apply_patch <<'EOF'\n{body}EOF\n", f"<< EOF\n{body}EOF"):
        shell = parse_patch(cmd)
        assert not shell.ok and shell.affected_paths() == ["x.py", "y.py"], cmd


def test_crlf_environment_id_and_whitespace_around_the_text() -> None:
    crlf = parse_patch("*** Begin Patch\r\n  *** Delete File: w.txt  \r\n*** End Patch\r\n")
    assert crlf.ok and crlf.affected_paths() == ["w.txt"]
    env = parse_patch(
        "\n  *** Begin Patch\n*** Environment ID: e\n*** Delete File: w\n*** End Patch\n "
    )
    assert env.ok and env.affected_paths() == ["w"]
    twice = parse_patch(
        "*** Begin Patch\n*** Environment ID: e\n*** Environment ID: e\n*** Delete File: w\n*** End Patch"
    )
    assert not twice.ok and twice.affected_paths() == ["w"]


def test_rust_whitespace_is_not_pythons() -> None:
    """``str.strip()`` removes ``\\x1c``; Rust's ``trim`` does not, so Codex refuses the header
    (reported all the same)."""
    patch = parse_patch("*** Begin Patch\n\x1c*** Delete File: a\n*** End Patch")
    assert not patch.ok and patch.ops == () and patch.affected_paths() == ["a"]


def test_the_move_file_form_codex_never_writes_is_not_a_rename() -> None:
    patch = parse_patch("*** Begin Patch\n*** Update File: a\n*** Move File: b\n*** End Patch\n")
    assert not patch.ok and patch.affected_paths() == ["a"]


def test_malformed_input_reports_problems_and_keeps_what_it_can() -> None:
    truncated = parse_patch("*** Begin Patch\n*** Add File: a.txt\n+x\n*** Update File: b")
    assert truncated.affected_paths() == ["a.txt", "b"]
    assert any("End Patch" in p for p in truncated.problems)
    stray = parse_patch(
        "*** Begin Patch\n+orphan line\n*** Move to: z\n*** Add File: \n*** End Patch"
    )
    assert stray.ops == () and len(stray.problems) == 1
    assert stray.affected_paths() == ["z"]
    assert parse_patch("").problems
    # Codex: "No files were modified."
    assert parse_patch("*** Begin Patch\n*** End Patch").problems
    assert parse_patch(None).ops == ()
    assert parse_patch(42).problems == ("not text",)
    repeated = parse_patch(
        "*** Begin Patch\n*** Update File: a\n*** Move to: b\n*** Move to: c\n*** End Patch"
    )
    assert not repeated.ok and repeated.affected_paths() == ["a", "b", "c"]
    for refused in (
        "*** Begin Patch\n*** Update File: a\n*** End Patch",  # no chunk
        "*** Begin Patch\n*** Update File: a\n@@\n*** End of File\n*** End Patch",  # empty chunk
        "*** Begin Patch\n*** Update File: a\n-x\n*** End of File\n+y\n*** End Patch",
        "*** Begin Patch\n*** Add File: a\n\n*** End Patch",  # a blank line in an add
        "*** Begin Patch\n*** Delete File: a\n*** End Patch\n*** Delete File: b",
        "*** Begin Patch\n*** Delete File: a\n*** End Patch\n*** End Patch\n*** End Patch",
    ):
        assert not parse_patch(refused).ok, refused


paths = st.from_regex(r"[A-Za-z0-9_./-]{1,30}", fullmatch=True)
ops = st.lists(
    st.one_of(
        st.builds(lambda p: FileOp("add", p), paths),
        st.builds(lambda p: FileOp("delete", p), paths),
        st.builds(lambda p, q: FileOp("update", p, q), paths, st.none() | paths),
    ),
    min_size=1,
    max_size=6,
)
body_lines = st.lists(
    st.sampled_from(["+added", "-removed", " context", ""]), min_size=1, max_size=4
)


def render(op: FileOp, body: list[str]) -> str:
    if op.kind == "add":
        return f"*** Add File: {op.path}\n" + "".join(f"+{b}\n" for b in body)
    if op.kind == "delete":
        return f"*** Delete File: {op.path}\n"
    move = f"*** Move to: {op.move_to}\n" if op.move_to else ""
    body = [b if b else " " for b in body]
    return f"*** Update File: {op.path}\n{move}@@ def f():\n" + "".join(f"{b}\n" for b in body)


@given(ops, body_lines)
def test_round_trip(model: list[FileOp], body: list[str]) -> None:
    text = "*** Begin Patch\n" + "".join(render(op, body) for op in model) + "*** End Patch\n"
    patch = parse_patch(text)
    assert patch.ok, patch.problems
    assert list(patch.ops) == model
    expected = list(dict.fromkeys(p for op in model for p in op.paths()))
    assert patch.affected_paths() == expected


@given(st.text(max_size=400))
def test_never_raises_on_any_text(text: str) -> None:
    patch = parse_patch(text)
    assert isinstance(patch.affected_paths(), list)


@given(ops, st.data())
def test_truncation_never_invents_paths(model: list[FileOp], data: st.DataObject) -> None:
    text = "*** Begin Patch\n" + "".join(render(op, [" x"]) for op in model) + "*** End Patch\n"
    cut = data.draw(st.integers(0, len(text)))
    found = parse_patch(text[:cut]).affected_paths()
    real = {p for op in model for p in op.paths()}
    # a cut may shorten the last path it reaches, but never make one up from nothing
    for p in found:
        assert p in real or any(r.startswith(p) for r in real)
