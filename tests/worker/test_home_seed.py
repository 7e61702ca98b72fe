"""An agent's CODEX_HOME seeded from a person's who ran `codeswarm install codex`: their
session's stdio MCP server and hook trust stay out (Codex would refuse the fleet's URL mount
beside a `command`: "url is not supported for stdio"); the rest of their config is kept."""

from __future__ import annotations

import tomllib
from pathlib import Path

from codeswarm.hooks.install import TOML_BEGIN, TOML_END
from codeswarm.worker.home import prepare_codex_home

PERSONAL = f"""model = "gpt-5.5"

[mcp_servers.docs]
command = "docs-mcp"

{TOML_BEGIN}
[mcp_servers.codeswarm]
command = "/usr/bin/python3"
args = ["-P", "-m", "codeswarm.mcp"]

[hooks.state."/home/me/.codex/hooks.json:pre_tool_use:0:0"]
trusted_hash = "sha256:00"
{TOML_END}
"""


def test_the_persons_codeswarm_block_is_not_seeded_and_is_removed_from_an_old_seed(
    tmp_path: Path,
) -> None:
    person, agent = tmp_path / "person", tmp_path / "agent"
    person.mkdir()
    (person / "config.toml").write_text(PERSONAL)
    assert prepare_codex_home(agent, person) == ["config.toml"]
    seeded = tomllib.loads((agent / "config.toml").read_text())
    assert seeded["model"] == "gpt-5.5" and set(seeded["mcp_servers"]) == {"docs"}
    assert "hooks" not in seeded
    assert (person / "config.toml").read_text() == PERSONAL  # theirs is never written
    # a home seeded by an earlier codeswarm, with the block copied in: cleaned at the next start
    (agent / "config.toml").write_text(PERSONAL)
    prepare_codex_home(agent, person)
    assert set(tomllib.loads((agent / "config.toml").read_text())["mcp_servers"]) == {"docs"}


def test_the_trust_of_a_projects_hooks_is_not_seeded(tmp_path: Path) -> None:
    """`codeswarm install codex --scope project` trusts the project's hooks in the person's
    config: seeded, they would run in every agent of that project beside the agent's own (with
    the person's session's role)."""
    from codeswarm.hooks.install import TRUST_BEGIN_PREFIX

    trust = (
        f"{TRUST_BEGIN_PREFIX}/p/.codex/hooks.json >>> (`codeswarm install --scope project`)\n"
        '[hooks.state."/p/.codex/hooks.json:pre_tool_use:0:0"]\n'
        'trusted_hash = "sha256:11"\n'
        f"{TOML_END}\n"
    )
    person, agent = tmp_path / "person", tmp_path / "agent"
    person.mkdir()
    (person / "config.toml").write_text(PERSONAL + "\n" + trust + '\n[tui]\ntheme = "x"\n')
    prepare_codex_home(agent, person)
    seeded = tomllib.loads((agent / "config.toml").read_text())
    assert "hooks" not in seeded
    assert seeded["tui"] == {"theme": "x"} and set(seeded["mcp_servers"]) == {"docs"}
