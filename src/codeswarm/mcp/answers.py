"""What every agent's Codex asks when it mounts the coordination hub (``initialize``, then
``notifications/initialized`` and ``tools/list``: :data:`MOUNT`), and the hub's answers to it,
in memory and on disk. Light: the hub answers a mount from here before it has loaded the MCP
SDK (≈ 0.4 s of CPU), so no agent's ``thread/start`` waits for that import.

A request of :data:`MOUNT` is identified (:func:`mount_key`) by the agent's
:class:`~codeswarm.mcp.shape.Shape` and the request less what no answer depends on: the token,
the length, the ``host`` (the SDK's DNS-rebinding check is off: the token is the guard) and the
JSON-RPC id. Every server of one shape answers it with the same bytes but the id
(:class:`Answer`). :class:`Kept` keeps those answers across swarms in
``$XDG_CACHE_HOME/codeswarm/hub-answers.json``, under a stamp of everything that could change
them (:func:`code_stamp`: every file of the installed ``codeswarm``, the SDK and what it builds
on, the interpreter): an upgrade or an edit of any of them makes a new stamp, whose answers
the SDK gives again. A file that is unreadable or not of the expected form is ignored and
replaced at the next answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

from codeswarm.mcp.shape import Shape

MOUNT = frozenset({"initialize", "notifications/initialized", "tools/list"})
"""What a Codex asks when it mounts the hub: answered once per shape."""
MOUNT_BODY = 4096
"""A request body longer than this (by its ``content-length``) is not one of :data:`MOUNT`."""
MOUNT_ANSWERS = 64
"""Answers kept at most, per stamp (a few shapes times a few requests are all there are)."""
SKIPPED_HEADERS = frozenset({b"authorization", b"content-length", b"host"})
"""Request headers an answer does not depend on (the rest are part of what is answered)."""
KEPT_STAMPS = 8
"""Stamps (installs or edits of the code) whose answers the file keeps, the most recently
used ones."""
SDK_PACKAGES = ("mcp", "pydantic", "pydantic_core", "starlette", "anyio")
"""What the SDK's answers are made with besides ``codeswarm`` (their ``__init__``, which every
install replaces: see :func:`codeswarm.worker.zygote.installed_stamp`)."""

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Any
Send = Any
AnswerKey = str
"""The JSON text of the shape and the request less what is skipped (see the module docstring)."""


class Answer:
    """The SDK's answer to one of :data:`MOUNT`, kept to be sent again with another id."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], head: bytes, tail: bytes):
        self.status = status
        self.headers = headers
        self.head = head  # the body up to the id
        self.tail = tail  # the body after it

    @classmethod
    def of(cls, sent: list[Message], request_id: int | None) -> Answer | None:
        """The answer ``sent`` (a plain 200 result or a 202 for a notification), or None when it
        is anything else (an error, a stream): that is never sent again."""
        if len(sent) != 2:
            return None
        start, body = sent
        if start.get("type") != "http.response.start" or body.get("type") != "http.response.body":
            return None
        if body.get("more_body") or start.get("trailers"):
            return None
        status, content = start.get("status"), bytes(body.get("body", b""))
        headers = [(bytes(k), bytes(v)) for k, v in start.get("headers") or []]
        if request_id is None:
            return cls(202, headers, b"", b"") if status == 202 and not content else None
        head = b'{"jsonrpc":"2.0","id":'
        rid = str(request_id).encode()
        if status != 200 or not content.startswith(head + rid + b',"result":'):
            return None
        return cls(200, headers, head, content[len(head) + len(rid) :])

    async def send(self, send: Send, request_id: int | None) -> None:
        body = b"" if request_id is None else self.head + str(request_id).encode() + self.tail
        length = str(len(body)).encode()
        headers = [(k, length if k.lower() == b"content-length" else v) for k, v in self.headers]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def to_json(self) -> dict[str, Any]:
        """As kept on disk (bytes as Latin-1 text: every byte is one character)."""
        return {"status": self.status, "head": self.head.decode("latin-1"),
                "tail": self.tail.decode("latin-1"),
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers]}  # fmt: skip

    @classmethod
    def from_json(cls, kept: object) -> Answer | None:
        """:meth:`to_json`'s form back, or None for anything else."""
        if not isinstance(kept, dict):
            return None
        status, head, tail, headers = (kept.get(k) for k in ("status", "head", "tail", "headers"))
        if status not in (200, 202) or not isinstance(head, str) or not isinstance(tail, str):
            return None
        if not isinstance(headers, list) or not all(
            isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h)
            for h in headers
        ):
            return None
        try:
            pairs = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
            return cls(status, pairs, head.encode("latin-1"), tail.encode("latin-1"))
        except UnicodeEncodeError:
            return None


class Mount(NamedTuple):
    """A request of :data:`MOUNT`."""

    key: AnswerKey
    """What identifies it among those of agents of one shape."""
    request_id: int | None
    """Its JSON-RPC id (None: a notification)."""
    method: str


def mount_key(shape: Shape, scope: Scope, body: bytes) -> Mount | None:
    """What identifies a request of :data:`MOUNT` among those of agents of ``shape`` (its
    headers but those skipped, its body but the id) and its id; None for any other request."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return None
    method = message.get("method")
    if method not in MOUNT:
        return None
    has_id = "id" in message  # (a notification has none: not even null)
    request_id = message.pop("id", None)
    if method.startswith("notifications/") == has_id:
        return None
    if has_id and (type(request_id) is not int or request_id < 0):
        return None
    headers = [
        [bytes(k).decode("latin-1"), bytes(v).decode("latin-1")]
        for k, v in scope.get("headers") or []
        if bytes(k).lower() not in SKIPPED_HEADERS
    ]
    where = [str(scope.get("path", "")), bytes(scope.get("query_string", b"")).decode("latin-1")]
    key = json.dumps([list(shape), where, headers, message], sort_keys=True, separators=(",", ":"))
    return Mount(key, request_id, method)


async def read_small(scope: Scope, receive: Receive) -> tuple[bytes | None, Receive]:
    """The request's body if it says it is at most :data:`MOUNT_BODY` bytes long (else None),
    and a ``receive`` that gives what was read again, then the rest."""
    headers = scope.get("headers") or []
    length = next((bytes(v) for k, v in headers if bytes(k).lower() == b"content-length"), None)
    if length is None or not length.isdigit() or int(length) > MOUNT_BODY:
        return None, receive
    read: list[Message] = []
    body = b""
    while True:
        message = await receive()
        read.append(message)
        if message.get("type") != "http.request":
            return None, _again(read, receive)  # the client went away: the SDK sees it
        body += message.get("body", b"")
        if len(body) > MOUNT_BODY:
            return None, _again(read, receive)
        if not message.get("more_body"):
            return body, _again(read, receive)


def _again(read: list[Message], receive: Receive) -> Receive:
    async def again() -> Message:
        if read:
            return read.pop(0)
        message: Message = await receive()
        return message

    return again


def code_stamp() -> str:
    """A digest of what the SDK's answers are made of: the identity (device, inode, size,
    modification time) of every file of the ``codeswarm`` package (an edit of a checkout
    changes it), of the ``__init__`` of each of :data:`SDK_PACKAGES` as the import system would
    find it (without importing it), and the interpreter's version. ≈ 1 ms."""
    from importlib.util import find_spec

    import codeswarm
    from codeswarm.core.paths import file_identity

    parts: list[str] = [sys.version]
    root = os.path.dirname(codeswarm.__file__ or "")
    for where, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(where, name)
            parts.append(f"{os.path.relpath(path, root)}:{file_identity(path)}")
    for package in SDK_PACKAGES:
        try:
            spec = find_spec(package)
        except (ImportError, ValueError):
            spec = None
        origin = spec.origin if spec is not None else None
        ident = file_identity(origin) if origin else None
        parts.append(f"{package}:{origin}:{ident}")
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


class Kept:
    """The answers of one stamp in the file at ``path`` (see the module docstring): read with
    :meth:`load`, added to with :meth:`add` (the file replaced atomically; two hubs writing at
    once may lose one's addition, which the SDK then gives again)."""

    def __init__(self, path: Path, stamp: str) -> None:
        self.path = path
        self.stamp = stamp

    @classmethod
    def default(cls) -> Kept:
        from codeswarm.core.paths import user_cache_home

        return cls(user_cache_home() / "hub-answers.json", code_stamp())

    def _read(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def load(self) -> dict[AnswerKey, Answer]:
        """The answers kept for this stamp (none when there is no file, or it is not ours)."""
        entry = self._read().get(self.stamp)
        answers = entry.get("answers") if isinstance(entry, dict) else None
        if not isinstance(answers, dict):
            return {}
        loaded: dict[AnswerKey, Answer] = {}
        for key, kept in list(answers.items())[:MOUNT_ANSWERS]:
            answer = Answer.from_json(kept)
            if isinstance(key, str) and answer is not None:
                loaded[key] = answer
        return loaded

    def add(self, key: AnswerKey, answer: Answer) -> None:
        """Keep ``answer`` for this stamp (read, changed and replaced under the lock file
        beside it, so hubs adding at once lose nothing); the least recently added-to stamps
        beyond :data:`KEPT_STAMPS` are dropped. A file that cannot be written is left as it
        is: the SDK gives the answer again next time."""
        import fcntl

        from codeswarm.core.atomic import atomic_write

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = os.open(self.path.with_name(self.path.name + ".lock"),
                           os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)  # fmt: skip
        except OSError:
            return
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            doc = self._read()
            entry = doc.pop(self.stamp, None)
            if not isinstance(entry, dict) or not isinstance(entry.get("answers"), dict):
                entry = {"answers": {}}
            if len(entry["answers"]) >= MOUNT_ANSWERS:
                return
            entry["answers"][key] = answer.to_json()
            entry["used"] = time.time()
            others = sorted(
                ((k, v) for k, v in doc.items() if isinstance(v, dict)),
                key=lambda kv: _number(kv[1].get("used")),
            )
            kept = dict(others[max(0, len(others) - (KEPT_STAMPS - 1)) :])
            kept[self.stamp] = entry
            atomic_write(self.path, json.dumps(kept).encode(), durable=False)
        except OSError:
            pass
        finally:
            os.close(lock)


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
