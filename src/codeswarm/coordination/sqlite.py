"""The SQLite store: the embedded default, one file under ``.codeswarm/coord.db``.

Write transactions are serialized by an exclusive ``flock`` on ``<db>.lock`` taken before
``BEGIN IMMEDIATE``: waiting writers sleep in the kernel and wake the moment the lock is free,
where SQLite's own busy handler would sleep in growing steps (1, 2, 5, ... 100 ms) and let the
tail latency grow with contention. The busy timeout still guards against writers that do not
take the file lock (the ``sqlite3`` shell, say).

Modes (``sqlite:///path?journal=...``):

- ``wal`` (default): readers never block the writer; ``synchronous=NORMAL`` (a commit survives
  a crash of the process; the last commits may be lost on power loss).
- ``delete``: the rollback journal, for network filesystems where WAL's shared memory does not
  work; ``synchronous=FULL``; no lock file, SQLite's own (fcntl) locking and busy timeout only.
"""

from __future__ import annotations

# The C module itself: the public ``sqlite3`` wrapper adds datetime adapters we do not use and
# imports datetime and collections for them, ~2 ms of every short-lived process's start.
# Connection, cursors and errors are the very same objects.
import _sqlite3 as sqlite3
import _thread
import os
import time

from codeswarm.coordination import migrations
from codeswarm.coordination.store import ChangeFeed, Store, Tx

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from codeswarm.coordination.store import Params, Row

if TYPE_CHECKING:
    from codeswarm.core import errors
else:  # (loaded on the way to an error: ._errors)
    from codeswarm.coordination._errors import errors

MEMORY = ":memory:"
HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file (an empty file is a new database)."""
BELL = ".bell"
"""``<db>.bell``: rewritten (one byte, in place) after every commit that sent a message, so that
the agents' links watch this file, not every commit of the database (docs/coordination.md).
Still rung for the links of an earlier codeswarm; links now watch :data:`BELLS`."""
BELLS = ".bells"
"""``<db>.bells/``: a directory (0700) holding the bell again, :data:`BELL_NAME`, rung with
:data:`BELL`. inotify watches directories: a link watching ``<db>.bell`` in the database's
directory was woken by every write to the write-ahead log there (every commit: N² wake-ups as N
agents start), though it looked at none of them; nothing else changes in this one."""
BELL_NAME = "bell"
JOURNAL_MODES = ("wal", "delete")
DEFAULT_BUSY_TIMEOUT = 30.0
_POLL_MIN = 0.002
_POLL_MAX = 0.025
_OPEN: dict[tuple[int, int], int] = {}
"""The database files this process has open as stores, by (device, inode), with a count. Their
header is not read again: opening and closing any descriptor of a file drops every POSIX lock the
process holds on it, SQLite's included, and another process may then take its connection for the
last one and delete the WAL this one is still writing into."""
_OPEN_LOCK = _thread.allocate_lock()


class SqliteStore(Store):
    """A coordination database in one SQLite file (or ``:memory:``, for one process)."""

    dialect = "sqlite"

    def __init__(
        self,
        path: str,
        *,
        journal: str = "wal",
        synchronous: str | None = None,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        if journal not in JOURNAL_MODES:
            raise errors.CoordInputError(
                f"unknown SQLite journal mode {journal!r} (use wal or delete)"
            )
        self.path = path
        self.journal = journal
        self.url = f"sqlite://{path}" + ("" if journal == "wal" else f"?journal={journal}")
        self.busy_timeout = busy_timeout
        self._mutex = _thread.RLock()  # a nested transaction fails in SQLite, not deadlocks
        self._commits = 0
        self._lock_fd: int | None = None
        self._bell_fd: int | None = None
        self._bells_fd: int | None = None
        self._inode: tuple[int, int] | None = None
        memory = path == MEMORY
        if not memory:
            self._inode = _prepare_file(path)
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = _connect(path, busy_timeout)
        except sqlite3.Error as exc:
            self.close()
            raise errors.StoreUnavailableError(f"cannot open {path}: {exc}") from exc
        conn = self._conn
        try:
            sync = synchronous or ("normal" if journal == "wal" else "full")
            conn.execute(f"PRAGMA synchronous={_pragma_word(sync)}")
            seen = None
            if not memory:
                seen = _refuse_foreign(conn, path)  # before the journal mode is changed
                _set_journal(conn, journal, busy_timeout)
                if journal == "wal":
                    try:  # (read-only inside an agent's sandbox: docs/security/state.md)
                        self._lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
                    except OSError as exc:
                        msg = f"cannot open {path}.lock: {exc.strerror or exc}"
                        raise errors.StoreUnavailableError(msg) from exc
            self._ensure_schema(seen)
        except sqlite3.Error as exc:  # a damaged file whose header looked right, a full disk
            self.close()
            raise errors.StoreUnavailableError(f"cannot open {path}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    # -- Store ------------------------------------------------------------------------------

    def write(self) -> Tx:
        return _SqliteTx(self, write=True)

    def read(self) -> Tx:
        return _SqliteTx(self, write=False)

    def changes(self) -> ChangeFeed:
        return _SqliteFeed(self)

    def change_mark(self) -> tuple[int, int]:
        """``(commits made through this store, PRAGMA data_version)``: differs from an earlier
        mark once anyone (this store, another connection, another process) has committed since.
        For a caller that keeps what it read (the hooks' decision service)."""
        with self._mutex:
            if self._conn is None:
                raise errors.StoreUnavailableError(f"{self.path}: the store is closed")
            try:
                version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error as exc:
                raise self._fail(exc) from exc
            return self._commits, version

    def schema_version(self) -> int:
        with self.read() as tx:
            return int(tx.query("PRAGMA user_version")[0][0])

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        for fd in (self._bell_fd, self._bells_fd):
            if fd is not None:
                os.close(fd)
        self._bell_fd = self._bells_fd = None
        inode, self._inode = self._inode, None
        if inode is not None:
            _forget(inode)

    def ring_bell(self) -> None:
        """Rewrite the bell's one byte, in :data:`BELLS` and at :data:`BELL` (a file event for
        every watcher, nothing more). A bell that cannot be rung is left: links also look now
        and then on their own."""
        if self.path == MEMORY:
            return
        try:
            if self._bell_fd is None:
                self._bell_fd = os.open(self.path + BELL, os.O_WRONLY | os.O_CREAT, 0o600)
            os.pwrite(self._bell_fd, b"\n", 0)
        except OSError:
            pass
        try:
            if self._bells_fd is None:
                bell = os.path.join(bells_dir(self.path), BELL_NAME)
                self._bells_fd = os.open(bell, os.O_WRONLY | os.O_CREAT, 0o600)
            os.pwrite(self._bells_fd, b"\n", 0)
        except OSError:
            pass

    # -- internals --------------------------------------------------------------------------

    def _ensure_schema(self, seen: int | None = None) -> None:
        """Migrate to :data:`~codeswarm.coordination.migrations.LATEST` when the database is
        older. ``seen``: the version just read (by :func:`_refuse_foreign`): a database at the
        latest version stays there (versions only grow; a newer one is refused either way), so
        the common case costs no second read."""
        version = self.schema_version() if seen is None else seen
        migrations.check(version, self.path)
        if version == migrations.LATEST:
            return
        with self.write() as tx:
            version = int(tx.query("PRAGMA user_version")[0][0])  # another process may have won
            migrations.check(version, self.path)
            if version < migrations.LATEST:
                new = migrations.upgrade(tx, version, self.dialect)
                tx.execute(f"PRAGMA user_version = {int(new)}")

    def _fail(self, exc: sqlite3.Error) -> errors.StoreUnavailableError:
        msg = str(exc)
        if "locked" in msg or "busy" in msg:
            msg += f" (for more than {self.busy_timeout:g}s)"
        return errors.StoreUnavailableError(f"{self.path}: {msg}")


class _SqliteTx(Tx):
    __slots__ = ("_conn", "_locked", "_ring", "_store", "_write")

    def __init__(self, store: SqliteStore, *, write: bool) -> None:
        self._store = store
        self._write = write
        self._locked = False
        self._ring = False

    def ring(self) -> None:
        self._ring = True

    def __enter__(self) -> Tx:
        store = self._store
        if store._conn is None:
            raise errors.StoreUnavailableError(f"{store.path}: the store is closed")
        self._conn = store._conn
        store._mutex.acquire()
        try:
            if self._write:
                if store._lock_fd is not None:
                    import fcntl

                    fcntl.flock(store._lock_fd, fcntl.LOCK_EX)
                    self._locked = True
                self._conn.execute("BEGIN IMMEDIATE")
            else:
                self._conn.execute("BEGIN")
        except BaseException as exc:
            self._release()
            if isinstance(exc, sqlite3.Error):
                raise store._fail(exc) from exc
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.Error as err:
                    self._conn.execute("ROLLBACK")
                    raise self._store._fail(err) from err
                if self._write:
                    self._store._commits += 1
                if self._ring:
                    self._store.ring_bell()
            else:
                self._conn.execute("ROLLBACK")
        finally:
            self._release()

    def _release(self) -> None:
        if self._locked and self._store._lock_fd is not None:
            import fcntl

            fcntl.flock(self._store._lock_fd, fcntl.LOCK_UN)
            self._locked = False
        self._store._mutex.release()

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._store._fail(exc) from exc

    def execute(self, sql: str, params: Params = ()) -> int:
        try:
            return self._conn.execute(sql, params).rowcount
        except sqlite3.Error as exc:
            raise self._store._fail(exc) from exc

    def batch(self, statements: Sequence[tuple[str, Params]]) -> list[list[Row]]:
        return [self.query(sql, params) for sql, params in statements]

    def defer(self, sql: str, params: Params = ()) -> None:
        self.execute(sql, params)


class _SqliteFeed(ChangeFeed):
    """``PRAGMA data_version`` on a connection of its own (it changes when any OTHER connection
    commits), polled with a short sleep; commits made through this process's store are seen
    through a counter at once (and are the only ones an in-memory database has)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._conn: sqlite3.Connection | None = None
        if store.path != MEMORY:
            try:
                self._conn = _connect(store.path, store.busy_timeout)
            except sqlite3.Error as exc:
                raise store._fail(exc) from exc

    def mark(self) -> object:
        return self._now()

    def _now(self) -> tuple[int, int]:
        version = 0
        if self._conn is not None:
            version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        return self._store._commits, version

    def wait(self, mark: object, timeout: float) -> bool:
        deadline = time.monotonic() + max(0.0, timeout)
        delay = _POLL_MIN
        while True:
            if self._now() != mark:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(delay, left))
            delay = min(delay * 1.5, _POLL_MAX)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def bells_dir(path: str) -> str:
    """The directory of the bell of the database at ``path`` (:data:`BELLS`), made if missing
    (0700). Raises OSError."""
    directory = path + BELLS
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        return directory  # (made already: the common case)
    return directory


def _connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    return sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )


def _forget(inode: tuple[int, int]) -> None:
    with _OPEN_LOCK:
        left = _OPEN.get(inode, 0) - 1
        if left > 0:
            _OPEN[inode] = left
        else:
            _OPEN.pop(inode, None)


def _prepare_file(path: str) -> tuple[int, int] | None:
    """Create the database file (0600) if it is missing; refuse, touching nothing, a path whose
    directory does not exist (codeswarm creates its own state directory, see
    :func:`~codeswarm.coordination.target.resolve_url`, never one a person named) and a file
    that is not a SQLite database. Returns the file's (device, inode), counted in :data:`_OPEN`
    (the caller :func:`_forget`s it when it closes); a file this process already has open is
    not opened again (see :data:`_OPEN`)."""
    import stat

    directory = os.path.dirname(os.path.abspath(path))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if not os.path.isdir(directory):
            why = "is not a directory" if os.path.exists(directory) else "does not exist"
            raise errors.StorePathError(
                f"cannot create {path}: the directory {directory} {why} (create it first: "
                "codeswarm creates the database file, not its directory)"
            ) from None
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                st = os.fstat(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise errors.StoreUnavailableError(
                f"cannot create {path}: {exc.strerror or exc}"
            ) from exc
        return _count(st)
    except NotADirectoryError:
        raise errors.StorePathError(
            f"cannot create {path}: {directory} is not a directory"
        ) from None
    except OSError as exc:
        raise errors.StoreUnavailableError(f"cannot open {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        what = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise errors.StorePathError(f"cannot open {path}: it is {what}, not a SQLite database file")
    with _OPEN_LOCK:
        if (st.st_dev, st.st_ino) in _OPEN:  # open here already: its header was read then
            _OPEN[st.st_dev, st.st_ino] += 1
            return (st.st_dev, st.st_ino)
    if st.st_size > 0:  # (an empty file is a new database)
        try:
            with open(path, "rb") as f:
                head = f.read(len(HEADER))
        except OSError as exc:
            raise errors.StoreUnavailableError(
                f"cannot open {path}: {exc.strerror or exc}"
            ) from exc
        if head != HEADER:
            msg = f"cannot open {path}: it is not a SQLite database (left unchanged)"
            raise errors.StorePathError(msg)
    return _count(st)


def _count(st: os.stat_result) -> tuple[int, int]:
    inode = (st.st_dev, st.st_ino)
    with _OPEN_LOCK:
        _OPEN[inode] = _OPEN.get(inode, 0) + 1
    return inode


def _set_journal(conn: sqlite3.Connection, journal: str, busy_timeout: float) -> None:
    """Put the database in ``journal`` mode. Switching needs the database to itself and SQLite
    answers "locked" at once, without its busy handler, while another connection is opening it
    too (several processes starting on a new database): retried, like the busy handler would,
    until ``busy_timeout``."""
    deadline = time.monotonic() + busy_timeout
    delay = _POLL_MIN
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != journal:
                conn.execute(f"PRAGMA journal_mode={journal}")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, _POLL_MAX)


_SCHEMA_SEEN = (
    "SELECT (SELECT user_version FROM pragma_user_version()), "
    "(SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'), "
    "(SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'counters')"
)


def _refuse_foreign(conn: sqlite3.Connection, path: str) -> int:
    """Refuse, before anything is written, a database that holds another program's tables (at
    schema version 0) or lacks ours (at a version): codeswarm would change a file not its own.
    Our migrations set the version in the transaction that creates the tables, and this reads
    both in one statement (one snapshot), so a database another process is creating reads as
    empty or as whole. Returns the schema version read."""
    row = conn.execute(_SCHEMA_SEEN).fetchone()
    version, tables, ours = int(row[0]), int(row[1]), int(row[2])
    if (version == 0 and tables) or (version > 0 and not ours):
        raise errors.StorePathError(
            f"cannot use {path}: it is a SQLite database of another program (left unchanged)"
        )
    return version


def _pragma_word(word: str) -> str:
    if word.lower() not in ("off", "normal", "full", "extra"):
        raise errors.CoordInputError(f"unknown SQLite synchronous setting {word!r}")
    return word.upper()
