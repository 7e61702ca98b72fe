"""Batches of statements over libpq's pipeline mode, beneath psycopg's cursors.

Every coordination write is two round trips (lock and reads; writes and commit) of a handful of
small statements. psycopg's cursor layer costs ~50 µs of Python per statement, which under the
write lock is most of the time a transaction holds it; driving libpq's pipeline directly (through
``psycopg.pq``, the same connection) costs a few µs. Statements are prepared once per connection
and parameters are sent as text with their types left to the server (every ``?`` here meets a
column or a typed operand). Results come back as tuples of int, float, str or None.
"""

from __future__ import annotations

import select

import psycopg
from psycopg import pq

from codeswarm.core.errors import StoreUnavailableError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from codeswarm.coordination.store import Params, Row

_INTS = frozenset({20, 21, 23, 26})  # int8, int2, int4, oid
_FLOATS = frozenset({700, 701, 1700})  # float4, float8, numeric
_BOOL = 16
_VOID = 2278
_PREPARABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")

_OK = pq.ExecStatus.COMMAND_OK
_TUPLES = pq.ExecStatus.TUPLES_OK
_SYNC = pq.ExecStatus.PIPELINE_SYNC


class Pipe:
    """Runs statement batches on one connection; one instance per connection."""

    def __init__(self, conn: psycopg.Connection[Row], where: str) -> None:
        self._pg = conn.pgconn
        self._where = where
        self._names: dict[str, bytes] = {}

    def run(self, statements: Sequence[tuple[str, Params]]) -> list[tuple[list[Row], int]]:
        """Send ``statements`` (``$1`` placeholders) in one pipeline; the rows and row count of
        each. Raises StoreUnavailableError with the server's message for the first failure
        (the server skips the rest of the batch)."""
        pg = self._pg
        pg.enter_pipeline_mode()
        fresh: list[str] = []
        prepares: list[bool] = []  # per command sent: is it a prepare (no rows to return)?
        try:
            for sql, params in statements:
                values = [_text(p) for p in params]
                name = self._names.get(sql)
                if name is None and sql.startswith(_PREPARABLE):
                    name = b"cs%d" % len(self._names)
                    pg.send_prepare(name, sql.encode(), None)
                    self._names[sql] = name
                    fresh.append(sql)
                    prepares.append(True)
                if name is not None:
                    pg.send_query_prepared(name, values)
                else:
                    pg.send_query_params(sql.encode(), values or None)
                prepares.append(False)
            pg.pipeline_sync()
            while pg.flush():
                self._wait(select.POLLOUT)
            results, error = self._collect(prepares)
        except BaseException as exc:
            for sql in fresh:  # a prepare that may not have happened must be redone
                self._names.pop(sql, None)
            if pg.pipeline_status != pq.PipelineStatus.OFF:
                pg.finish()  # interrupted mid-reply: unusable now; the next transaction reconnects
            if isinstance(exc, psycopg.Error):
                text = str(exc).strip().splitlines()
                raise StoreUnavailableError(f"{self._where}: {text[0] if text else exc}") from exc
            raise
        pg.exit_pipeline_mode()
        if error is not None:
            for sql in fresh:
                self._names.pop(sql, None)
            raise StoreUnavailableError(f"{self._where}: {error}")
        return results

    def _wait(self, event: int) -> None:
        """Block until the socket is ready, without holding the GIL (libpq's own blocking calls
        would hold it, and a thread waiting for the write lock would stall the thread that
        holds it)."""
        poller = select.poll()
        poller.register(self._pg.socket, event)
        poller.poll()

    def _result(self) -> pq.abc.PGresult | None:
        pg = self._pg
        while pg.is_busy():
            self._wait(select.POLLIN)
            pg.consume_input()
        return pg.get_result()

    def _collect(self, prepares: list[bool]) -> tuple[list[tuple[list[Row], int]], str | None]:
        results: list[tuple[list[Row], int]] = []
        error: str | None = None
        for is_prepare in prepares:
            res = self._result()
            if res is None:
                raise StoreUnavailableError(f"{self._where}: the server ended a reply early")
            status = res.status
            if status not in (_OK, _TUPLES) and error is None:
                message = res.error_message.decode("utf-8", "replace").strip()
                error = message.splitlines()[0] if message else f"pipeline result status {status}"
            if not is_prepare:
                if status == _TUPLES:
                    results.append((_rows(res), res.ntuples))
                else:
                    results.append(([], int(res.command_tuples or 0)))
            while self._result() is not None:  # the end of this command's results
                pass
        sync = self._result()
        if sync is None or sync.status != _SYNC:
            raise StoreUnavailableError(f"{self._where}: lost track of a pipeline")
        return results, error


def _text(value: object) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, float):
        return float.__repr__(value).encode()
    raise TypeError(f"cannot send a {type(value).__name__} parameter")


def _rows(res: pq.abc.PGresult) -> list[Row]:
    types = [res.ftype(j) for j in range(res.nfields)]
    return [
        tuple(_value(res.get_value(i, j), t) for j, t in enumerate(types))
        for i in range(res.ntuples)
    ]


def _value(raw: bytes | None, oid: int) -> object:
    if raw is None or oid == _VOID:
        return None
    if oid in _INTS:
        return int(raw)
    if oid in _FLOATS:
        return float(raw)
    if oid == _BOOL:
        return raw == b"t"
    return raw.decode()
