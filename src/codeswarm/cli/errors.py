"""Turning errors into what a person sees: one line on stderr and an exit code.

Exit codes: 0 ok, 1 failure, 2 bad input (flag, config, script), 130 interrupted. With
``--debug`` or ``CODESWARM_DEBUG=1`` the traceback is shown instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from codeswarm.core.errors import CodeswarmError, UsageError


def say(msg: str) -> None:
    print(f"codeswarm: {msg}", file=sys.stderr)


def debugging() -> bool:
    return bool(os.environ.get("CODESWARM_DEBUG"))


def run_guarded(fn: Callable[[], int]) -> int:
    """Run ``fn``; a codeswarm error becomes one line and its exit code."""
    try:
        return fn()
    except UsageError as exc:
        if debugging():
            raise
        say(f"error: {exc}")
        return 2
    except CodeswarmError as exc:
        if debugging():
            raise
        say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
