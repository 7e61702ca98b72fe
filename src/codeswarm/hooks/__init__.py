"""Codex and Claude Code hook entry points (``python -m codeswarm.hooks CLIENT EVENT``).

Imports almost nothing: they run on every tool call. See docs/hooks.md."""
