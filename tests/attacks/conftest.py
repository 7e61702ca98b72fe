"""The arena for the hostile-agent campaign (docs/security.md): a real swarm of two Codex agents
against the scripted model, default ``workspace-write`` sandbox, approval ``never``. ``t_0`` (the
victim) holds files; ``t_1`` (the attacker) is scripted to reach them any way it can.

The swarm's state (run directory, mailboxes, the coordination store, the agents' Codex homes)
lives where the agents' sandbox cannot write, as it does by default for a user: not in the
project, not under ``/tmp``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from swarmkit import Swarm, machine_home_kept_out, open_swarms

OUT_OF_REACH = Path("/var/tmp")
"""A base for test state that Codex's workspace-write sandbox cannot write (it may write the
project, /tmp, /dev/shm and $TMPDIR)."""


class Arena:
    """Two agents in one project: ``victim`` (t_0) holds files, ``attacker`` (t_1) runs a script."""

    victim = "t_0"
    attacker = "t_1"

    def __init__(self, swarm: Swarm) -> None:
        self.swarm = swarm
        self.repo = swarm.workdir

    def files(self, *paths: str, content: str = "victim's work\n") -> None:
        for rel in paths:
            path = self.repo / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)

    def up(
        self, attack: list[dict[str, Any]], *extra: str, victim: list[dict[str, Any]] | None = None
    ) -> None:
        """Start the swarm; the attacker's script is ``attack`` (the scripted-model steps, one
        per model request, docs/scripted-model.md) then a closing message. The victim idles,
        or plays ``victim`` (steps with ``when``, for turns the test sends it)."""
        idle = {"when": ".", "text": "victim idles", "repeat": True}
        script = {
            "agents": {
                "0": [*(victim or []), idle],
                "1": [*attack, {"text": "attack over"}],
            }
        }
        self.swarm.up(2, script, "--approval-policy", "never", "--sandbox", "workspace-write",
                      *extra)  # fmt: skip

    def hold(self, *paths: str, note: str = "victim's lease") -> None:
        for rel in paths:
            self.coord("--as", self.victim, "lease", rel, "--note", note)

    def run_attack(self, prompt: str = "attack") -> dict[str, Any]:
        """Send the attacker its prompt and wait for the turn; its answer."""
        out = json.loads(
            self.swarm.cli("send", "t", "1", prompt, "--wait", "--json", timeout=300).stdout
        )
        return dict(out[self.attacker])

    def coord(self, *args: str) -> Any:
        proc = self.swarm.cli("coord", *args, "--json")
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def audit(self, kind: str) -> list[dict[str, Any]]:
        return list(self.coord("events", "--kind", kind) or [])

    def sighted(self, *kinds: str) -> list[dict[str, Any]]:
        """The audit rows the attacker's own hooks wrote about its reach (``sandbox.refused``,
        ``state.reached``: docs/security.md), the attacker as the actor."""
        kinds = kinds or ("sandbox.refused", "state.reached")
        rows = [row for kind in kinds for row in self.audit(kind)]
        assert all(str(r.get("agent")).startswith(self.attacker + "#") for r in rows), rows
        return rows

    def requests(self, agent: str = "t_1") -> list[dict[str, Any]]:
        return [r for r in self.swarm.model_requests() if r["agent"] == agent]

    def told(self) -> str:
        """Everything the attacker's model was sent after its first request (tool outputs, hook
        messages), as one string."""
        return "\n".join(json.dumps(r["body"]["input"][-1]) for r in self.requests()[1:])

    def read(self, rel: str) -> str:
        return (self.repo / rel).read_text()


@pytest.fixture
def arena(tmp_path: Path, codex_binary) -> Iterator[Arena]:  # type: ignore[no-untyped-def]
    state = Path(tempfile.mkdtemp(prefix="codeswarm-attacks-", dir=OUT_OF_REACH))
    try:
        with open_swarms(Swarm, tmp_path, codex_binary.path, state=state / "state") as make:
            swarm = make("t")
            # its home out of the sandbox's reach too, as a person's is (tmp_path is not)
            swarm.env = {**swarm.env, **machine_home_kept_out(state / "home")}
            yield Arena(swarm)
    finally:
        shutil.rmtree(state, ignore_errors=True)


Attack = Callable[[Arena], None]


@pytest.fixture
def arena_default_state(tmp_path: Path, codex_binary) -> Iterator[Arena]:  # type: ignore[no-untyped-def]
    """The arena with no ``CODESWARM_STATE_DIR``: the swarm's state goes where it goes for a
    person, ``$XDG_STATE_HOME/codeswarm/projects/<project>-<hash>`` (here ``XDG_STATE_HOME`` is
    under /var/tmp, out of the sandbox's reach as ``~/.local/state`` is)."""
    from codeswarm.core.paths import project_key, project_root

    base = Path(tempfile.mkdtemp(prefix="codeswarm-attacks-", dir=OUT_OF_REACH))
    try:
        with open_swarms(Swarm, tmp_path, codex_binary.path, state=base / "unused") as make:
            swarm = make("t")
            swarm.env = {**swarm.env, **machine_home_kept_out(base / "home")}
            del swarm.env["CODESWARM_STATE_DIR"]
            swarm.env["XDG_STATE_HOME"] = str(base / "xdg")
            projects = base / "xdg" / "codeswarm" / "projects"
            swarm.state = projects / project_key(project_root(swarm.workdir))
            swarm.run_dir = swarm.state / "runs" / swarm.name
            projects.mkdir(parents=True)  # the scripts go beside the state
            yield Arena(swarm)
    finally:
        shutil.rmtree(base, ignore_errors=True)
