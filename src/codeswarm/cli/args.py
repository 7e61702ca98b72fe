"""argparse for the fast commands (``exec``, ``send``), which are parsed without Typer."""

from __future__ import annotations

import argparse

from codeswarm.core.errors import UsageError

TYPE_CHECKING = False  # not `typing` at run time: these commands start fast
if TYPE_CHECKING:
    from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose mistakes raise :class:`UsageError` (one line, exit 2) with a
    pointer to the command's help, instead of printing the usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")
