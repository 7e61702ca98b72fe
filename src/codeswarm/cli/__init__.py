"""The ``codeswarm`` command line."""

from codeswarm.cli.main import app, main

__all__ = ["app", "main"]
