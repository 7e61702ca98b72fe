"""Where a run's mailbox lives, and how one mailbox file is named on disk.

::

    <run_dir>/                              0700
      mailbox/                              0700
        inbox/<agent>.jsonl                 control -> worker (live segment)
        outbox/<agent>.jsonl                worker -> control (live segment)
        outbox/<agent>.jsonl.000000         rotated segments, numbered from 0 in stream order
        outbox/<agent>.jsonl.spill/<seq>.json   the bodies of oversized records
        outbox/<agent>.jsonl.lock           the writer lock (holds "pid@host" of an exclusive writer)
        cursors/<consumer>/<box>.<agent>.json   where a consumer has got to
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from codeswarm.core.errors import MailboxNameError
from codeswarm.mailbox.perms import check_private, ensure_private_dir
from codeswarm.mailbox.records import Box

SUFFIX = ".jsonl"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,199}")


def check_name(name: str, what: str = "agent") -> str:
    """``name`` if it is safe as a file name in the mailbox, else :class:`MailboxNameError`."""
    if not _NAME.fullmatch(name):
        raise MailboxNameError(
            f"{what} name {name!r} cannot name a mailbox file: use letters, digits and _ . @ + - "
            f"(starting with a letter or digit, at most 200 characters)"
        )
    return name


def segment_path(path: Path, segment: int) -> Path:
    """The rotated segment ``segment`` of the mailbox file ``path``: ``<name>.000042``."""
    return path.with_name(f"{path.name}.{segment:06d}")


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def spill_dir(path: Path) -> Path:
    return path.with_name(path.name + ".spill")


def rotated_segments(path: Path) -> list[int]:
    """The numbers of ``path``'s rotated segments, ascending (empty if none or no directory)."""
    prefix = path.name + "."
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            if rest.isascii() and rest.isdigit():
                found.append(int(rest))
    found.sort()
    return found


def live_segment(path: Path) -> int:
    """The segment number the live file ``path`` has now: one past the last rotated segment."""
    rotated = rotated_segments(path)
    return rotated[-1] + 1 if rotated else 0


class Layout:
    """The mailbox of one run directory. Paths only: nothing is created until :meth:`create`."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.mailbox = self.run_dir / "mailbox"
        self.inbox_dir = self.mailbox / "inbox"
        self.outbox_dir = self.mailbox / "outbox"
        self.cursors_dir = self.mailbox / "cursors"

    def __repr__(self) -> str:
        return f"Layout({str(self.run_dir)!r})"

    def box_dir(self, box: Box) -> Path:
        return self.inbox_dir if box == "inbox" else self.outbox_dir

    def path(self, box: Box, agent: str) -> Path:
        """The live file of ``agent``'s inbox or outbox."""
        return self.box_dir(box) / (check_name(agent) + SUFFIX)

    def inbox(self, agent: str) -> Path:
        return self.path("inbox", agent)

    def outbox(self, agent: str) -> Path:
        return self.path("outbox", agent)

    def cursor_dir(self, consumer: str) -> Path:
        return self.cursors_dir / check_name(consumer, "consumer")

    def cursor(self, consumer: str, box: Box, agent: str) -> Path:
        """Where ``consumer`` keeps its cursor into ``agent``'s ``box``."""
        return self.cursor_dir(consumer) / f"{box}.{check_name(agent)}.json"

    def agents(self, box: Box) -> list[str]:
        """Agents that have a live ``box`` file, sorted."""
        return agents_in(self.box_dir(box))

    def agents_with_outbox(self) -> list[str]:
        return self.agents("outbox")

    def create(self) -> Layout:
        """Make the run directory and ``mailbox/{inbox,outbox,cursors}`` with mode 0700.

        Raises :class:`MailboxPermissionError` if one of them exists and others can write it or
        another user owns it. Returns ``self``.
        """
        for d in (self.run_dir, self.mailbox, self.inbox_dir, self.outbox_dir, self.cursors_dir):
            ensure_private_dir(d)
        return self

    def check(self) -> None:
        """:func:`check_private` the run directory and the mailbox directories that exist."""
        for d in (self.run_dir, self.mailbox, self.inbox_dir, self.outbox_dir, self.cursors_dir):
            check_private(d)


def agents_in(directory: Path) -> list[str]:
    """Names of the live mailbox files in ``directory`` (``<agent>.jsonl``), sorted."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(
        n[: -len(SUFFIX)]
        for n in names
        if n.endswith(SUFFIX) and _NAME.fullmatch(n[: -len(SUFFIX)])
    )
