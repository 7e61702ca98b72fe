"""Pinned versions (no imports: read on every hot path)."""

CODEX_VERSION = "0.169.0"
"""The Codex CLI version codeswarm is built and tested against."""
