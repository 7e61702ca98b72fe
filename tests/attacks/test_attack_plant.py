"""Planting Python modules where codeswarm's own processes start: an agent writes ``asyncio.py``,
``json.py``, … into the project (which its sandbox may write). Every codeswarm process that
starts there (worker, supervisor, the MCP server, the scripted model) runs with ``-P``, so the
working directory is never on ``sys.path`` and the planted code never runs outside the sandbox
(docs/security.md)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from arena_helpers import patch_step

pytestmark = [pytest.mark.codex, pytest.mark.slow]

PLANTED = ("asyncio", "json", "os", "logging", "sqlite3", "codeswarm", "typing", "socket")


def plant(marker: Path) -> str:
    """A patch adding a module per name in PLANTED that, when imported, drops ``marker``."""
    body = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
    sections = "".join(
        f"*** Add File: {name}.py\n" + "".join(f"+{line}\n" for line in body.splitlines())
        for name in PLANTED
    )
    return f"*** Begin Patch\n{sections}*** End Patch\n"


def test_modules_planted_in_the_project_never_run_in_codeswarms_processes(arena) -> None:  # type: ignore[no-untyped-def]
    marker = Path("/var/tmp") / f"codeswarm-planted-{uuid.uuid4().hex}"
    try:
        arena.up([patch_step(plant(marker))])
        arena.run_attack()
        assert (arena.repo / "asyncio.py").exists()  # the plant itself is inside the sandbox
        # on record: the attacker's first edit of each planted file leased it, in its name
        planted = {
            e["data"]["path"]
            for e in arena.audit("lease.acquired")
            if e["agent"].startswith("t_1#")
        }
        assert planted == {f"{name}.py" for name in PLANTED}, arena.audit("lease.acquired")
        # every codeswarm process starts again in the project: supervisor, workers, the MCP
        # servers, the scripted model
        arena.swarm.cli("down", "t")
        arena.up([{"text": "back"}])
        out = json.loads(arena.swarm.cli("send", "t", "all", "hello", "--wait", "--json").stdout)
        assert {r["status"] for r in out.values()} == {"completed"}
        assert not marker.exists(), f"planted code ran: {marker.read_text()}"
    finally:
        marker.unlink(missing_ok=True)
