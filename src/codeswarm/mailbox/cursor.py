"""A consumer's saved position in one mailbox file.

Save a cursor only *after* acting on the records before it. A crash between acting and saving
re-delivers those records on restart (at-least-once); consumers make that exactly-once in effect by
deduplicating on ``(agent, seq)`` or ``id``. The file is replaced atomically
(:func:`codeswarm.core.atomic.atomic_write`: temp file in the same directory, fsync, rename, fsync
the directory), so it always holds a complete cursor: the old one or the new one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from codeswarm.core.atomic import atomic_write
from codeswarm.core.errors import MailboxError, MailboxInputError
from codeswarm.mailbox.perms import FILE_MODE, check_private, ensure_private_dir
from codeswarm.mailbox.records import Position, now_ms

_OWN_KEYS = frozenset({"segment", "offset", "saved_ms"})


class Cursor:
    """The cursor file ``path`` (JSON: ``{"segment", "offset", "saved_ms", **extra}``).

    ``fsync=False`` skips both fsyncs: still atomic against a crash of the process (the rename
    is), but a power loss may bring back an older cursor, which only means more re-delivery.
    """

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.extra: dict[str, Any] = {}

    def load(self) -> Position:
        """The saved position (the stream's start if none was saved). The extra fields saved with
        it are in :attr:`extra`. Raises :class:`MailboxError` for an unreadable cursor file."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            self.extra = {}
            return Position.start()
        except OSError as exc:
            raise MailboxError(f"cannot read cursor {self.path}: {exc.strerror}") from exc
        try:
            obj = orjson.loads(data)
            position = Position.from_json(obj)
        except (orjson.JSONDecodeError, ValueError) as exc:
            raise MailboxError(f"cursor {self.path} is not a saved position: {exc}") from exc
        self.extra = {k: v for k, v in obj.items() if k not in _OWN_KEYS}
        return position

    def save(self, position: Position, **extra: Any) -> None:
        """Atomically replace the saved position (creating the directory 0700 if needed).
        Raises :class:`MailboxInputError` for an extra field named like one of the cursor's own,
        :class:`MailboxError` when the file cannot be written."""
        clash = _OWN_KEYS & extra.keys()
        if clash:
            raise MailboxInputError(f"cursor extra fields may not be named {sorted(clash)}")
        directory = self.path.parent
        if not directory.is_dir():
            ensure_private_dir(directory)
        body = orjson.dumps(
            {"segment": position.segment, "offset": position.offset, "saved_ms": now_ms(), **extra}
        )
        try:
            atomic_write(self.path, body, mode=FILE_MODE, durable=self.fsync)
        except OSError as exc:
            raise MailboxError(f"cannot save cursor {self.path}: {exc.strerror or exc}") from exc

    def check(self) -> None:
        """:func:`check_private` the cursor's directory and file."""
        check_private(self.path.parent)
        check_private(self.path)

    def __repr__(self) -> str:
        return f"Cursor({str(self.path)!r})"
