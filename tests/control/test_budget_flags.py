"""Bad budget flags of `up`: one line, exit 2, nothing started (issue 12)."""

from __future__ import annotations

import json

import pytest

from swarmkit import Swarm

SCRIPT = {"agents": {"*": ["ok"]}}


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (("--budget", "0"), "--budget must be a positive number of tokens, not 0"),
        (("--budget", "-5"), "--budget must be a positive number of tokens, not -5"),
        (("--agent-budget", "0"), "--agent-budget must be a positive number of tokens, not 0"),
        (("--budget-warn", "0"), "--budget-warn must be a fraction above 0 and at most 1, not 0"),
        (("--budget-warn", "1.5"), "--budget-warn must be a fraction above 0 and at most 1"),
        (("--budget-warn", "nan"), "--budget-warn must be a fraction above 0 and at most 1"),
    ],
)
def test_a_bad_budget_is_refused_before_anything_starts(
    swarm: Swarm, flags: tuple[str, ...], said: str
) -> None:
    proc = swarm.cli(*swarm.up_args(1, SCRIPT, *flags), check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0], proc.stderr
    assert not swarm.run_dir.exists()
    assert proc.stdout == ""


@pytest.mark.codex
def test_budgets_land_in_the_spec(swarm: Swarm) -> None:
    swarm.up(1, SCRIPT, "--budget", "1000", "--agent-budget", "300", "--budget-warn", "0.5")
    spec = json.loads((swarm.run_dir / "swarm.json").read_text())
    assert (spec["budget_tokens"], spec["agent_budget_tokens"], spec["budget_warn"]) == (
        1000, 300, 0.5,
    )  # fmt: skip
    assert swarm.status()["agents"][0]["budget"] == {}
