"""``--config KEY=VALUE``: one parser (``codeswarm.core.tomlfmt.parse_overrides``) for ``exec`` and
``up``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from codeswarm.core.errors import UsageError
from codeswarm.core.tomlfmt import parse_overrides
from swarmkit import python_env


def test_pairs() -> None:
    assert parse_overrides([]) == {}
    assert parse_overrides(["model=o3", " features.x =true", 'p.args=["a=b", "c"]']) == {
        "model": "o3",
        "features.x": "true",  # the key stripped
        "p.args": '["a=b", "c"]',  # the value as written, up to the first '=' only
    }


def test_empty_value_and_the_last_one_wins() -> None:
    assert parse_overrides(["k=", "j=1", "k= 2 "]) == {"k": " 2 ", "j": "1"}


@pytest.mark.parametrize("item", ["model", "=x", "  =x", ""])
def test_not_a_pair(item: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_overrides(["ok=1", item])
    assert str(info.value) == f"--config wants KEY=VALUE, got {item!r}"


@pytest.mark.parametrize(
    "argv",
    [["exec", "hello", "-c", "model"], ["up", "-n", "1", "--name", "t", "--config", "model"]],
)
def test_exec_and_up_refuse_the_same_way(tmp_path: Path, argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "codeswarm", *argv],
        env=python_env(CODESWARM_STATE_DIR=str(tmp_path / "state")),
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "codeswarm: error: --config wants KEY=VALUE, got 'model'\n"
