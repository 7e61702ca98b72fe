"""Which files a shell command would write (best effort, never raises)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeswarm.hooks.shell import written_paths


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("echo hi > out.txt", ["out.txt"]),
        ("echo hi >> log.txt 2>&1", ["log.txt"]),
        ("cat a | tee b c", ["b", "c"]),
        ("cat a | tee -a b", ["b"]),
        ("sed -i 's/a/b/' src/x.py", ["src/x.py"]),
        ("sed -i -e 's/a/b/' -e 's/c/d/' x.py y.py", ["x.py", "y.py"]),
        ("sed 's/a/b/' x.py", []),
        ("perl -pi -e 's/a/b/' z.pl", ["z.pl"]),
        ("mv a.py b.py", ["a.py", "b.py"]),
        ("cp -r src dst", ["dst"]),
        ("rm -f a b", ["a", "b"]),
        ("touch new.txt && git checkout -- x.py y.py", ["new.txt", "x.py", "y.py"]),
        ("git restore --staged src/x.py", ["src/x.py"]),
        ("dd if=/dev/zero of=blob bs=1", ["blob"]),
        ("sudo -n tee /etc/hosts < x", ["/etc/hosts"]),
        ("FOO=1 timeout 5 truncate -s 0 big.log", ["big.log"]),
        ("bash -lc 'echo hi > inner.txt'", ["inner.txt"]),
        ("ls -la; cat x; grep y z", []),
        ("echo '> not a redirect'", []),
        ('python3 -c \'open("x","w")\'', []),  # not read: PostToolUse catches it
        ("echo hi > /dev/null", []),
        ("echo 'unbalanced > q", []),
    ],
)
def test_written_paths(command: str, expected: list[str]) -> None:
    assert written_paths(command) == expected


@given(st.text(max_size=200))
def test_never_raises(command: str) -> None:
    assert isinstance(written_paths(command), list)


def test_not_text() -> None:
    assert written_paths(None) == [] and written_paths(["echo"]) == []
