"""The message bus of the fleet: append-only JSONL mailbox files, cursors, following, transports.

``<run_dir>/mailbox/inbox/<agent>.jsonl`` carries control -> worker, ``outbox/<agent>.jsonl``
worker -> control; one record per line, written with one ``write(2)``. See ``docs/mailbox.md``.

Names load on first use (PEP 562): ``import codeswarm.mailbox`` costs nothing until a name is
touched, and ctypes (for inotify) loads only when a follower starts watching.
"""

from __future__ import annotations

from codeswarm.core.lazy import lazy_names

TYPE_CHECKING = False  # not `typing` at run time: hot paths import this package

if TYPE_CHECKING:
    from codeswarm.core.errors import (
        InvalidRecordError,
        MailboxClosedError,
        MailboxError,
        MailboxInputError,
        MailboxNameError,
        MailboxPermissionError,
        RecordTooLargeError,
        SpillError,
        StreamBrokenError,
        WriterBusyError,
    )
    from codeswarm.mailbox.cursor import Cursor
    from codeswarm.mailbox.follow import Follower, FollowerGroup, Mode
    from codeswarm.mailbox.layout import Layout
    from codeswarm.mailbox.memory import MemoryStore, MemoryTransport
    from codeswarm.mailbox.perms import check_private, ensure_private_dir
    from codeswarm.mailbox.reader import Reader, records_once
    from codeswarm.mailbox.records import Box, CorruptLine, Delivery, MailRecord, Position
    from codeswarm.mailbox.ssh import SshTransport, SshUrl, open_transport
    from codeswarm.mailbox.tail import records_backward
    from codeswarm.mailbox.transport import LocalTransport, RecordStream, Transport
    from codeswarm.mailbox.writer import Writer

_WHERE = {
    "InvalidRecordError": "core.errors",
    "MailboxClosedError": "core.errors",
    "MailboxError": "core.errors",
    "MailboxInputError": "core.errors",
    "MailboxNameError": "core.errors",
    "MailboxPermissionError": "core.errors",
    "RecordTooLargeError": "core.errors",
    "SpillError": "core.errors",
    "StreamBrokenError": "core.errors",
    "WriterBusyError": "core.errors",
    "Cursor": "mailbox.cursor",
    "Follower": "mailbox.follow",
    "FollowerGroup": "mailbox.follow",
    "Mode": "mailbox.follow",
    "Layout": "mailbox.layout",
    "MemoryStore": "mailbox.memory",
    "MemoryTransport": "mailbox.memory",
    "check_private": "mailbox.perms",
    "ensure_private_dir": "mailbox.perms",
    "Reader": "mailbox.reader",
    "records_once": "mailbox.reader",
    "Box": "mailbox.records",
    "CorruptLine": "mailbox.records",
    "Delivery": "mailbox.records",
    "Position": "mailbox.records",
    "MailRecord": "mailbox.records",
    "SshTransport": "mailbox.ssh",
    "SshUrl": "mailbox.ssh",
    "open_transport": "mailbox.ssh",
    "records_backward": "mailbox.tail",
    "LocalTransport": "mailbox.transport",
    "RecordStream": "mailbox.transport",
    "Transport": "mailbox.transport",
    "Writer": "mailbox.writer",
}

__all__ = [
    "Box",
    "CorruptLine",
    "Cursor",
    "Delivery",
    "Follower",
    "FollowerGroup",
    "InvalidRecordError",
    "Layout",
    "LocalTransport",
    "MailRecord",
    "MailboxClosedError",
    "MailboxError",
    "MailboxInputError",
    "MailboxNameError",
    "MailboxPermissionError",
    "MemoryStore",
    "MemoryTransport",
    "Mode",
    "Position",
    "Reader",
    "RecordStream",
    "RecordTooLargeError",
    "SpillError",
    "SshTransport",
    "SshUrl",
    "StreamBrokenError",
    "Transport",
    "Writer",
    "WriterBusyError",
    "check_private",
    "ensure_private_dir",
    "open_transport",
    "records_backward",
    "records_once",
]


__getattr__ = lazy_names(__name__, _WHERE, globals())
