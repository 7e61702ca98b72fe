"""How codeswarm starts Python processes of its own (supervisor, workers, the scripted model,
the MCP server, Slurm tasks, the far end of the ssh transport).

``python -m MODULE`` puts the working directory first on ``sys.path``; our processes often start
in a project an agent can write, so a planted ``asyncio.py`` there would run outside the
agent's sandbox with access to the store. Every such command line therefore carries ``-P``
(Python ≥ 3.11: prepend nothing). Hooks are started by the path of their script, whose
directory is codeswarm's own.
"""

from __future__ import annotations

import sys

SAFE_FLAGS = ("-P",)
"""Interpreter flags every codeswarm child process gets (see the module docstring)."""


def module_args(module: str, *args: str) -> list[str]:
    """The arguments after the interpreter: ``-P -m MODULE ARGS…``."""
    return [*SAFE_FLAGS, "-m", module, *args]


def python_module(module: str, *args: str, python: str | None = None) -> list[str]:
    """A whole command line: this interpreter (or ``python``) running ``module`` safely."""
    return [python or sys.executable, *module_args(module, *args)]
