"""The store interface: transactions over one SQL database, and a feed of its changes.

The service (:class:`~codeswarm.coordination.Coord`) holds every rule; a store only runs SQL. SQL is
written once, with ``?`` placeholders, in the subset SQLite and PostgreSQL share. Implementations:
:class:`~codeswarm.coordination.sqlite.SqliteStore` and :class:`~codeswarm.coordination.postgres.PostgresStore`;
both pass the same conformance suite.

Guarantees every store gives:

- ``write()`` transactions are serialized across every process using the database (SQLite: a file
  lock + ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so reads made inside
  one see every earlier commit and nothing can change under them. Their audit rows therefore get
  sequence numbers in commit order.
- ``read()`` transactions see every commit made before they started and never block writers
  (SQLite: one snapshot for the transaction; PostgreSQL: each statement sees the latest commits).
- ``changes()`` returns a feed that wakes a waiter soon after any commit by any process.
"""

from __future__ import annotations

import abc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType
    from typing import Any

    Row = tuple[Any, ...]
    Params = Sequence[object]


class Tx(abc.ABC):
    """One transaction; use as a context manager: commit on success, roll back on an exception."""

    @abc.abstractmethod
    def query(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a statement and return its rows."""

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a statement, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    @abc.abstractmethod
    def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; returns how many rows it changed."""

    @abc.abstractmethod
    def batch(self, statements: Sequence[tuple[str, Params]]) -> list[list[Row]]:
        """Run several statements in order and return the rows of each (PostgreSQL sends them
        in one round trip)."""

    def ring(self) -> None:
        """Tell the agents' links, once this transaction commits, that a message was sent (a
        SQLite file store rings its bell file, :data:`~codeswarm.coordination.sqlite.BELL`;
        PostgreSQL's waiters hear the audit log's NOTIFY instead)."""
        return None

    @abc.abstractmethod
    def defer(self, sql: str, params: Params = ()) -> None:
        """Run a write whose result nobody needs. It runs in order, before the next statement
        of the transaction or its commit (PostgreSQL sends it along with that one instead of
        waiting a round trip for it)."""

    @abc.abstractmethod
    def __enter__(self) -> Tx: ...

    @abc.abstractmethod
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class ChangeFeed(abc.ABC):
    """Wakes a waiter when the database changes. Take a :meth:`mark`, look at the data, then
    :meth:`wait` with the mark: a change committed after the mark is never missed."""

    @abc.abstractmethod
    def mark(self) -> object:
        """A token for "now"."""

    @abc.abstractmethod
    def wait(self, mark: object, timeout: float) -> bool:
        """Block until something was committed after ``mark`` (True) or ``timeout`` seconds
        pass (False). May return True spuriously; callers look again."""

    @abc.abstractmethod
    def close(self) -> None: ...


class Store(abc.ABC):
    """A coordination database."""

    dialect: str
    """``sqlite`` or ``postgresql``."""
    url: str
    """Where it is, safe to show (no password)."""

    @abc.abstractmethod
    def write(self) -> Tx:
        """A serialized read-write transaction (see the module docstring)."""

    @abc.abstractmethod
    def read(self) -> Tx:
        """A read-only transaction (see the module docstring)."""

    @abc.abstractmethod
    def changes(self) -> ChangeFeed:
        """A new change feed (the caller closes it)."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The schema version the database is at (0: empty)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection; safe to call twice."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
