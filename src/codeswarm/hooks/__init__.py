"""Codex and Claude Code hook entry points (``python -m codeswarm.hooks CLIENT EVENT``).

Imports almost nothing: they run on every tool call. See docs/hooks.md."""

import os as _os

ENTRY = _os.path.join(_os.path.dirname(__file__), "__main__.py")
"""Run hooks as ``<python> ENTRY CLIENT EVENT``: a script path, not ``-m`` (runpy costs ~5 ms
on every tool call)."""
