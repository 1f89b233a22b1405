"""Alembic, run programmatically: find the scripts, migrate under a lock, report the revision.

Two processes starting at once on a fresh database must not both create the
tables. The migration runs inside one transaction that first takes the
database's write lock (`BEGIN IMMEDIATE` on SQLite, an advisory lock on
PostgreSQL), then re-reads the revision, so the second process waits and then
finds nothing to do. DDL is transactional on both, so a failed migration
leaves nothing half-done.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from oaitrace.exceptions import DatabaseError
from oaitrace.storage._engine import (
    SQLITE_BEGIN_OPTION,
    create_engine,
    resolve_database_url,
    sqlite_path,
)

__all__ = [
    "alembic_config",
    "current_revision",
    "database_revision",
    "ensure_schema",
    "head_revision",
    "migrate",
    "migrations_directory",
    "upgrade",
]

_PACKAGE_DIRECTORY = Path(__file__).resolve().parent.parent
# The wheel ships `migrations/` inside the package; a source checkout has it
# at the top of the repository.
_MIGRATION_DIRECTORIES = (
    _PACKAGE_DIRECTORY / "_migrations",
    _PACKAGE_DIRECTORY.parent / "migrations",
)
# Any constant works; it only has to be the same in every oaitrace process.
_POSTGRES_MIGRATION_LOCK = 0x0A17_2ACE


def migrations_directory() -> Path:
    """Where the Alembic environment is: inside the installed package or the checkout."""
    for directory in _MIGRATION_DIRECTORIES:
        if (directory / "env.py").is_file():
            return directory
    searched = ", ".join(str(directory) for directory in _MIGRATION_DIRECTORIES)
    msg = f"oaitrace's database migrations are missing (looked in {searched}); reinstall oaitrace"
    raise DatabaseError(msg)


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic `Config` for our scripts, bound to a connection or a URL."""
    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    if url is not None:
        # ConfigParser interpolation would read a '%' in a password as syntax.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision this version of oaitrace knows."""
    head = _script_directory().get_current_head()
    if head is None:
        msg = "oaitrace's database migrations are empty; reinstall oaitrace"
        raise DatabaseError(msg)
    return head


def database_revision(connection: Connection) -> str | None:
    """The revision a database is at; None when it has never been migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade to `revision` in one transaction holding the database's write lock."""
    url = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                connection.execution_options(**{SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"})
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"),
                        {"key": _POSTGRES_MIGRATION_LOCK},
                    )
                _check_known(database_revision(connection), url)
                command.upgrade(alembic_config(connection=connection), revision)
    except (SQLAlchemyError, CommandError, RevisionError) as exc:
        msg = f"cannot migrate database {url}: {exc}"
        raise DatabaseError(msg) from exc


def _check_known(revision: str | None, url: str) -> None:
    if revision is None:
        return
    try:
        known = _script_directory().get_revision(revision) is not None
    except (CommandError, RevisionError):
        known = False
    if not known:
        msg = (
            f"database {url} is at revision {revision}, which this version of oaitrace "
            "does not know; it was written by a newer oaitrace: upgrade oaitrace"
        )
        raise DatabaseError(msg)


def ensure_schema(engine: Engine) -> None:
    """Bring a database to head; cheap when it already is (one SELECT)."""
    try:
        with engine.connect() as connection:
            current = database_revision(connection)
    except SQLAlchemyError as exc:
        url = engine.url.render_as_string(hide_password=True)
        msg = f"cannot open database {url}: {exc}"
        raise DatabaseError(msg) from exc
    if current == head_revision():
        return
    migrate(engine)


def upgrade(database_url: str | None, revision: str = "head") -> None:
    """Migrate a database to `revision` (default: the newest), creating it if needed.

    Running it again is a no-op. This is `oaitrace db upgrade`.

    Example:
        >>> upgrade("/tmp/traces.db")  # doctest: +SKIP
    """
    engine = create_engine(resolve_database_url(database_url))
    try:
        migrate(engine, revision)
    finally:
        engine.dispose()


def current_revision(database_url: str | None) -> str | None:
    """The revision a database is at; None when it has no oaitrace schema or does not exist.

    Never creates a database.
    """
    url = resolve_database_url(database_url)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None
    engine = create_engine(url, create=False)
    try:
        with engine.connect() as connection:
            return database_revision(connection)
    except SQLAlchemyError as exc:
        msg = f"cannot read database {engine.url.render_as_string(hide_password=True)}: {exc}"
        raise DatabaseError(msg) from exc
    finally:
        engine.dispose()
