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
import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from oaitrace.exceptions import DatabaseError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

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


# Alembic is imported only to migrate. It holds some 40,000 objects that every
# full garbage collection of the application's process would walk through,
# and a database that is current (every start but the first) needs none of it.
_VERSION_TABLE: Final = "alembic_version"
_SELECT_REVISION: Final = text("SELECT version_num FROM alembic_version")
_REVISION_LINE: Final = re.compile(r'^revision: str = "([^"]+)"$', re.MULTILINE)
_DOWN_REVISION_LINE: Final = re.compile(r'^down_revision: [^=]+= "([^"]+)"$', re.MULTILINE)


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic `Config` for our scripts, bound to a connection or a URL."""
    from alembic.config import Config  # noqa: PLC0415 - see _VERSION_TABLE

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
    from alembic.script import ScriptDirectory  # noqa: PLC0415 - see _VERSION_TABLE

    return ScriptDirectory.from_config(alembic_config())


@functools.cache
def head_revision() -> str:
    """The newest revision this version of oaitrace knows.

    Read from the scripts' own `revision` / `down_revision` lines (the
    history is linear): the one revision no other script builds on. A test
    checks that Alembic finds the same head.
    """
    revisions: set[str] = set()
    built_on: set[str] = set()
    for script in (migrations_directory() / "versions").glob("*.py"):
        source = script.read_text(encoding="utf-8")
        revisions.update(_REVISION_LINE.findall(source))
        built_on.update(_DOWN_REVISION_LINE.findall(source))
    heads = revisions - built_on
    if len(heads) != 1:
        msg = f"oaitrace's database migrations have {len(heads)} heads; reinstall oaitrace"
        raise DatabaseError(msg)
    return heads.pop()


def database_revision(connection: Connection) -> str | None:
    """The revision a database is at; None when it has never been migrated."""
    if not inspect(connection).has_table(_VERSION_TABLE):
        return None
    found = list(connection.execute(_SELECT_REVISION).scalars())
    # Alembic's own reading: several rows would be several heads, which this
    # linear history never writes; report the first, as `alembic current` lists it.
    return found[0] if found else None


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade to `revision` in one transaction holding the database's write lock."""
    from alembic import command  # noqa: PLC0415 - see _VERSION_TABLE
    from alembic.script.revision import RevisionError  # noqa: PLC0415
    from alembic.util import CommandError  # noqa: PLC0415

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
    from alembic.script.revision import RevisionError  # noqa: PLC0415 - see _VERSION_TABLE
    from alembic.util import CommandError  # noqa: PLC0415

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
