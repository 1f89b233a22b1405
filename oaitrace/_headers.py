"""Typed values of the response headers OpenAI sends: numbers, durations, retry hints.

Every parser returns None for a value it cannot read (recorded traffic has
`openai-processing-ms: Sanitized`); none of them raises.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Final

__all__ = [
    "MAX_COUNT",
    "http_date_s",
    "parse_duration_s",
    "parse_float",
    "parse_int",
    "retry_after_s",
]

# The largest count taken as a number (2**53, exact in a double and in
# JSON): beyond it a header or usage value is junk, and as a 64-bit column
# value it would fail the whole batch insert.
MAX_COUNT: Final = 2**53

_SECONDS_PER_UNIT: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # Go's time.Duration writes the micro sign
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_NUMBER: Final = r"(?:\d+(?:\.\d*)?|\.\d+)"
_UNIT: Final = r"(?:ns|us|µs|ms|s|m|h|d)"
_DURATION: Final = re.compile(rf"(?:{_NUMBER}{_UNIT})+")
_DURATION_PART: Final = re.compile(rf"({_NUMBER})({_UNIT})")


def parse_int(value: str | None) -> int | None:
    """An integer header such as `x-ratelimit-remaining-tokens`; None if not one."""
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        as_float = parse_float(value)
        # "100.0" is still an integer count; "0.5" is not.
        if as_float is None or not as_float.is_integer():
            return None
        number = int(as_float)
    return number if -MAX_COUNT <= number <= MAX_COUNT else None


def parse_float(value: str | None) -> float | None:
    """A finite number such as `openai-processing-ms`; None for `Sanitized` and the like."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@lru_cache(maxsize=1024)
def parse_duration_s(value: str | None) -> float | None:
    """Seconds in a Go-style duration such as `20ms`, `6m0s` or `1h2m3.5s`.

    A bare non-negative number counts as seconds. The same few values repeat
    on every response, hence the cache.
    """
    if value is None:
        return None
    text = value.strip()
    if _DURATION.fullmatch(text):
        return sum(
            float(number) * _SECONDS_PER_UNIT[unit] for number, unit in _DURATION_PART.findall(text)
        )
    number = parse_float(text)
    return number if number is not None and number >= 0 else None


def retry_after_s(headers: Mapping[str, str], now_s: float) -> float | None:
    """Seconds the server asked to wait, from `retry-after-ms` or `retry-after`.

    `retry-after-ms` wins because it is more precise (the openai SDK reads it
    first too). An HTTP-date `retry-after` is turned into seconds after
    `now_s` (epoch seconds, best taken from the response's `date` header).
    """
    milliseconds = parse_float(headers.get("retry-after-ms"))
    if milliseconds is not None and milliseconds >= 0:
        return milliseconds / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = parse_float(value)
    if seconds is not None:
        return seconds if seconds >= 0 else None
    moment_s = http_date_s(value)
    return None if moment_s is None else max(0.0, moment_s - now_s)


def http_date_s(value: str | None) -> float | None:
    """Epoch seconds of an HTTP date header such as `date`; None if unreadable."""
    if value is None:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment.timestamp() if moment.tzinfo is not None else None
