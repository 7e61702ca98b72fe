"""Which database and which scope: from arguments, ``CODESWARM_*`` variables and config.

- Database: ``url`` argument, else ``$CODESWARM_DB``, else ``[coord] db`` in the config, else
  ``<state dir>/coord.db`` (:mod:`codeswarm.core.paths`: outside the project). Forms:
  ``postgresql://…`` (or ``postgres://…``), ``sqlite:///abs/path`` (with ``?journal=delete`` for
  network filesystems), or a plain file path. Only the default's directory is created: a SQLite
  path given any other way must be in an existing directory (else :class:`StorePathError`, and
  nothing is created).
- Scope root: ``root`` argument, else ``$CODESWARM_SCOPE`` (either must be an existing
  directory), else the project root of the working directory (see :mod:`codeswarm.core.paths`).

The environment is read first and the config files only when needed: parsing config costs more
than a whole store operation, and hooks set ``CODESWARM_DB`` and ``CODESWARM_SCOPE``.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from codeswarm.coordination.store import Store

if TYPE_CHECKING:
    from codeswarm.core import errors
else:  # (loaded on the way to an error: ._errors)
    from codeswarm.coordination._errors import errors

DB_FILE = "coord.db"
PG_SCHEMES = ("postgresql://", "postgres://")


def resolve_url(
    url: str | None = None,
    env: Mapping[str, str] | None = None,
    start: Path | str | None = None,
) -> str:
    """The database URL to use (see the module docstring) for the project holding ``start``
    (default: the working directory). The default's state directory is created if missing."""
    if url:
        return url
    env = os.environ if env is None else env
    if env.get("CODESWARM_DB"):
        return env["CODESWARM_DB"]
    configured = _configured_db(start)
    if configured:
        return configured
    from codeswarm.core.paths import ensure_state_dir_str

    return os.path.join(ensure_state_dir_str(None if start is None else str(start)), DB_FILE)


def resolve_root(root: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The scope root directory to use (see the module docstring)."""
    if root:
        return _directory("the scope root", root)
    env = os.environ if env is None else env
    if env.get("CODESWARM_SCOPE"):
        return _directory("CODESWARM_SCOPE", env["CODESWARM_SCOPE"])
    from codeswarm.core.paths import project_root_str

    return project_root_str()


def _directory(what: str, path: str) -> str:
    """``path`` made absolute; raises CoordInputError unless it is an existing directory."""
    full = os.path.abspath(path)
    if not os.path.isdir(full):
        why = "is not a directory" if os.path.exists(full) else "does not exist"
        raise errors.CoordInputError(f"{what} {full} {why}")
    return full


def open_store(url: str) -> Store:
    """Open (creating and migrating as needed) the store at ``url``.

    Raises StoreUnavailableError when it cannot be reached, SchemaError when its schema is
    newer than this code, CoordInputError for a malformed URL.
    """
    if url.startswith(PG_SCHEMES):
        from codeswarm.coordination.postgres import PostgresStore

        return PostgresStore(url)
    from codeswarm.coordination.sqlite import SqliteStore

    path, params = _sqlite_target(url)
    return SqliteStore(
        path, journal=params.get("journal", "wal"), synchronous=params.get("synchronous")
    )


def sqlite_path(url: str) -> str | None:
    """The file of the SQLite store ``url`` names (``sqlite:///path?…`` or a plain path), or
    None for PostgreSQL. Raises CoordInputError for a malformed URL, as :func:`open_store`."""
    if url.startswith(PG_SCHEMES):
        return None
    return _sqlite_target(url)[0]


def _sqlite_target(url: str) -> tuple[str, dict[str, str]]:
    """(path, parameters) of a SQLite URL or plain path."""
    path, params = url, {}
    if url.startswith("sqlite:"):
        rest = url[len("sqlite:") :]
        rest = rest[2:] if rest.startswith("//") else rest
        path, _, query = rest.partition("?")
        for item in query.split("&") if query else ():
            key, _, value = item.partition("=")
            if key not in ("journal", "synchronous"):
                raise errors.CoordInputError(
                    f"{url}: unknown parameter {key!r} (journal, synchronous)"
                )
            params[key] = value
    elif "://" in url:
        raise errors.CoordInputError(
            f"unsupported database URL {url!r} (postgresql:// or sqlite://)"
        )
    if not path:
        raise errors.CoordInputError(f"{url}: no database path")
    return path, params


def _configured_db(start: Path | str | None = None) -> str | None:
    """``[coord] db`` from the config files; they are parsed only when one mentions coord."""
    from codeswarm.core.paths import project_root_str, user_config_path_str

    mentioned = False
    root = project_root_str(None if start is None else str(start))
    for path in (user_config_path_str(), os.path.join(root, "codeswarm.toml")):
        try:
            with open(path, "rb") as f:
                mentioned = mentioned or b"coord" in f.read()
        except OSError:
            continue
    if not mentioned:
        return None
    from pathlib import Path  # (only when a config file mentions coord)

    from codeswarm.core.layers import raw_setting

    db = raw_setting("coord", "db", None if start is None else Path(start))
    if db is not None and not isinstance(db, str):
        raise errors.CoordInputError(f"[coord] db must be a string, not {db!r}")
    return db or None
