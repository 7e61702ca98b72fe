"""Steps of an attacker's script (the scripted model's format, docs/scripted-model.md)."""

from __future__ import annotations

from typing import Any


def exec_step(cmd: str) -> dict[str, Any]:
    """The model runs ``cmd`` in its shell (Codex's ``exec_command`` tool)."""
    return {"exec": cmd}


def patch_step(patch: str) -> dict[str, Any]:
    """The model applies ``patch`` (Codex's ``apply_patch`` tool)."""
    return {"patch": patch}
