"""Alembic environment for oaitrace.

oaitrace runs this programmatically (`oaitrace.storage.upgrade`, `Store.ensure_schema`)
and passes an open connection in `config.attributes["connection"]`; the
migration then runs inside that connection's transaction, which the caller
holds under a lock so concurrent processes do not migrate twice. When run
from the `alembic` command line, `sqlalchemy.url` is used instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from oaitrace.storage._engine import create_engine, resolve_database_url
from oaitrace.storage._models import Base

target_metadata = Base.metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit the SQL to a script instead of running it (`alembic upgrade --sql`)."""
    url = resolve_database_url(context.config.get_main_option("sqlalchemy.url"))
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the connection oaitrace passed in, or one made from the URL."""
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _configure_and_run(connection)
        return
    url = resolve_database_url(context.config.get_main_option("sqlalchemy.url"))
    engine = create_engine(url)
    try:
        with engine.connect() as new_connection:
            _configure_and_run(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
