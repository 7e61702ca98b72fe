"""The pure parts of ``codeswarm run``: durations, the roles and the priming prompt, what a run
changed in git (apart from what was dirty before), the diff stat (docs/run.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from codeswarm.cli.run import parse_duration
from codeswarm.control.run import changed_since, diff_stat, dirty_files, priming_prompt, roles
from codeswarm.control.run.summary import verdict_line
from codeswarm.core.errors import UsageError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("10m", 600.0), ("1h", 3600.0), ("1h30m", 5400.0),
     ("1.5h", 5400.0), ("2m30s", 150.0), (" 5S ", 5.0)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration("--max-time", text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0s", "soon", "1d", "-5", "m", "1h-2m", "5 m"])
def test_bad_durations_are_one_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="--max-time"):
        parse_duration("--max-time", text)


def test_rank_0_orchestrates_and_the_prompt_names_goal_workers_tools_and_budget() -> None:
    assert roles(3) == ["orchestrator", "implementer", "implementer", "implementer"]
    prompt = priming_prompt("fix the parser", ["s_1", "s_2"], budget_tokens=5000)
    assert "fix the parser" in prompt and "s_1, s_2" in prompt and "5000 tokens" in prompt
    for tool in ("delegate(", "converse(", "check(", "end(", "list(", "finish("):
        assert tool in prompt
    assert "Budget" not in priming_prompt("g", ["s_1"])


def test_verdicts() -> None:
    assert verdict_line("done", "accepted") == "accepted (done)"
    assert verdict_line("failed", "rejected") == "rejected (failed)"
    assert verdict_line("needs_review", None) == "no verdict (needs review)"
    assert verdict_line("open", None) == "no verdict (not started)"


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True, capture_output=True,
    )  # fmt: skip


def test_what_a_run_changed_leaves_out_what_was_dirty_before(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    for name in ("kept.txt", "edited.txt", "gone.txt", "touched-before.txt"):
        (repo / name).write_text(f"{name}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "start")
    (repo / "touched-before.txt").write_text("dirty before the run\n")
    (repo / "scratch.txt").write_text("untracked before the run\n")
    before = dirty_files(repo)
    assert before is not None and set(before) == {"touched-before.txt", "scratch.txt"}
    # the run:
    (repo / "edited.txt").write_text("edited.txt\nmore\n")
    (repo / "gone.txt").unlink()
    (repo / "sub").mkdir()
    (repo / "sub" / "new.py").write_text("a\nb\nc\n")
    (repo / "scratch.txt").write_text("changed by the run\n")
    changed = changed_since(repo, before)
    assert changed == ["edited.txt", "gone.txt", "scratch.txt", "sub/new.py"]
    stat = diff_stat(repo, changed)
    assert stat is not None
    lines = stat.splitlines()
    assert any(line.strip().startswith("edited.txt") and "+" in line for line in lines)
    assert any(line.strip().startswith("gone.txt") and "-" in line for line in lines)
    assert " sub/new.py | 3 + (new)" in lines
    assert " scratch.txt | 1 + (new)" in lines


def test_outside_git_nothing_is_known(tmp_path: Path) -> None:
    assert dirty_files(tmp_path) is None
    assert changed_since(tmp_path, None) == []
    assert diff_stat(tmp_path, []) is None
