"""Pinned versions (no imports: read on every hot path)."""

CODEX_VERSION = "0.169.0"
"""The Codex CLI version codeswarm is built and tested against."""

CLAUDE_VERSION = "2.1.197"
"""The Claude Code CLI version codeswarm's Claude Code integration is tested against: the last
``@anthropic-ai/claude-code`` whose ``engines.node`` is ``>=18`` (later ones declare ``>=22``)."""
