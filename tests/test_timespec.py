"""Command-line time values: durations back from now and ISO dates."""

from __future__ import annotations

import datetime

import pytest

from oaitrace._timespec import parse_time
from oaitrace.exceptions import QueryError

UTC = datetime.timezone.utc
NOW = datetime.datetime(2024, 5, 2, 12, 0, 0, tzinfo=UTC)


class TestParseTime:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("90s", datetime.datetime(2024, 5, 2, 11, 58, 30, tzinfo=UTC)),
            ("30m", datetime.datetime(2024, 5, 2, 11, 30, tzinfo=UTC)),
            ("24h", datetime.datetime(2024, 5, 1, 12, tzinfo=UTC)),
            ("7d", datetime.datetime(2024, 4, 25, 12, tzinfo=UTC)),
            ("2w", datetime.datetime(2024, 4, 18, 12, tzinfo=UTC)),
            ("1.5h", datetime.datetime(2024, 5, 2, 10, 30, tzinfo=UTC)),
            (" 24H ", datetime.datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ],
    )
    def test_durations_count_back_from_now(self, value: str, expected: datetime.datetime) -> None:
        """A number and a unit is that long before now."""
        assert expected == parse_time(value, NOW)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2024-05-01", datetime.datetime(2024, 5, 1, tzinfo=UTC)),
            ("2024-05-01T13:45:00", datetime.datetime(2024, 5, 1, 13, 45, tzinfo=UTC)),
            ("2024-05-01T13:45:00Z", datetime.datetime(2024, 5, 1, 13, 45, tzinfo=UTC)),
            ("2024-05-01 13:45", datetime.datetime(2024, 5, 1, 13, 45, tzinfo=UTC)),
            ("2024-05-01T15:45:00+02:00", datetime.datetime(2024, 5, 1, 13, 45, tzinfo=UTC)),
        ],
    )
    def test_iso_values_are_utc(self, value: str, expected: datetime.datetime) -> None:
        """ISO dates and times come back in UTC; no zone means UTC."""
        actual = parse_time(value, NOW)

        assert expected == actual
        assert actual.tzinfo == UTC

    def test_default_now_is_the_current_time(self) -> None:
        """Without `now`, durations count back from the current UTC time."""
        before = datetime.datetime.now(UTC)
        actual = parse_time("1h")
        after = datetime.datetime.now(UTC)

        assert before - datetime.timedelta(hours=1) <= actual <= after - datetime.timedelta(hours=1)

    @pytest.mark.parametrize("value", ["", "yesterday", "24", "h", "-5m", "7x", "2024-13-01"])
    def test_bad_values_say_what_works(self, value: str) -> None:
        """Anything else is a QueryError whose message shows valid examples."""
        with pytest.raises(QueryError, match=r"cannot read .* as a time; use a duration"):
            parse_time(value, NOW)
