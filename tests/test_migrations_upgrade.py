"""Every migration path to head, on SQLite and PostgreSQL, keeps the rows written before it.

A database is created at an old revision, given a request and its body the
way that oaitrace version wrote them (through the table as it was then,
reflected from the database), upgraded to head, and compared with the
models and with what was inserted.
"""

from __future__ import annotations

import datetime
import warnings
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from oaitrace.query import Query
from oaitrace.storage import Store, current_revision, head_revision, upgrade
from oaitrace.storage._engine import create_engine
from oaitrace.storage._migrate import alembic_config
from oaitrace.storage._models import Base
from tests.factories import make_record


def earlier_revisions() -> list[str]:
    """Every revision before head, oldest first: a new migration is tested without edits."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return [script.revision for script in reversed(list(scripts.walk_revisions()))][:-1]


# The revisions a database can be at before it is upgraded; None is empty.
START_REVISIONS: list[str | None] = [None, *earlier_revisions()]


def schema_differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            with warnings.catch_warnings():
                # Expression indexes are neither reflected nor compared (an Alembic limit).
                warnings.filterwarnings("ignore", "autogenerate skipping", UserWarning)
                warnings.filterwarnings("ignore", "Skipped unsupported reflection")
                return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def old_row(revision: str, dialect: str, record_id: str) -> dict[str, Any]:
    """A `requests` row as oaitrace wrote it at `revision`."""
    row: dict[str, Any] = {
        "id": record_id,
        "started_at": datetime.datetime(2025, 1, 15, 12, 30, 45, 123456, datetime.timezone.utc),
        "method": "POST",
        "url": "https://api.openai.com/v1/chat/completions",
        "host": "api.openai.com",
        "path": "/v1/chat/completions",
        "endpoint": "/v1/chat/completions",
        "operation": "chat",
        "stream": False,
        "status_code": 200,
        "complete": True,
        "request_model": "gpt-4o-mini",
        "response_model": "gpt-4o-mini-2024-07-18",
        "request_id": f"req_{revision}",
        "duration_ms": 431.25,
        "input_tokens": 12,
        "output_tokens": 3,
        "tags": {"user": "u-42", "feature": "search"},
        "usage_details": {},
        "response_bytes": 640,
        "response_truncated": False,
        "cost_usd": Decimal("0.000006"),
    }
    if revision >= "0002":
        # 0002 made costs exact: on SQLite an integer count of 1e-12 USD.
        if dialect == "sqlite":
            row["cost_usd"] = 6_000_000
        row["service_tier"] = "default"
        row["price_source"] = "genai-prices"
    if revision >= "0003":
        row["call_id"] = record_id
        row["provider"] = "openai"
    return row


def insert_at(url: str, revision: str) -> str:
    """Migrate an empty database to `revision` and store one request there; its id."""
    upgrade(url, revision=revision)
    record_id = make_record().id
    engine = sqlalchemy.create_engine(create_engine(url).url)
    try:
        metadata = sqlalchemy.MetaData()
        with warnings.catch_warnings():
            # Expression indexes cannot be reflected; the columns are all that matter here.
            warnings.simplefilter("ignore", sqlalchemy.exc.SAWarning)
            requests = sqlalchemy.Table("requests", metadata, autoload_with=engine)
            bodies = sqlalchemy.Table("bodies", metadata, autoload_with=engine)
        with engine.begin() as connection:
            connection.execute(
                requests.insert(), [old_row(revision, engine.dialect.name, record_id)]
            )
            connection.execute(
                bodies.insert(),
                [
                    {
                        "request_pk": record_id,
                        "request_headers": {"content-type": "application/json"},
                        "response_headers": {"x-request-id": f"req_{revision}"},
                        "request_body": "hello",
                        "response_body": "world",
                        "extra": {},
                    }
                ],
            )
    finally:
        engine.dispose()
    return record_id


@pytest.mark.parametrize("start", START_REVISIONS, ids=lambda start: f"from-{start or 'empty'}")
def test_upgrade_to_head_keeps_rows(database_url: str, start: str | None) -> None:
    """Upgrading to head from empty, 0001 or 0002 gives the models' schema and keeps old rows."""
    record_id = None if start is None else insert_at(database_url, start)
    new_record = make_record()

    upgrade(database_url)
    with Store(database_url) as store:
        store.insert([new_record])
    with Query(database_url) as query:
        old = None if record_id is None else query.detail(record_id)
        new = query.get(new_record.id)

    expected_old: tuple[object, ...] | None = (
        None
        if start is None
        else (
            f"req_{start}",
            12,
            3,
            {"user": "u-42", "feature": "search"},
            "hello",
            "world",
            {"x-request-id": f"req_{start}"},
            # Costs stored before 0002 become exact; 0002's integer pico-USD is read back.
            Decimal("0.000006"),
            "default" if start >= "0002" else None,
        )
    )
    actual_old = (
        None
        if old is None
        else (
            old.record.request_id,
            old.record.input_tokens,
            old.record.output_tokens,
            old.record.tags,
            old.request_body,
            old.response_body,
            old.response_headers,
            old.record.cost_usd,
            old.record.service_tier,
        )
    )
    expected: tuple[object, ...] = (head_revision(), [], new_record.id, expected_old)
    actual = (
        current_revision(database_url),
        schema_differences(database_url),
        None if new is None else new.id,
        actual_old,
    )
    assert expected == actual
