"""Lease path normalization and overlap (pure functions), and the hot-path JSON encoder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given

from codeswarm.coordination import _json
from codeswarm.coordination.paths import from_canonical, normalize, resolve_root
from codeswarm.core.errors import CoordInputError, PathEscapeError
from swarmkit import json_values


@pytest.fixture
def ws(tmp_path: Path) -> str:
    (tmp_path / "ws" / "pkg").mkdir(parents=True)
    return resolve_root(str(tmp_path / "ws"))


@pytest.mark.parametrize(
    ("given_path", "canonical", "kind"),
    [
        ("a.py", "a.py", "file"),
        ("./a.py", "a.py", "file"),
        ("pkg", "pkg/", "dir"),
        ("pkg/", "pkg/", "dir"),
        ("new/", "new/", "dir"),
        (".", ".", "dir"),
        ("pkg/../b.py", "b.py", "file"),
        ("src/**/*.py", "src/**/*.py", "glob"),
        ("*.md", "*.md", "glob"),
        ("src/./*/x.py", "src/*/x.py", "glob"),
    ],
)
def test_normalize(ws: str, given_path: str, canonical: str, kind: str) -> None:
    spec = normalize(given_path, ws)
    assert (spec.path, spec.kind) == (canonical, kind)
    assert normalize(os.path.join(ws, given_path), ws) == spec  # absolute inside the root


def test_relative_to_cwd(ws: str) -> None:
    assert normalize("x.py", ws, cwd=os.path.join(ws, "pkg")).path == "pkg/x.py"
    assert normalize("../y.py", ws, cwd=os.path.join(ws, "pkg")).path == "y.py"


@pytest.mark.parametrize("bad", ["..", "../x", "pkg/../../x", "/etc/passwd", "/"])
def test_escapes_are_refused(ws: str, bad: str) -> None:
    with pytest.raises(PathEscapeError, match="outside the scope root"):
        normalize(bad, ws)


def test_symlinks(ws: str, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, os.path.join(ws, "out"))
    os.symlink(os.path.join(ws, "pkg"), os.path.join(ws, "alias"))
    with pytest.raises(PathEscapeError, match="symlink"):
        normalize("out/secret", ws)
    assert normalize("alias/m.py", ws).path == "pkg/m.py"
    os.symlink("../outside/f", os.path.join(ws, "f-link"))
    with pytest.raises(PathEscapeError):
        normalize("f-link", ws)


@pytest.mark.parametrize("bad", ["", "  ", "a\nb", "a\0b"])
def test_malformed(ws: str, bad: str) -> None:
    with pytest.raises(CoordInputError):
        normalize(bad, ws)


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("a.py", "a.py", True),
        ("a.py", "b.py", False),
        ("src/", "src/a/b.py", True),
        ("src/", "srcs/a.py", False),
        ("src/", "src/a/", True),
        (".", "x/y", True),
        ("src/**/*.py", "src/a.py", True),
        ("src/**/*.py", "src/a/b/c.py", True),
        ("src/**/*.py", "src/a.md", False),
        ("src/*.py", "src/a/b.py", False),
        ("src/*.py", "src/*.md", False),
        ("src/a*.py", "src/*b.py", True),
        ("src/[ab].py", "src/a.py", True),
        ("src/[ab].py", "src/c.py", False),
        ("docs/**", "src/x", False),
        ("**/test_*.py", "tests/unit/test_x.py", True),
        ("x?.py", "xy.py", True),
        ("x?.py", "xyz.py", False),
    ],
)
def test_overlap(a: str, b: str, overlap: bool) -> None:
    sa, sb = from_canonical(a), from_canonical(b)
    assert sa.overlaps(sb) is overlap
    assert sb.overlaps(sa) is overlap


@given(json_values(max_size=None, max_leaves=20, finite=True))
def test_json_encoder_matches_the_stdlib(value: object) -> None:
    assert _json.dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert _json.loads(_json.dumps(value)) == value


def test_json_encoder_refuses_what_json_cannot_say() -> None:
    for bad in (float("nan"), float("inf"), {1: 2}, object()):
        with pytest.raises((TypeError, ValueError)):
            _json.dumps(bad)


@pytest.mark.parametrize(
    "text", ["", "src/app.py", 'a"b', "a\\b", "tab\t", "\x00", "\x1f", "\x7f", "é", "\u2028", " ~"]
)
def test_json_plain_strings_and_the_rest_encode_as_the_stdlib(text: str) -> None:
    """Printable ASCII without quote or backslash is written as it is (no ``_json`` load);
    everything else goes through the C escaper: the same text either way."""
    value = {text: [text]}
    assert _json.dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
