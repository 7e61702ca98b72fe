"""The far end of the ssh transport: ``python -m codeswarm.mailbox.serve --run-dir DIR``.

It runs on the host that can open the run directory (a login node, a compute node), speaks
line-delimited JSON on stdin/stdout, and does everything with :class:`LocalTransport`, so it
follows, appends and keeps cursors exactly as a local process would. It exits when stdin ends (the
connection dropped or the client closed it): nothing is left running on the far host.

Wire protocol, version :data:`PROTOCOL` (one JSON object per line, both ways; positions are
``[segment, offset]``):

* first line from the server: ``{"hello": {"protocol": 1, "pid", "host", "run_dir"}}``, or
  ``{"fatal": {"type", "message"}}`` and exit status 2 (the run directory is unsafe, ...).
  Lines before it that are not JSON (a login script's chatter) are ignored by the client.
* requests carry an integer ``id``; every reply and stream item carries the ``id`` of its request:

  ============================================================  =====================================
  request                                                       reply
  ============================================================  =====================================
  ``{"op":"append","box","agent","record","resent":bool}``      ``{"ok": record as written}``
  ``{"op":"follow","box","agent":A|null,"positions":{A:pos},``  items ``{"agent","record","position"}``
  ``"consumer":C|null,"window":bytes}``                         and ``{"agent","corrupt":{...}}``,
                                                                until ``{"end":true}`` or ``error``
  ``{"op":"credit","id":S,"bytes":n}`` (no reply)               stream ``S`` may send ``n`` more bytes
  ``{"op":"cancel","id":S}``                                    stream ``S`` answers ``{"end":true}``
  ``{"op":"rotate"|"agents"|"ends"|"load_cursor"|"save_cursor",...}``  ``{"ok": value}``
  ``{"op":"ping"}``                                             ``{"ok": null}``
  ============================================================  =====================================

  A failure is ``{"id", "error": {"type": <MailboxError subclass>, "message"}}``.
* Flow control: a follow stream sends while fewer than ``window`` bytes it sent are unconsumed;
  the client returns credit as it consumes. A client that does not read one stream therefore
  never stalls the connection for the others or for append replies.
* ``resent: true`` marks an append the client sent before a connection dropped and sends again
  with the same record ``id``: if the tail of the file already holds a record with that id, that
  record is the reply and nothing is written (see :func:`find_recent`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from codeswarm.core.errors import MailboxError, RecordTooLargeError, WriterBusyError
from codeswarm.mailbox.follow import POLL_INTERVAL, FollowerGroup, Mode
from codeswarm.mailbox.layout import rotated_segments, segment_path
from codeswarm.mailbox.records import Box, CorruptLine, MailRecord, Position
from codeswarm.mailbox.spill import SpillLoader
from codeswarm.mailbox.transport import LocalTransport
from codeswarm.mailbox.writer import ROTATE_BYTES

log = logging.getLogger("codeswarm.mailbox.serve")

PROTOCOL = 1
LINE_LIMIT = 192 * 1024 * 1024
"""The longest protocol line either side accepts (a 64 MiB record, JSON-escaped, fits)."""
WINDOW_BYTES = 4 * 1024 * 1024
"""Default flow-control window of a follow stream: unconsumed bytes in flight."""
DEDUPE_WINDOW = 1024 * 1024
"""How far back from the end of a file a re-sent append looks for its id."""
BUSY_WAIT = 10.0
"""A re-sent append to an exclusive file waits this long for the previous server to let go."""
FLUSH_BYTES = 64 * 1024

_BOXES: tuple[Box, ...] = ("inbox", "outbox")


def pos_json(p: Position) -> list[int]:
    return [p.segment, p.offset]


def json_object(line: bytes) -> dict[str, Any] | str:
    """A protocol line as the JSON object it must be, or why it is not one (``"not JSON"``,
    ``"not an object"``): either side skips such a line, saying so."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "not JSON"
    return obj if type(obj) is dict else "not an object"


def error_json(exc: BaseException) -> dict[str, Any]:
    """How an exception crosses the wire: its class name (if a mailbox error) and message."""
    out: dict[str, Any] = {
        "type": type(exc).__name__ if isinstance(exc, MailboxError) else "MailboxError",
        "message": str(exc) if isinstance(exc, MailboxError) else f"remote error: {exc!r}",
    }
    if isinstance(exc, RecordTooLargeError):
        out["size"], out["limit"] = exc.size, exc.limit
    return out


def find_recent(path: Path, rid: str, window: int = DEDUPE_WINDOW) -> MailRecord | None:
    """The record with id ``rid`` among the last ``window`` bytes of ``path``'s stream (its live
    file, and the newest rotated segment if the live file is shorter), or None."""
    files = [path]
    rotated = rotated_segments(path)
    if rotated:
        files.append(segment_path(path, rotated[-1]))
    needle = orjson.dumps(rid)
    for f in files:
        try:
            with open(f, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                start = max(0, size - window)
                fh.seek(start)
                data = fh.read(size - start)
        except FileNotFoundError:
            continue
        window -= len(data)
        if needle in data:
            lines = data.split(b"\n")
            if start > 0:
                lines.pop(0)  # cut by the window
            for line in reversed(lines):
                if needle not in line:
                    continue
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if type(rec) is dict and rec.get("id") == rid and type(rec.get("seq")) is int:
                    if "spill" in rec:
                        return SpillLoader(path.parent)(rec)
                    return rec
        if window <= 0:
            break
    return None


class _Stream:
    """One follow request being served."""

    def __init__(self, sid: int, window: int) -> None:
        self.sid = sid
        self.window = window
        self.in_flight = 0
        self.room = asyncio.Event()
        self.room.set()
        self.group: FollowerGroup | None = None
        self.task: asyncio.Task[None] | None = None

    def credit(self, n: int) -> None:
        self.in_flight = max(0, self.in_flight - n)
        if self.in_flight < self.window:
            self.room.set()

    def stop(self) -> None:
        if self.group is not None:
            self.group.close()
        if self.task is not None:
            self.task.cancel()


class Server:
    """Serves one client on ``reader`` / ``writer`` from ``transport``'s run directory."""

    def __init__(
        self, transport: LocalTransport, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.transport = transport
        self.reader = reader
        self.writer = writer
        self.streams: dict[int, _Stream] = {}

    def send(self, obj: Mapping[str, Any]) -> int:
        line = orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
        if not self.writer.is_closing():
            self.writer.write(line)
        return len(line)

    def _write(self, lines: list[bytes]) -> None:
        if lines and not self.writer.is_closing():
            self.writer.write(b"".join(lines))
        lines.clear()

    async def run(self) -> None:
        """Answer requests until stdin ends."""
        self.send(
            {
                "hello": {
                    "protocol": PROTOCOL,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "run_dir": str(self.transport.layout.run_dir),
                }
            }
        )
        try:
            while True:
                try:
                    line = await self.reader.readline()
                except ValueError:  # a line over LINE_LIMIT: the framing cannot recover
                    log.error("a request line over %d bytes; closing", LINE_LIMIT)
                    return
                if not line or self.writer.is_closing():
                    # Nobody hears replies any more: requests still buffered are left for the
                    # client to re-send on its next connection (so none is done twice).
                    return
                await self.handle(line)
                if self.writer.transport.get_write_buffer_size() > FLUSH_BYTES:
                    await self.writer.drain()
        finally:
            for stream in self.streams.values():
                stream.stop()
            await self.transport.aclose()

    async def handle(self, line: bytes) -> None:
        req = json_object(line)
        if isinstance(req, str):
            log.warning("ignored a request that is %s: %.200r", req, line)
            return
        rid, op = req.get("id"), req.get("op")
        if op == "credit":
            stream = self.streams.get(rid) if type(rid) is int else None
            n = req.get("bytes")
            if stream is not None and type(n) is int:
                stream.credit(n)
            return
        if op == "cancel":
            stream = self.streams.pop(rid, None) if type(rid) is int else None
            if stream is not None:
                stream.stop()
                self.send({"id": rid, "end": True})
            return
        if type(rid) is not int:
            log.warning("ignored a request without an integer id: %.200r", line)
            return
        try:
            if op == "follow":
                self.follow(rid, req)
                return
            result = await self.call(op, req)
        except Exception as exc:
            if not isinstance(exc, MailboxError):
                log.exception("request %s (%s) failed", rid, op)
            self.send({"id": rid, "error": error_json(exc)})
            return
        self.send({"id": rid, "ok": result})

    async def call(self, op: object, req: dict[str, Any]) -> Any:
        t = self.transport
        if op == "append":
            record = req.get("record")
            if type(record) is not dict:
                raise MailboxError("bad request: append needs a record object")
            return await self.append(_box(req), _str(req, "agent"), record, bool(req.get("resent")))
        if op == "rotate":
            return await t.rotate(_box(req), _str(req, "agent"))
        if op == "agents":
            return await t.agents(_box(req))
        if op == "ends":
            return {a: pos_json(p) for a, p in (await t.ends(_box(req))).items()}
        if op == "load_cursor":
            p = await t.load_cursor(_str(req, "consumer"), _box(req), _str(req, "agent"))
            return pos_json(p)
        if op == "save_cursor":
            p = _pos(req.get("position"))
            await t.save_cursor(_str(req, "consumer"), _box(req), _str(req, "agent"), p)
            return None
        if op == "ping":
            return None
        raise MailboxError(f"bad request: unknown op {op!r}")

    async def append(
        self, box: Box, agent: str, record: dict[str, Any], resent: bool
    ) -> MailRecord:
        t = self.transport
        if not resent:
            return await t.append(box, agent, record)
        # A re-send after a dropped connection: the previous server may have written it (and,
        # for an exclusive file, may still be exiting and holding the lock).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BUSY_WAIT
        while True:
            try:
                t.writer(box, agent)
                break
            except WriterBusyError:
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.05)
        rid = record.get("id")
        if type(rid) is str:
            found = find_recent(t.layout.path(box, agent), rid)
            if found is not None:
                return found
        return await t.append(box, agent, record)

    def follow(self, sid: int, req: dict[str, Any]) -> None:
        if sid in self.streams:
            raise MailboxError(f"bad request: stream {sid} already exists")
        box = _box(req)
        raw = req.get("positions") or {}
        if type(raw) is not dict:
            raise MailboxError("bad request: positions must be an object")
        positions = {str(a): _pos(p) for a, p in raw.items()}
        window = req.get("window")
        stream = _Stream(sid, window if type(window) is int and window > 0 else WINDOW_BYTES)

        def on_corrupt(agent: str, bad: CorruptLine) -> None:
            stream.in_flight += self.send(
                {
                    "id": sid,
                    "agent": agent,
                    "corrupt": {
                        "position": pos_json(bad.position),
                        "end": pos_json(bad.end),
                        "text": bad.text,
                        "reason": bad.reason,
                    },
                }
            )

        agent = req.get("agent")
        if agent is None:
            consumer = req.get("consumer")
            if consumer is not None and type(consumer) is not str:
                raise MailboxError("bad request: consumer must be a string")
            stream.group = self.transport.follow_all(
                box, positions=positions, consumer=consumer, on_corrupt=on_corrupt
            )
        elif type(agent) is str:
            stream.group = self.transport.follow(
                box, agent, positions.get(agent), on_corrupt=on_corrupt
            )
        else:
            raise MailboxError("bad request: agent must be a string or null")
        self.streams[sid] = stream
        stream.task = asyncio.create_task(self.pump(stream))

    async def pump(self, stream: _Stream) -> None:
        group = stream.group
        assert group is not None
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        batch: list[bytes] = []  # lines already read, written together (one write per batch)
        size = 0
        try:
            async for d in group:
                if stream.in_flight >= stream.window:
                    self._write(batch)
                    size = 0
                    while stream.in_flight >= stream.window:
                        stream.room.clear()
                        await stream.room.wait()
                msg = {"id": stream.sid, "agent": d.agent, "position": pos_json(d.position)}
                msg["record"] = d.record
                line = dumps(msg, option=newline)
                batch.append(line)
                size += len(line)
                stream.in_flight += len(line)
                if group.ready == 0 or size >= FLUSH_BYTES:
                    self._write(batch)
                    size = 0
                    if self.writer.transport.get_write_buffer_size() > FLUSH_BYTES:
                        await self.writer.drain()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(exc, MailboxError):
                log.exception("stream %s failed", stream.sid)
            if self.streams.pop(stream.sid, None) is not None:
                self.send({"id": stream.sid, "error": error_json(exc)})
        finally:
            group.close()


def _box(req: Mapping[str, Any]) -> Box:
    box = req.get("box")
    if box not in _BOXES:
        raise MailboxError(f"bad request: box must be inbox or outbox, not {box!r}")
    return "inbox" if box == "inbox" else "outbox"


def _str(req: Mapping[str, Any], key: str) -> str:
    value = req.get(key)
    if type(value) is not str:
        raise MailboxError(f"bad request: {key} must be a string")
    return value


def _pos(obj: object) -> Position:
    try:
        return Position.from_json(obj)
    except ValueError as exc:
        raise MailboxError(f"bad request: {exc}") from None


async def _stdio() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    # stdout may share its file description with stdin (sshd can hand the session one socket),
    # so it is written through the loop too, never with blocking writes.
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, sys.stdout.buffer
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    return reader, writer


async def serve(args: argparse.Namespace) -> int:
    reader, writer = await _stdio()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        loop.add_signal_handler(sig, main.cancel)
    try:
        transport = LocalTransport(
            Path(args.run_dir),
            mode=args.mode,
            poll_interval=args.poll_interval,
            create=args.create,
            rotate_bytes=args.rotate_bytes,
            cursor_fsync=args.cursor_fsync,
        )
    except MailboxError as exc:
        writer.write(orjson.dumps({"fatal": error_json(exc)}, option=orjson.OPT_APPEND_NEWLINE))
        await _close(writer)
        return 2
    with contextlib.suppress(asyncio.CancelledError, ConnectionError):
        await Server(transport, reader, writer).run()
    await _close(writer)
    return 0


async def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(TimeoutError, ConnectionError):
        await asyncio.wait_for(writer.drain(), 5.0)
    writer.close()


def _rotate_bytes(text: str) -> int | None:
    return None if text == "none" else int(text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m codeswarm.mailbox.serve",
        description="Serve a run directory's mailbox on stdin/stdout (the far end of ssh://).",
    )
    p.add_argument("--run-dir", required=True, help="the run directory (holds mailbox/)")
    p.add_argument("--mode", choices=("auto", "inotify", "poll"), default="auto")
    p.add_argument("--poll-interval", type=float, default=POLL_INTERVAL)
    p.add_argument("--rotate-bytes", type=_rotate_bytes, default=ROTATE_BYTES, help="or 'none'")
    p.add_argument("--no-create", dest="create", action="store_false")
    p.add_argument("--no-cursor-fsync", dest="cursor_fsync", action="store_false")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    mode: Mode = args.mode
    args.mode = mode
    logging.basicConfig(level=logging.WARNING, format="serve: %(levelname)s %(message)s")
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
