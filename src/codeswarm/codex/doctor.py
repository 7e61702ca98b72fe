"""``codeswarm toolchain doctor``: say plainly what is there and what is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from codeswarm.codex.toolchain import CODEX_PACKAGE, locate, managed_prefix
from codeswarm.core.config import CODEX_VERSION, Config
from codeswarm.core.errors import ToolchainError
from codeswarm.core.layers import user_codex_home


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True
    """A failed required check makes ``doctor`` exit non-zero."""


def _tool_version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run_checks(config: Config) -> list[Check]:
    checks: list[Check] = []
    node = shutil.which("node")
    npm = shutil.which("npm")
    node_v = _tool_version([node, "--version"]) if node else None
    checks.append(
        Check(
            "node", node_v is not None, node_v or "not found (needed only to install codex)", False
        )
    )
    npm_v = _tool_version([npm, "--version"]) if npm else None
    checks.append(
        Check("npm", npm_v is not None, npm_v or "not found (needed only to install codex)", False)
    )
    try:
        found = locate(config, check_version=False)
    except ToolchainError as exc:
        checks.append(Check("codex binary", False, str(exc)))
    else:
        runs = "" if found.executable == found.path else f" (runs {found.executable})"
        checks.append(Check("codex binary", True, f"{found.path} [{found.source}]{runs}"))
        ok = found.version == CODEX_VERSION
        detail = f"{found.version}" + (
            "" if ok else f", codeswarm needs {CODEX_VERSION}: run 'codeswarm toolchain install'"
        )
        checks.append(Check("codex version", ok, detail))
    checks.append(
        Check(
            "managed prefix",
            (managed_prefix() / "node_modules" / ".bin" / "codex").exists(),
            f"{managed_prefix()} ({CODEX_PACKAGE}@{CODEX_VERSION})",
            False,
        )
    )
    home = user_codex_home(config)
    has_key = any(os.environ.get(k) for k in ("OPENAI_API_KEY", "CODEX_API_KEY"))
    logged_in = (home / "auth.json").is_file() or has_key
    checks.append(
        Check(
            "login (real model)",
            logged_in,
            (
                f"{home / 'auth.json'}"
                if (home / "auth.json").is_file()
                else "an API key in the environment"
                if has_key
                else f"not logged in: run 'codex login' (looked for {home / 'auth.json'}); "
                "the scripted model (--model-provider mock) needs no login"
            ),
            False,
        )
    )
    checks.append(_claude())
    return checks


def _claude() -> Check:
    """Claude Code (optional: for a person's own sessions, and the test suite)."""
    from codeswarm.codex.claude_toolchain import CLAUDE_VERSION
    from codeswarm.codex.claude_toolchain import locate as locate_claude

    try:
        found = locate_claude(check_version=False)
    except ToolchainError as exc:
        return Check("claude (optional)", False, str(exc), False)
    ok = found.version == CLAUDE_VERSION
    detail = f"{found.path} [{found.source}] {found.version}" + (
        "" if ok else f", tested with {CLAUDE_VERSION}: run 'codeswarm toolchain install --claude'"
    )
    return Check("claude (optional)", ok, detail, False)
