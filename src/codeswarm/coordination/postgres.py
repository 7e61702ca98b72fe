"""The PostgreSQL store (psycopg 3), for agents spread over several machines.

Tables live in a schema of their own (``codeswarm`` unless the URL says ``?schema=NAME``), so
the database can be shared with other applications. Write transactions take a transaction-scoped
advisory lock first: one writer at a time per schema, like SQLite, which keeps the service's
rules simple and gives audit rows sequence numbers in commit order. Waiters are woken by
``LISTEN``/``NOTIFY`` (sent with the commit of every write that changed something). Deferred
writes travel with the next statement, so a write costs two round trips: lock and reads, then
writes and commit.

psycopg is imported only here, so only PostgreSQL users pay for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading

import psycopg

from codeswarm.coordination import migrations
from codeswarm.coordination.pgpipe import Pipe
from codeswarm.coordination.store import ChangeFeed, Store, Tx
from codeswarm.core.errors import CoordInputError, StoreUnavailableError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from codeswarm.coordination.store import Params, Row

DEFAULT_SCHEMA = "codeswarm"
CONNECT_TIMEOUT = 10
_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


class PostgresStore(Store):
    """A coordination database in a PostgreSQL schema."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self._conninfo, self.schema = split_schema(url)
        self.url = redact(url)
        digest = hashlib.blake2b(f"codeswarm.coord:{self.schema}".encode(), digest_size=8)
        self.lock_key = int.from_bytes(digest.digest(), "big", signed=True)
        self.channel = f"codeswarm_coord_{self.schema}"
        self._mutex = threading.RLock()
        self._sql: dict[str, str] = {}
        self._conn: psycopg.Connection[Row] | None = self._connect()
        self._pipe = Pipe(self._conn, self.url)
        try:
            self._ensure_schema()
        except BaseException:
            self.close()
            raise

    def write(self) -> Tx:
        return _PgTx(self, write=True)

    def read(self) -> Tx:
        return _PgTx(self, write=False)

    def changes(self) -> ChangeFeed:
        return _PgFeed(self)

    def schema_version(self) -> int:
        with self.read() as tx:
            row = tx.one("SELECT value FROM coord_meta WHERE key = 'schema_version'")
        return 0 if row is None else int(row[0])

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # -- internals --------------------------------------------------------------------------

    def _connect(self, *, search_path: bool = True) -> psycopg.Connection[Row]:
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as exc:
            raise StoreUnavailableError(
                f"cannot connect to {self.url}: {_first_line(exc)}"
            ) from exc
        if search_path:
            conn.execute(f'SET search_path TO "{self.schema}"')
        return conn

    def _ensure_schema(self) -> None:
        assert self._conn is not None
        try:
            row = self._conn.execute(
                "SELECT value FROM coord_meta WHERE key = 'schema_version'"
            ).fetchone()
            version = 0 if row is None else int(row[0])
        except psycopg.errors.UndefinedTable:
            version = 0
        except psycopg.Error as exc:
            raise self._fail(exc) from exc
        migrations.check(version, self.url)
        if version == migrations.LATEST:
            return
        with self.write() as tx:
            tx.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            tx.execute("CREATE TABLE IF NOT EXISTS coord_meta (key TEXT PRIMARY KEY, value TEXT)")
            row = tx.one("SELECT value FROM coord_meta WHERE key = 'schema_version'")
            version = 0 if row is None else int(row[0])
            migrations.check(version, self.url)
            if version < migrations.LATEST:
                new = migrations.upgrade(tx, version, self.dialect)
                tx.execute(
                    "INSERT INTO coord_meta (key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(new),),
                )

    def _translate(self, sql: str) -> str:
        """``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (no ``?`` appears otherwise)."""
        out = self._sql.get(sql)
        if out is None:
            first, *rest = sql.split("?")
            out = first + "".join(f"${i}{part}" for i, part in enumerate(rest, 1))
            self._sql[sql] = out
        return out

    def _fail(self, exc: psycopg.Error) -> StoreUnavailableError:
        return StoreUnavailableError(f"{self.url}: {_first_line(exc)}")


class _PgTx(Tx):
    """A transaction whose statements go out in as few round trips as possible: ``BEGIN`` (and
    the advisory lock) and every deferred write travel with the next statement that needs an
    answer, in one pipeline; the commit carries what is left."""

    def __init__(self, store: PostgresStore, *, write: bool) -> None:
        self._store = store
        self._write = write
        self._dirty = False
        self._begun = False
        if write:
            self._pending: list[tuple[str, Params]] = [
                ("BEGIN", ()),
                (f"SELECT pg_advisory_xact_lock({store.lock_key})", ()),
            ]
        else:  # autocommit: each statement sees every commit made before it
            self._pending = []

    def __enter__(self) -> Tx:
        store = self._store
        store._mutex.acquire()
        try:
            if store._conn is None:
                raise StoreUnavailableError(f"{store.url}: the store is closed")
            if store._conn.closed or store._conn.broken:  # reconnect once, for a fresh tx
                store._conn = store._connect()
                store._pipe = Pipe(store._conn, store.url)
        except BaseException:
            store._mutex.release()
            raise
        self._conn = store._conn
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._write:
                pass
            elif exc_type is not None:
                self._rollback()
            elif self._begun or self._dirty:
                tail: list[tuple[str, Params]] = []
                if self._dirty:
                    tail.append((f"NOTIFY {self._store.channel}", ()))
                tail.append(("COMMIT", ()))
                try:
                    self._send(tail)
                except BaseException:
                    self._rollback()
                    raise
        finally:
            self._store._mutex.release()

    def _rollback(self) -> None:
        if self._begun and not (self._conn.closed or self._conn.broken):
            with contextlib.suppress(psycopg.Error):  # a lost connection took the transaction
                self._conn.execute("ROLLBACK")

    def _send(self, statements: Sequence[tuple[str, Params]]) -> list[tuple[list[Row], int]]:
        """Send the pending statements and ``statements`` in one pipeline (one round trip);
        returns the rows and row count of each of ``statements``."""
        translate = self._store._translate
        pending, self._pending = self._pending, []
        self._begun = True
        todo = [(translate(sql), params) for sql, params in (*pending, *statements)]
        return self._store._pipe.run(todo)[len(pending) :]

    def batch(self, statements: Sequence[tuple[str, Params]]) -> list[list[Row]]:
        if self._write and not all(sql.startswith("SELECT") for sql, _ in statements):
            self._dirty = True
        return [rows for rows, _ in self._send(statements)]

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        return self.batch([(sql, params)])[0]

    def execute(self, sql: str, params: Params = ()) -> int:
        self._dirty = True
        return self._send([(sql, params)])[0][1]

    def defer(self, sql: str, params: Params = ()) -> None:
        self._dirty = True
        self._pending.append((sql, params))


class _PgFeed(ChangeFeed):
    """``LISTEN`` on a connection of its own; a notification counter is the mark."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._conn: psycopg.Connection[Row] | None = store._connect(search_path=False)
        self._seen = 0
        try:
            self._conn.execute(f"LISTEN {store.channel}")
        except psycopg.Error as exc:
            self.close()
            raise store._fail(exc) from exc

    def mark(self) -> object:
        self._drain(0)
        return self._seen

    def wait(self, mark: object, timeout: float) -> bool:
        if self._seen != mark:
            return True
        self._drain(max(0.0, timeout))
        return self._seen != mark

    def _drain(self, timeout: float) -> None:
        assert self._conn is not None
        try:
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                self._seen += 1
            if timeout:
                for _ in self._conn.notifies(timeout=0):
                    self._seen += 1
        except psycopg.Error as exc:
            raise self._store._fail(exc) from exc

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def split_schema(url: str) -> tuple[str, str]:
    """Remove our own ``schema=NAME`` parameter from a ``postgresql://`` URL (libpq would
    reject it); returns ``(url_for_libpq, schema)``."""
    base, sep, query = url.partition("?")
    schema = DEFAULT_SCHEMA
    kept = []
    for item in query.split("&") if sep else ():
        key, _, value = item.partition("=")
        if key == "schema":
            schema = value
        elif item:
            kept.append(item)
    if not schema or not set(schema) <= _IDENT_CHARS or schema[0].isdigit():
        raise CoordInputError(f"invalid schema name {schema!r}: use a-z, 0-9 and _")
    return (base + "?" + "&".join(kept)) if kept else base, schema


def redact(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
