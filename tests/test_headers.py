"""Typed values of OpenAI response headers: durations, numbers and retry hints."""

from __future__ import annotations

import pytest

from oaitrace._headers import (
    http_date_s,
    parse_duration_s,
    parse_float,
    parse_int,
    retry_after_s,
)


class TestParseDuration:
    @pytest.mark.parametrize(
        ("value", "seconds"),
        [
            ("20ms", 0.02),
            ("1s", 1.0),
            ("0s", 0.0),
            ("7.66s", 7.66),
            ("6m0s", 360.0),
            ("1h2m3.5s", 3723.5),
            ("2d", 172800.0),
            ("1m30.5s", 90.5),
            ("500us", 0.0005),
            ("1.5", 1.5),
            (" 6ms ", 0.006),
        ],
    )
    def test_go_durations(self, value: str, seconds: float) -> None:
        """Go-style durations and bare numbers become seconds."""
        assert seconds == pytest.approx(parse_duration_s(value))

    @pytest.mark.parametrize("value", [None, "", "Sanitized", "-1s", "1x", "s", "1m2", "ms20"])
    def test_garbage_is_none(self, value: str | None) -> None:
        """Anything that is not a duration gives None."""
        assert None is parse_duration_s(value)


class TestNumbers:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [("10000", 10000), (" 42 ", 42), ("100.0", 100), ("0.5", None), ("Sanitized", None)],
    )
    def test_parse_int(self, value: str, expected: int | None) -> None:
        """Integer headers parse; fractions and words are None."""
        assert expected == parse_int(value)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("412", 412.0), ("3.25", 3.25), ("Sanitized", None), ("nan", None), ("inf", None)],
    )
    def test_parse_float(self, value: str, expected: float | None) -> None:
        """Finite numbers parse; words, NaN and infinity are None."""
        assert expected == parse_float(value)

    def test_absent_is_none(self) -> None:
        """A missing header is None, never 0."""
        assert (parse_int(None), parse_float(None)) == (None, None)


class TestRetryAfter:
    NOW = 1_445_412_470.0  # Wed, 21 Oct 2015 07:27:50 GMT

    def test_seconds(self) -> None:
        """`retry-after` in seconds is taken as is."""
        assert retry_after_s({"retry-after": "20"}, self.NOW) == 20.0

    def test_milliseconds_win(self) -> None:
        """`retry-after-ms` is preferred for its precision."""
        assert retry_after_s({"retry-after": "2", "retry-after-ms": "1500"}, self.NOW) == 1.5

    def test_http_date(self) -> None:
        """An HTTP-date is turned into seconds after now."""
        headers = {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}
        assert retry_after_s(headers, self.NOW) == 10.0

    def test_past_date_is_zero(self) -> None:
        """A date already past means no wait."""
        assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:00:00 GMT"}, self.NOW) == 0.0

    @pytest.mark.parametrize("headers", [{}, {"retry-after": "soon"}, {"retry-after": "-3"}])
    def test_absent_or_garbage_is_none(self, headers: dict[str, str]) -> None:
        """No usable hint gives None."""
        assert None is retry_after_s(headers, self.NOW)

    def test_http_date_s(self) -> None:
        """The `date` header reads as epoch seconds; garbage as None."""
        assert http_date_s("Wed, 21 Oct 2015 07:27:50 GMT") == self.NOW
        assert None is http_date_s("yesterday")
