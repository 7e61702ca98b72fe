"""The agent's shell environment policy: nothing of codeswarm's, the person's own choices kept
(the real Codex applying it: tests/attacks/test_attack_env.py)."""

from __future__ import annotations

from pathlib import Path

from codeswarm.worker.wiring import shell_overrides, shell_policy, without_shell_policy


def test_by_default_codeswarm_and_secrets_are_excluded() -> None:
    assert shell_policy({}) == {"exclude": ["CODESWARM_*"], "ignore_default_excludes": False}


def test_the_persons_policy_is_kept_and_codeswarm_added() -> None:
    mine = {"inherit": "core", "exclude": ["AWS_*", "CODESWARM_*"], "set": {"A": "1"},
            "ignore_default_excludes": True}  # fmt: skip
    assert shell_policy(mine) == {**mine, "exclude": ["AWS_*", "CODESWARM_*"]}
    # Codex refuses `filters` together with `exclude`: codeswarm's go into the filters then
    assert shell_policy({"filters": {"HOME": "include"}}) == {
        "filters": {"HOME": "include", "CODESWARM_*": "exclude"},
        "ignore_default_excludes": False,
    }
    assert shell_policy({"exclude": "not a list"})["exclude"] == ["CODESWARM_*"]


def test_overrides_read_from_the_agents_config_and_up_config(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[shell_environment_policy]\nexclude = ["MINE_*"]\ninherit = "all"\n'
    )
    overrides = {
        "shell_environment_policy.inherit": '"core"',
        "shell_environment_policy.ignore_default_excludes": "true",
        "model": '"gpt-5.5"',
    }
    assert shell_overrides(tmp_path, overrides) == {
        "shell_environment_policy": {
            "exclude": ["MINE_*", "CODESWARM_*"],
            "inherit": "core",
            "ignore_default_excludes": True,
        }
    }
    # the person's overrides are folded in: a later -c of their own would replace codeswarm's
    assert without_shell_policy(overrides) == {"model": '"gpt-5.5"'}
    whole = {"shell_environment_policy": '{exclude = ["X"]}'}
    assert shell_overrides(tmp_path, whole)["shell_environment_policy"]["exclude"] == [
        "X",
        "CODESWARM_*",
    ]
    assert without_shell_policy(whole) == {}
