"""The mailbox's public names, its import cost, and the direction of its imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import codeswarm.mailbox


def test_public_names() -> None:
    assert set(codeswarm.mailbox.__all__) == {
        "Box", "CorruptLine", "Cursor", "Delivery", "Follower", "FollowerGroup",
        "InvalidRecordError", "Layout", "LocalTransport", "MailRecord", "MailboxClosedError",
        "MailboxError", "MailboxInputError", "MailboxNameError", "MailboxPermissionError",
        "MemoryStore", "MemoryTransport", "Mode", "Position", "Reader", "RecordStream",
        "RecordTooLargeError", "SpillError", "SshTransport", "SshUrl", "StreamBrokenError",
        "Transport", "Writer", "WriterBusyError", "check_private", "ensure_private_dir",
        "open_transport", "records_backward", "records_once",
    }  # fmt: skip
    for name in codeswarm.mailbox.__all__:
        assert getattr(codeswarm.mailbox, name) is not None, name


def test_errors_sit_in_the_tree() -> None:
    from codeswarm.core.errors import CodeswarmError, UsageError
    from codeswarm.mailbox import MailboxError, MailboxPermissionError, StreamBrokenError

    assert issubclass(MailboxError, CodeswarmError)
    assert issubclass(MailboxPermissionError, MailboxError) and issubclass(
        MailboxPermissionError, UsageError
    )
    assert issubclass(StreamBrokenError, MailboxError) and not issubclass(
        StreamBrokenError, UsageError
    )


def test_import_is_cheap() -> None:
    """Importing the package loads nothing; a Writer needs orjson but not ctypes or asyncio."""
    code = (
        "import sys, codeswarm.mailbox as m;"
        "a = [x for x in ('orjson', 'ctypes', 'asyncio', 'codeswarm.mailbox.writer') if x in sys.modules];"
        "m.Writer;"
        "b = [x for x in ('ctypes', 'asyncio') if x in sys.modules];"
        "print(','.join(a) + '|' + ','.join(b))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "|"


def test_imports_point_down() -> None:
    root = Path(codeswarm.mailbox.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "codeswarm":
                    assert parts[1] in ("core", "mailbox"), f"{path}: imports {name}"
                else:
                    assert parts[0] == "orjson" or parts[0] in sys.stdlib_module_names, (
                        f"{path}: {name}"
                    )
