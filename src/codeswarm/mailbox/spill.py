"""Oversized records: the body goes to a side file, the line carries a pointer.

A line longer than the writer's ``max_line`` is never written (a huge ``write(2)`` is the one most
likely to be cut short by a full disk or a kill on a network filesystem, and it would stall every
reader that buffers lines). Instead the whole stamped record is written to
``<file>.spill/<seq>.json`` (:func:`~codeswarm.core.atomic.atomic_write`, so it appears complete
or not at all) *before* the line that points to it::

    {"seq": 9, "id": "...", "ts": ..., "kind": "codex", "spill": "a.jsonl.spill/9.json",
     "spill_bytes": 812345, ...small scalar fields of the record...}

Side files are named by seq, not id: seq is unique per file across rotations and is always a safe
file name, while ids may be chosen by the caller. Readers replace the pointer by the record; a
missing or mismatched side file is reported as a corrupt line (never a crash, never a silent
substitute).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from codeswarm.core.atomic import atomic_write
from codeswarm.core.errors import SpillError
from codeswarm.mailbox.layout import spill_dir
from codeswarm.mailbox.perms import DIR_MODE, FILE_MODE, check_private
from codeswarm.mailbox.records import HEADER_KEYS, MailRecord, encode

SMALL_FIELD_CHARS = 200
SMALL_FIELDS_MAX = 32


def write_spill(path: Path, record: MailRecord, body: bytes, *, fsync: bool) -> str:
    """Write ``body`` (the record's JSON) beside ``path``; returns the pointer (relative to
    ``path``'s directory)."""
    d = spill_dir(path)
    try:
        os.mkdir(d, DIR_MODE)
    except FileExistsError:
        check_private(d)
    name = f"{record['seq']}.json"
    atomic_write(d / name, body, mode=FILE_MODE, durable=fsync)
    return f"{d.name}/{name}"


def pointer_line(record: MailRecord, rel: str, size: int) -> bytes:
    """The line for a spilled record: its header, small scalar fields, and the pointer."""
    pointer: dict[str, Any] = {k: record[k] for k in HEADER_KEYS}
    for key, value in record.items():
        if len(pointer) >= len(HEADER_KEYS) + SMALL_FIELDS_MAX:
            break
        if key in pointer:
            continue
        if (
            value is None
            or type(value) in (bool, int, float)
            or (type(value) is str and len(value) <= SMALL_FIELD_CHARS)
        ):
            pointer[key] = value
    pointer["spill"] = rel
    pointer["spill_bytes"] = size
    return encode(pointer)


class SpillLoader:
    """Resolves pointer records of the mailbox file in ``directory`` (a framing ``resolve_spill``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __call__(self, pointer: MailRecord) -> MailRecord:
        rel = pointer.get("spill")
        parts = rel.split("/") if type(rel) is str else []
        if len(parts) != 2 or not parts[0].endswith(".spill") or parts[1] in ("", ".", ".."):
            raise SpillError(f"bad spill pointer {rel!r}")
        path = self.directory / parts[0] / parts[1]
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            raise SpillError(
                f"spilled record seq {pointer['seq']}: side file {path} is missing"
            ) from None
        except OSError as exc:
            raise SpillError(
                f"spilled record seq {pointer['seq']}: {path}: {exc.strerror}"
            ) from exc
        try:
            record = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SpillError(f"spilled record seq {pointer['seq']}: {path} is not JSON") from exc
        if (
            type(record) is not dict
            or record.get("seq") != pointer["seq"]
            or record.get("id") != pointer.get("id")
        ):
            raise SpillError(f"spilled record seq {pointer['seq']}: {path} holds another record")
        return record
