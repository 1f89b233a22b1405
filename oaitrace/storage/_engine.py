"""Database URLs and engines: the one place that knows SQLite from PostgreSQL.

Every foreign error about a URL or a connection is translated here into the
exceptions of `oaitrace.exceptions`, so callers see one clear message that
says what to do.
"""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

from oaitrace.exceptions import ConfigurationError, DatabaseError, MissingDependencyError

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - a dependency; only a stripped install lacks it
    _orjson = None  # type: ignore[assignment]

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "SQLITE_BEGIN_OPTION",
    "SQLITE_BUSY_TIMEOUT_MS",
    "SQLITE_CACHE_KIB",
    "create_engine",
    "encode_json",
    "resolve_database_url",
    "sqlite_path",
]

DATABASE_URL_ENV = "OAITRACE_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///oaitrace.db"
# Long enough that a writer waits out a concurrent migration or a report
# holding the write lock, short enough that a wedged process is noticed.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# How often a new file's switch to WAL is asked again while another holds it.
_WAL_RETRY_S = 0.01
_SQLITE_BUSY = 5  # SQLite's primary result code, as sqlite3.SQLITE_BUSY names it

# Connection execution option naming the statement that opens a transaction on
# SQLite; `BEGIN IMMEDIATE` takes the write lock up front (used by migrations).
SQLITE_BEGIN_OPTION = "oaitrace_sqlite_begin"

# The fallback of `encode_json`: the encoder's own method skips json.dumps'
# per-call argument handling; non-ASCII text is kept as is (smaller than \u
# escapes); records never contain cycles.
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"))


def encode_json(value: Any) -> str:
    """The JSON text of a column value; called for every JSON column of every stored row.

    orjson writes the same JSON as the standard library, compact and with
    non-ASCII text kept, about ten times faster (seven JSON columns a record
    cost the writer 15-20 µs with `json`). What orjson refuses (an integer
    past 64 bits, a lone surrogate, a non-string key) goes to `json`, which
    takes it; orjson also writes NaN and infinity as null, which PostgreSQL
    accepts and `json` would have spelled invalidly.
    """
    if _orjson is not None:
        try:
            return _orjson.dumps(value).decode()
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    return _JSON_ENCODER.encode(value)


# More page cache than SQLite's 2 MiB default: request_id and response_id
# arrive in random order, so their index inserts touch pages all over the index.
SQLITE_CACHE_KIB = 16_384

_URL_HELP = (
    "use a path such as oaitrace.db, a URL such as sqlite:///path/to/oaitrace.db "
    "or postgresql://user:password@host/dbname"
)


def resolve_database_url(url: str | None) -> str:
    """The database URL to use, from an argument, the environment or the default.

    `None` falls back to `$OAITRACE_DATABASE_URL`, then to `sqlite:///oaitrace.db`.
    A plain filesystem path (`traces.db`, `/var/lib/app/traces.db`) means a
    SQLite file. `postgresql://` URLs are pointed at the psycopg 3 driver.

    Example:
        >>> resolve_database_url("/tmp/traces.db")
        'sqlite:////tmp/traces.db'
    """
    if url is None:
        url = os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL
    url = url.strip()
    if not url:
        msg = f"the database URL is empty; {_URL_HELP}"
        raise ConfigurationError(msg)
    if "://" not in url:
        # A path, as given to the CLI's -d/--database.
        url = "sqlite:///" + os.path.expanduser(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        msg = f"cannot parse database URL {url!r}; {_URL_HELP}"
        raise ConfigurationError(msg) from exc
    return _normalise_url(parsed).render_as_string(hide_password=False)


def _normalise_url(url: URL) -> URL:
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.get_driver_name() not in ("pysqlite", ""):
            msg = f"unsupported SQLite driver {url.drivername!r}; use sqlite:///path"
            raise ConfigurationError(msg)
        if url.host or url.username or url.password or url.port:
            msg = (
                f"a SQLite URL has no host or user: {url.render_as_string()!r}; "
                "use sqlite:///relative/path.db or sqlite:////absolute/path.db"
            )
            raise ConfigurationError(msg)
        return url
    if backend in ("postgresql", "postgres"):
        if url.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
            msg = (
                f"unsupported PostgreSQL driver {url.drivername!r}; oaitrace uses "
                "psycopg 3: write postgresql://user:password@host/dbname"
            )
            raise ConfigurationError(msg)
        try:
            importlib.import_module("psycopg")
        except ImportError as exc:
            msg = "PostgreSQL needs psycopg 3: pip install 'oaitrace[postgres]'"
            raise MissingDependencyError(msg) from exc
        return url.set(drivername="postgresql+psycopg")
    msg = f"unsupported database {url.drivername!r}; oaitrace stores to SQLite or PostgreSQL: "
    msg += _URL_HELP
    raise ConfigurationError(msg)


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL; None for PostgreSQL and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def create_engine(url: str, *, create: bool = True, reports: bool = False) -> Engine:
    """An engine for a resolved URL, with the SQLite settings oaitrace relies on.

    With `create=False` a missing SQLite file is an error instead of being
    created, so reading never leaves an empty database behind. `reports`:
    the engine runs the reports' aggregate queries (see `_no_postgres_jit`).
    """
    path = sqlite_path(url)
    if path is not None:
        _prepare_sqlite_file(path, create=create)
    try:
        engine = sqlalchemy.create_engine(url, json_serializer=encode_json)
    except ArgumentError as exc:
        msg = f"cannot use database URL {url!r}: {exc}; {_URL_HELP}"
        raise ConfigurationError(msg) from exc
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    elif reports:
        event.listen(engine, "connect", _no_postgres_jit)
    return engine


_FIRST_POSTGRES_WITH_JIT = 110_000


def _no_postgres_jit(dbapi_connection: Any, _connection_record: Any) -> None:
    """Turn PostgreSQL's JIT compilation off for the session.

    A report over a million attempts costs enough for PostgreSQL to compile
    its expressions first, which takes longer than it saves for these plain
    sums and comparisons: measured over 1,000,000 records, usage by tag
    1.09 -> 0.87 s, by model 0.45 -> 0.32 s, rate limits by hour and model
    1.49 -> 1.33 s. A SET, not a startup option: connection poolers such as
    PgBouncer refuse unknown startup parameters.
    """
    if dbapi_connection.info.server_version < _FIRST_POSTGRES_WITH_JIT:
        return
    # SQLAlchemy's recipe for session settings: outside a transaction, which
    # the pool's rollback on return would otherwise undo.
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET jit = off")
    finally:
        dbapi_connection.autocommit = autocommit


def _prepare_sqlite_file(path: Path, *, create: bool) -> None:
    if path.exists():
        return
    if not create:
        msg = f"no database at {path}; run your app with oaitrace or `oaitrace demo` first"
        raise DatabaseError(msg)
    if not path.parent.is_dir():
        msg = (
            f"cannot create database {path}: directory {path.parent} does not exist; "
            "create it first"
        )
        raise DatabaseError(msg)
    # Prompts and answers are private: the file is made owner-only before
    # SQLite opens it (SQLite gives the -wal and -shm files the same mode).
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    except OSError as exc:
        msg = f"cannot create database {path}: {exc.strerror}"
        raise DatabaseError(msg) from exc
    os.close(descriptor)


def _configure_sqlite(engine: Engine) -> None:
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)


def _on_sqlite_connect(dbapi_connection: Any, _connection_record: Any) -> None:
    # sqlite3's legacy transaction control neither begins a transaction before
    # DDL nor lets us choose BEGIN IMMEDIATE; SQLAlchemy emits BEGIN instead
    # (see `_on_sqlite_begin`), which also makes migrations atomic.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # The busy timeout first: switching a new file to WAL needs an
        # exclusive lock, and another process may be opening it right now.
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # WAL lets reports read while the writer writes; NORMAL is durable
        # across application crashes in WAL mode and much faster than FULL.
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    finally:
        cursor.close()


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """`PRAGMA journal_mode=WAL`, waiting while another connection holds the file.

    On a file still in rollback-journal mode (a new database that several
    processes open at once), SQLite answers SQLITE_BUSY at once, without
    calling the busy handler, while another connection holds a write lock:
    waiting there could deadlock. It is asked again until the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(_WAL_RETRY_S)
        else:
            return


def _is_busy(error: sqlite3.OperationalError) -> bool:
    # `sqlite_errorcode` and `sqlite3.SQLITE_BUSY` exist from Python 3.11 on.
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return "database is locked" in str(error)
    return bool(code == _SQLITE_BUSY)


def _on_sqlite_begin(connection: Connection) -> None:
    begin = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "BEGIN")
    connection.exec_driver_sql(begin)
