"""`Query.timeline` and `Query.tag_names` over a small hand-built dataset, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

from oaitrace.exceptions import QueryError
from oaitrace.query import Query, TagName, TimelineReport, TimelineRow
from tests.overview_dataset import DAY1, DAY2, DAY3, store_records


@pytest.fixture
def query(database_url: str) -> Iterator[Query]:
    store_records(database_url)
    with Query(database_url) as opened:
        yield opened


class TestTimeline:
    def test_per_hour(self, query: Query) -> None:
        """Requests, errors, their rate and 429s per UTC hour, oldest first."""
        expected = TimelineReport(
            bucket="hour",
            rows=[
                TimelineRow("2025-03-10 09:00", 4, 1, 0.25, 1),
                TimelineRow("2025-03-10 14:00", 1, 0, 0.0, 0),
                TimelineRow("2025-03-11 08:00", 3, 2, 2 / 3, 0),
            ],
        )
        assert expected == query.timeline("hour", since=DAY1, until=DAY3)

    def test_per_day(self, query: Query) -> None:
        """A failed attempt without a response counts as an error."""
        expected = [
            TimelineRow("2025-03-10", 5, 1, 0.2, 1),
            TimelineRow("2025-03-11", 3, 2, 2 / 3, 0),
        ]
        assert expected == query.timeline("day").rows

    def test_period_and_filters(self, query: Query) -> None:
        """`since`, `until` and the filters of `requests` narrow it."""
        expected = [TimelineRow("2025-03-10 09:00", 2, 1, 0.5, 1)]
        assert expected == query.timeline("hour", since=DAY1, until=DAY2, model="gpt-4o").rows

    def test_empty(self, query: Query) -> None:
        """No request in the period: no rows."""
        assert [] == query.timeline("day", since=DAY3).rows

    def test_bad_bucket(self, query: Query) -> None:
        """Only day and hour buckets exist."""
        with pytest.raises(QueryError, match="bucket must be 'day' or 'hour'"):
            query.timeline("week")


class TestTagNames:
    def test_most_used_first(self, query: Query) -> None:
        """Every tag name with how many attempts carry it; ties by name."""
        expected = [TagName("user", 7), TagName("feature", 6)]
        assert expected == query.tag_names()

    def test_period(self, query: Query) -> None:
        """Only the attempts in the period count."""
        expected = [TagName("user", 2), TagName("feature", 1)]
        assert expected == query.tag_names(since=DAY2)

    def test_none(self, query: Query) -> None:
        """No tagged attempt in the period: an empty list."""
        assert [] == query.tag_names(since=DAY3)

    def test_period_holding_every_attempt_and_a_filter(self, query: Query) -> None:
        """A period around every attempt counts them all; a filter only its attempts."""
        expected = (
            [TagName("user", 7), TagName("feature", 6)],
            [TagName("feature", 2), TagName("user", 2)],
        )
        actual = (
            query.tag_names(since=DAY1 - datetime.timedelta(days=1), until=DAY3),
            query.tag_names(since=DAY1 - datetime.timedelta(days=1), model="gpt-4o"),
        )
        assert expected == actual


class TestErrorsRespectThePeriod:
    def test_no_response_attempts_outside_the_period(self, query: Query) -> None:
        """An attempt with no response before `since` is not among the period's errors.

        The failed-attempt condition is SQL text with an OR; unparenthesised,
        it escaped the time range and listed every no-response attempt ever.
        """
        report = query.errors(since=DAY3, examples=10)
        assert ([], []) == (report.rows, report.examples)
        assert [] == query.errors(since=DAY1, until=DAY2, model="gpt-4o-mini").examples
