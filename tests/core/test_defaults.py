"""core.defaults: a default more than one place states is stated once."""

from __future__ import annotations

from codeswarm.core import defaults
from codeswarm.core.config import CodexConfig
from codeswarm.core.swarm import SwarmSpec


def test_the_configuration_and_the_swarm_spec_share_codex_defaults() -> None:
    cfg = CodexConfig()
    spec = SwarmSpec(name="s", size=1, cwd="/w", codex_bin="codex")
    expected = (defaults.MODEL, defaults.APPROVAL_POLICY, defaults.SANDBOX)
    assert (cfg.model, cfg.approval_policy, cfg.sandbox) == expected
    assert (spec.model, spec.approval_policy, spec.sandbox) == expected


def test_choices_match_the_config_types() -> None:
    from typing import get_args

    from codeswarm.core import config, defaults

    assert get_args(config.ApprovalPolicy) == defaults.APPROVAL_POLICIES
    assert get_args(config.Sandbox) == defaults.SANDBOXES
