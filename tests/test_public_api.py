"""The public names of each package: a change here is a decision, not an accident."""

from __future__ import annotations

import subprocess
import sys

import codeswarm.codex
import codeswarm.control
import codeswarm.core


def test_core_surface() -> None:
    assert set(codeswarm.core.__all__) == {
        "CODEX_VERSION", "EVENTS_VERSION", "ClosedError", "CodexError", "CodeswarmError",
        "Config", "ConfigError", "Event", "ProcessExitedError", "ProtocolError", "RpcError",
        "ScriptError", "ToolchainError", "TurnFailedError", "UsageError", "load_config",
        "project_root", "state_dir", "tools_dir",
    }  # fmt: skip


def test_codex_surface() -> None:
    assert set(codeswarm.codex.__all__) == {
        "AcceptAll", "AcceptWithinWorkspace", "AppServer", "ApprovalPolicy", "ApprovalRequest",
        "CallbackPolicy", "CodexBinary", "Decision", "DeclineAll", "Message", "PendingApproval",
        "QueuePolicy", "Subscription", "Thread", "TurnHandle", "TurnResult", "config_flags",
        "install", "launch", "locate",
    }  # fmt: skip


def test_control_surface() -> None:
    assert sorted(codeswarm.control.__all__) == ["EventStamper", "translate"]


def test_every_public_name_exists() -> None:
    for mod in (codeswarm.core, codeswarm.codex, codeswarm.control):
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod.__name__}.{name}"


def test_core_and_cli_entry_stay_light() -> None:
    """core and the CLI entry must not pull in heavy libraries (they run on hot paths)."""
    code = (
        "import sys, codeswarm.core, codeswarm.cli;"
        "heavy = [m for m in ('typer', 'rich', 'pydantic', 'mcp', 'starlette', 'uvicorn', 'click')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
