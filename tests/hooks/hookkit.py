"""Running the hook entry point as Codex and Claude Code do: a process per event, JSON in and
out, against a real coordination store (SQLite) in a temporary directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from codeswarm.coordination import Coord

PATCH_X = "*** Begin Patch\n*** Update File: src/x.py\n@@\n-a\n+b\n*** End Patch\n"


def hook(
    repo: Path, client: str, event: str, payload: dict[str, Any], **env: str
) -> tuple[dict[str, Any] | None, subprocess.CompletedProcess[str]]:
    full_env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith("CODESWARM_") and k != "XDG_RUNTIME_DIR"
        },
        "CODESWARM_DB": str(repo.parent / "coord.db"),
        "CODESWARM_SCOPE": str(repo),
        "XDG_STATE_HOME": str(repo.parent / "state-home"),  # the hooks' scratch directory
        **env,
    }
    base = {
        "session_id": "b0000001-1111-2222-3333-444455556666",
        "cwd": str(repo),
        "hook_event_name": event,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "codeswarm.hooks", client, event],
        input=json.dumps({**base, **payload}), capture_output=True, text=True, env=full_env, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return (json.loads(proc.stdout) if proc.stdout.strip() else None), proc


def coord(repo: Path) -> Coord:
    return Coord.open(str(repo.parent / "coord.db"), root=str(repo))


def denied(out: dict[str, Any] | None) -> str | None:
    if not out:
        return None
    spec = out.get("hookSpecificOutput") or {}
    return (
        spec.get("permissionDecisionReason") if spec.get("permissionDecision") == "deny" else None
    )
