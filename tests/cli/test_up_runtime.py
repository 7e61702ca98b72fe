"""``up --runtime codex|claude|codex:2,claude:1``: parsed into the spec's runtimes by rank, one
line and exit 2 for anything malformed (before anything starts), the runtime of each agent in
``status --json``; a relaunch that would give a rank another runtime is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeswarm.cli.app import _typer
from codeswarm.cli.swarm.up import _changed, check_claude_login, parse_runtimes
from codeswarm.control.fleet.state import FleetState
from codeswarm.control.status import HotSpec, status_json
from codeswarm.core.errors import UsageError, run_guarded
from codeswarm.core.swarm import SwarmSpec, agent_runtime

UP = ["up", "--name", "t", "--model-provider", "mock", "--script", "s.json"]


@pytest.mark.parametrize(
    ("runtime", "n", "size", "runtimes"),
    [
        (None, 3, 3, []),
        ("codex", 2, 2, []),
        ("claude", 2, 2, ["claude", "claude"]),
        ("claude:1", None, 1, ["claude"]),
        ("codex:2,claude:1", None, 3, ["codex", "codex", "claude"]),
        ("codex:2,claude:1", 3, 3, ["codex", "codex", "claude"]),
        (" claude:1 , codex:1 ", None, 2, ["claude", "codex"]),
        ("codex:1,claude:1,codex:1", None, 3, ["codex", "claude", "codex"]),
        ("codex:3", None, 3, []),
    ],
)
def test_runtimes_by_rank(
    runtime: str | None, n: int | None, size: int, runtimes: list[str]
) -> None:
    assert parse_runtimes(runtime, n) == (size, runtimes)


BAD: list[tuple[list[str], str]] = [
    ([], "up needs -n N (how many agents), or counts in --runtime"),
    (["--runtime", "claude"], "--runtime claude needs -n N (or say claude:N)"),
    (["--runtime", "gemini:1"], "unknown runtime 'gemini' (codex or claude)"),
    (["-n", "2", "--runtime", "codex,claude:1"], "give each runtime of a mix its count (codex:N)"),
    (["--runtime", "claude:0"], "the count of claude must be a whole number from 1 to 512"),
    (["--runtime", "claude:x"], "not 'x'"),
    (["--runtime", "claude:-1"], "not '-1'"),
    (["--runtime", "codex:500,claude:13"], "513 agents, at most 512"),
    (["-n", "4", "--runtime", "codex:2,claude:1"], "makes 3 agents, -n says 4"),
    (["--runtime", ""], "give codex, claude or a mix like codex:2,claude:1"),
    (["--runtime", "codex:1,,claude:1"], "give codex, claude or a mix"),
]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    proj = tmp_path / "proj"
    (proj / ".git").mkdir(parents=True)
    (proj / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (proj / "s.json").write_text('{"agents": {"*": [{"text": "hi"}]}}')
    monkeypatch.chdir(proj)
    monkeypatch.setenv("CODESWARM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    return proj


@pytest.mark.parametrize(("args", "words"), BAD, ids=[" ".join(b[0]) or "none" for b in BAD])
def test_a_bad_runtime_is_one_line_before_anything_starts(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    before = sorted(p.name for p in project.parent.iterdir())
    assert run_guarded(lambda: _typer([*UP, *args])) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("codeswarm: error: ") and err.count("\n") == 1, err
    assert words in err, err
    assert sorted(p.name for p in project.parent.iterdir()) == before  # no state, no run dir


def spec(size: int, runtimes: list[str], **kw: object) -> SwarmSpec:
    return SwarmSpec(name="t", size=size, cwd="/p", codex_bin="", runtimes=runtimes, **kw)  # type: ignore[arg-type]


def test_agent_runtime_by_rank() -> None:
    mixed = spec(4, ["codex", "claude"])
    assert [agent_runtime(mixed, f"t_{r}") for r in range(4)] == [
        "codex", "claude", "codex", "codex"]  # fmt: skip
    assert agent_runtime(spec(1, []), "t_0") == "codex"


def test_a_rank_that_would_change_runtime_is_a_change_of_identity() -> None:
    old = spec(3, ["codex", "codex", "claude"])
    assert _changed(old, spec(3, ["codex", "codex", "claude"])) == []
    assert _changed(old, spec(4, ["codex", "codex", "claude", "claude"])) == []  # one more
    assert _changed(spec(2, []), spec(3, ["codex", "codex", "claude"])) == []
    assert _changed(old, spec(3, [])) == ["runtimes codex:2,claude:1 -> codex:3"]


def test_claude_login_is_checked_for_a_real_model_only(tmp_path: Path) -> None:
    seed = tmp_path / ".claude"
    seed.mkdir()
    real = spec(2, ["codex", "claude"], user_claude_dir=str(seed))
    problem = check_claude_login(real, {})
    assert problem is not None and problem.startswith("claude agents need a Claude Code login")
    assert "\n" not in problem
    assert check_claude_login(real, {"ANTHROPIC_API_KEY": "k"}) is None
    (seed / ".credentials.json").write_text("{}")
    assert check_claude_login(real, {}) is None
    mock = spec(1, ["claude"], model_provider="mock", user_claude_dir=str(tmp_path / "none"))
    assert check_claude_login(mock, {}) is None
    assert check_claude_login(spec(1, []), {}) is None  # no Claude agent


def test_status_says_each_agents_runtime_on_both_paths() -> None:
    mixed = spec(3, ["codex", "codex", "claude"])
    fleet = FleetState("t", ["t_0", "t_1", "t_2"])
    out = status_json(fleet, mixed, {})
    assert [a["runtime"] for a in out["agents"]] == ["codex", "codex", "claude"]
    raw = {"name": "t", "size": 3, "cwd": "/p", "codex_bin": "", "runtimes": mixed.runtimes}
    hot = HotSpec(raw)
    assert status_json(FleetState("t", ["t_0", "t_1", "t_2"]), hot, {}) == out
    plain = status_json(FleetState("t", ["t_0"]), spec(1, []), {})
    assert plain["agents"][0]["runtime"] == "codex"


def test_parse_runtimes_raises_usage_errors() -> None:
    with pytest.raises(UsageError):
        parse_runtimes("claude", None)


def test_claude_agents_granted_everything_are_warned_of(tmp_path: Path) -> None:
    from codeswarm.cli.swarm.up import _exposures
    from codeswarm.core.swarm import RunDir

    run = RunDir(tmp_path / "state" / "runs" / "t")
    cwd = str(tmp_path / "proj")

    def warned(runtimes: list[str], approvals: str) -> bool:
        s = SwarmSpec(name="t", size=1, cwd=cwd, codex_bin="", runtimes=runtimes,  # type: ignore[arg-type]
                      approvals=approvals, sandbox="read-only")  # type: ignore[arg-type]  # fmt: skip
        return any("Claude Code agents run without a sandbox" in w for w in _exposures(s, run))

    assert warned(["claude"], "all")
    assert not warned(["claude"], "forward") and not warned([], "all")
