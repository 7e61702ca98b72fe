"""A versioned key-value space per scope, with compare-and-set."""

from __future__ import annotations

from codeswarm.coordination import rows
from codeswarm.coordination._base import CoordBase
from codeswarm.coordination.bounds import VERSION
from codeswarm.coordination.models import KvEntry, agent_ref
from codeswarm.core.errors import CoordInputError, NotFoundError, VersionMismatchError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from codeswarm.coordination._base import AgentLike
    from codeswarm.coordination.store import Tx


class KvOps(CoordBase):
    def kv_get(self, key: str) -> KvEntry | None:
        """The entry at ``key``, or None."""
        self._key(key)
        with self.store.read() as tx:
            return self._kv_row(tx, key)

    def kv_set(
        self,
        key: str,
        value: str,
        *,
        by: AgentLike | None = None,
        expect_version: int | None = None,
    ) -> KvEntry:
        """Write ``value`` at ``key``; returns the new entry (version + 1).

        With ``expect_version`` it is a compare-and-set: it writes only if the entry is at that
        version (0: only if there is none) and raises VersionMismatchError otherwise.
        Raises TooLargeError for a value over the limit.
        """
        self._key(key)
        if expect_version is not None:
            VERSION.check("expect_version", expect_version)
        if not isinstance(value, str):
            raise CoordInputError(f"a kv value is a string, not {type(value).__name__}")
        self._text(f"the value of {key!r}", value, self.limits.kv_value)
        with self.store.write() as tx:
            now = self.clock.now()
            actor, _ = self._begin(tx, now, by)
            current = self._kv_row(tx, key)
            found = 0 if current is None else current.version
            if expect_version is not None and expect_version != found:
                raise VersionMismatchError(
                    f"kv {key!r} is at version {found}, not {expect_version}"
                )
            who = None if actor is None else agent_ref(*actor)
            entry = KvEntry(key=key, value=value, version=found + 1, updated_at=now, updated_by=who)
            if current is None:
                tx.execute(
                    "INSERT INTO kv (scope, key, value, version, updated_at, updated_by) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (self.scope, key, value, entry.version, now, who),
                )
            else:
                tx.execute(
                    "UPDATE kv SET value = ?, version = ?, updated_at = ?, updated_by = ? "
                    "WHERE scope = ? AND key = ?",
                    (value, entry.version, now, who, self.scope, key),
                )
            self._event(
                tx, now, "kv.set", key, {"version": entry.version, "bytes": len(value.encode())},
                agent=actor,
            )  # fmt: skip
        return entry

    def kv_delete(
        self, key: str, *, by: AgentLike | None = None, expect_version: int | None = None
    ) -> None:
        """Delete ``key`` (only at ``expect_version`` when given). Raises NotFoundError when
        there is no such key, VersionMismatchError when the version differs."""
        self._key(key)
        if expect_version is not None:
            VERSION.check("expect_version", expect_version)
        with self.store.write() as tx:
            now = self.clock.now()
            actor, _ = self._begin(tx, now, by)
            current = self._kv_row(tx, key)
            if current is None:
                raise NotFoundError(f"no kv key {key!r}")
            if expect_version is not None and expect_version != current.version:
                raise VersionMismatchError(
                    f"kv {key!r} is at version {current.version}, not {expect_version}"
                )
            tx.execute("DELETE FROM kv WHERE scope = ? AND key = ?", (self.scope, key))
            self._event(tx, now, "kv.deleted", key, {"version": current.version}, agent=actor)

    def kv_list(self, prefix: str = "") -> list[KvEntry]:
        """Every entry whose key starts with ``prefix``, by key."""
        with self.store.read() as tx:
            found = tx.query(
                f"SELECT {rows.KV_COLS} FROM kv WHERE scope = ? AND substr(key, 1, ?) = ? "
                "ORDER BY key",
                (self.scope, len(prefix), prefix),
            )
        return sorted((rows.kv(r) for r in found), key=lambda e: e.key)

    def _kv_row(self, tx: Tx, key: str) -> KvEntry | None:
        row = tx.one(
            f"SELECT {rows.KV_COLS} FROM kv WHERE scope = ? AND key = ?", (self.scope, key)
        )
        return None if row is None else rows.kv(row)

    def _key(self, key: str) -> None:
        if not isinstance(key, str):
            raise CoordInputError(f"a kv key is a string, not {type(key).__name__}")
        self._line("kv key", key, self.limits.key)
