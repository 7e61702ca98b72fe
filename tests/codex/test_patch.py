"""The apply_patch grammar: every affected path, rename destinations included; never raises."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from codeswarm.codex.patch import FileOp, affected_paths, parse_patch


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


def test_wrapped_in_a_heredoc() -> None:
    cmd = "apply_patch <<'EOF'\n*** Begin Patch\n*** Update File: x.py\n*** Move to: y.py\n@@\n-a\n+b\n*** End Patch\nEOF\n"
    assert affected_paths(cmd) == ["x.py", "y.py"]


def test_the_move_file_form_codex_never_writes_is_not_a_rename() -> None:
    patch = parse_patch("*** Begin Patch\n*** Update File: a\n*** Move File: b\n*** End Patch\n")
    assert patch.affected_paths() == ["a"]


def test_malformed_input_reports_problems_and_keeps_what_it_can() -> None:
    truncated = parse_patch("*** Begin Patch\n*** Add File: a.txt\n+x\n*** Update File: b")
    assert truncated.affected_paths() == ["a.txt", "b"]
    assert any("End Patch" in p for p in truncated.problems)
    stray = parse_patch(
        "*** Begin Patch\n+orphan line\n*** Move to: z\n*** Add File: \n*** End Patch"
    )
    assert stray.ops == ()
    assert len(stray.problems) == 3
    assert parse_patch("").problems
    assert parse_patch(None).ops == ()
    assert parse_patch(42).problems == ("not text",)
    repeated = parse_patch(
        "*** Begin Patch\n*** Update File: a\n*** Move to: b\n*** Move to: c\n*** End Patch"
    )
    assert repeated.affected_paths() == ["a", "b"] and repeated.problems


def test_crlf_and_indented_headers() -> None:
    assert affected_paths("*** Begin Patch\r\n  *** Delete File: w.txt  \r\n*** End Patch\r\n") == [
        "w.txt"
    ]


paths = st.from_regex(r"[A-Za-z0-9_./-]{1,30}", fullmatch=True).filter(lambda p: p.strip() == p)
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
    st.sampled_from(["+added", "-removed", " context", "@@", "@@ def f():"]), max_size=4
)


def render(op: FileOp, body: list[str]) -> str:
    if op.kind == "add":
        return f"*** Add File: {op.path}\n" + "".join(f"+{b}\n" for b in body)
    if op.kind == "delete":
        return f"*** Delete File: {op.path}\n"
    move = f"*** Move to: {op.move_to}\n" if op.move_to else ""
    return f"*** Update File: {op.path}\n{move}@@\n" + "".join(f"{b}\n" for b in body)


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
    text = "*** Begin Patch\n" + "".join(render(op, []) for op in model) + "*** End Patch\n"
    cut = data.draw(st.integers(0, len(text)))
    found = parse_patch(text[:cut]).affected_paths()
    real = {p for op in model for p in op.paths()}
    # a cut may shorten the last path it reaches, but never make one up from nothing
    for p in found:
        assert p in real or any(r.startswith(p) for r in real)
