"""The request_tags table: written with each record, backfilled by 0004, used by tag reports.

`tag:<name>` groupings and `find(tag=...)` read request_tags instead of the
JSON `tags` column; their answers must be those the JSON gave, on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

import datetime
import random
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy

from oaitrace._exchange import Record
from oaitrace._maintenance import prune
from oaitrace._reports import nearest_rank
from oaitrace.query import Percentiles, Query
from oaitrace.storage import Store, upgrade
from oaitrace.storage._engine import create_engine
from tests.factories import make_record
from tests.test_migrations_upgrade import insert_at

UTC = datetime.timezone.utc
START = datetime.datetime(2025, 1, 15, tzinfo=UTC)
USERS = ("alice", "bob", "carol", "dave")


def dataset() -> list[Record]:
    """Records with and without a `user` tag, other tags, errors, costs and varied latencies."""
    rng = random.Random(7)  # noqa: S311 - test data, not secrets
    records = []
    for index in range(300):
        tags: dict[str, str] = {"feature": rng.choice(("search", "chat"))}
        if index % 7:
            tags["user"] = rng.choice(USERS)
        status = rng.choice((200, 200, 200, 200, 429, 500))
        ok = status < 400
        records.append(
            make_record(
                started_at=START + datetime.timedelta(minutes=index),
                request_id=f"req_{index}",
                request_model=rng.choice(("gpt-4o", "gpt-4o-mini")),
                status_code=status,
                input_tokens=rng.randint(1, 500) if ok else None,
                output_tokens=rng.randint(1, 100) if ok else None,
                total_tokens=None,
                cost_usd=Decimal(rng.randint(1, 10**9)).scaleb(-12) if ok else None,
                # Few distinct values: ties at the percentile ranks.
                duration_ms=float(rng.randint(1, 40) * 25),
                processing_ms=float(rng.randint(1, 20) * 10) if index % 3 else None,
                tags=tags,
            )
        )
    return records


RECORDS = dataset()


@pytest.fixture
def query(database_url: str) -> Iterator[Query]:
    with Store(database_url) as store:
        store.insert(RECORDS)
    with Query(database_url) as opened:
        yield opened


def tag_rows(url: str) -> list[tuple[str, str, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sqlalchemy.text("SELECT request_pk, key, value FROM request_tags")
            )
            return sorted((row[0], row[1], row[2]) for row in rows)
    finally:
        engine.dispose()


def expected_tag_rows(records: list[Record]) -> list[tuple[str, str, str]]:
    return sorted(
        (record.id, key, value) for record in records for key, value in record.tags.items()
    )


class TestStore:
    def test_every_tag_is_a_row(self, database_url: str) -> None:
        """Store.insert writes one request_tags row per tag, once even when a batch repeats."""
        with Store(database_url) as store:
            store.insert(RECORDS[:20])
            store.insert(RECORDS[:20])

        assert expected_tag_rows(RECORDS[:20]) == tag_rows(database_url)

    def test_prune_deletes_the_tags(self, database_url: str) -> None:
        """Pruned requests take their tags with them (the foreign key cascades)."""
        with Store(database_url) as store:
            store.insert(RECORDS[:20])

        prune(database_url, before=RECORDS[10].started_at)

        assert expected_tag_rows(RECORDS[10:20]) == tag_rows(database_url)


class TestTagReports:
    def test_usage_by_tag(self, query: Query) -> None:
        """Per tag value (None: untagged): requests, errors, tokens, exact cost, as in Python."""
        expected: dict[str | None, tuple[int, int, int, Decimal]] = {}
        for record in RECORDS:
            user = record.tags.get("user")
            requests, errors, input_tokens, cost = expected.get(user, (0, 0, 0, Decimal(0)))
            failed = record.status_code is None or record.status_code >= 400
            expected[user] = (
                requests + 1,
                errors + failed,
                input_tokens + (record.input_tokens or 0),
                cost + (record.cost_usd or 0),
            )

        report = query.usage(by="tag:user")

        actual = {
            row.group["tag:user"]: (row.requests, row.errors, row.input_tokens, row.cost_usd)
            for row in report.rows
        }
        assert expected == actual

    def test_two_tags_and_a_column(self, query: Query) -> None:
        """Two tag groupings and the model at once: each tag joins separately."""
        expected: dict[tuple[str | None, str | None, str | None], int] = defaultdict(int)
        for record in RECORDS:
            key = (record.tags.get("user"), record.tags.get("feature"), record.request_model)
            expected[key] += 1

        report = query.usage(by="tag:user,tag:feature,model")

        actual = {
            (row.group["tag:user"], row.group["tag:feature"], row.group["model"]): row.requests
            for row in report.rows
        }
        assert dict(expected) == actual

    def test_latency_by_tag(self, query: Query) -> None:
        """Nearest-rank percentiles per tag value equal those computed over the records."""
        durations: dict[str | None, list[float]] = defaultdict(list)
        for record in RECORDS:
            if record.status_code is not None and record.status_code < 400:
                durations[record.tags.get("user")].append(record.duration_ms)
        expected = {
            user: Percentiles(
                len(values),
                nearest_rank(sorted(values), 0.5),
                nearest_rank(sorted(values), 0.95),
                nearest_rank(sorted(values), 0.99),
            )
            for user, values in durations.items()
        }

        report = query.latency(by="tag:user")

        assert expected == {row.group["tag:user"]: row.duration for row in report.rows}

    def test_errors_by_tag(self, query: Query) -> None:
        """Failed attempts per tag value."""
        expected: dict[tuple[str | None, int | None], int] = defaultdict(int)
        for record in RECORDS:
            if record.status_code is None or record.status_code >= 400:
                expected[(record.tags.get("user"), record.status_code)] += 1

        report = query.errors(by="tag:user")

        actual = {(row.group["tag:user"], row.status_code): row.count for row in report.rows}
        assert dict(expected) == actual

    def test_find_by_tags(self, query: Query) -> None:
        """find(tag=...) returns exactly the records carrying every given tag, newest first."""
        wanted = [
            record
            for record in RECORDS
            if record.tags.get("user") == "bob" and record.tags.get("feature") == "chat"
        ]
        expected = [record.request_id for record in reversed(wanted)]

        found = query.find(tag={"user": "bob", "feature": "chat"}, limit=1000)

        assert expected == [record.request_id for record in found]


class TestMigration:
    def test_upgrade_from_0003_copies_the_tags(self, database_url: str) -> None:
        """0004 fills request_tags from the JSON of the rows stored before it."""
        record_id = insert_at(database_url, "0003")

        upgrade(database_url)
        with Query(database_url) as query:
            usage = query.usage(by="tag:user", since=START - datetime.timedelta(days=1))
            found = query.find(tag="feature=search", since=START - datetime.timedelta(days=1))

        expected = (
            [(record_id, "feature", "search"), (record_id, "user", "u-42")],
            [({"tag:user": "u-42"}, 1)],
            [record_id],
        )
        actual = (
            tag_rows(database_url),
            [(row.group, row.requests) for row in usage.rows],
            [record.id for record in found],
        )
        assert expected == actual
