"""Points in time as people type them on a command line: ``24h``, ``7d``, ``2024-05-01``."""

from __future__ import annotations

import datetime
import re

from oaitrace.exceptions import QueryError

__all__ = ["parse_time"]

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_HELP = (
    "use a duration back from now such as 90s, 30m, 24h, 7d or 2w, "
    "or an ISO date or time such as 2024-05-01 or 2024-05-01T13:45:00Z"
)


def parse_time(value: str, now: datetime.datetime | None = None) -> datetime.datetime:
    """The aware UTC datetime that ``value`` stands for.

    A duration (``90s``, ``30m``, ``24h``, ``7d``, ``2w``) counts back from
    ``now``; an ISO date means its midnight; an ISO date-time without a zone is
    taken as UTC, the zone oaitrace stores times in.

    Raises:
        QueryError: ``value`` is neither; the message says what would work.

    Example:
        >>> now = datetime.datetime(2024, 5, 2, 12, tzinfo=datetime.timezone.utc)
        >>> parse_time("24h", now).isoformat()
        '2024-05-01T12:00:00+00:00'
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2).lower()
        return now - datetime.timedelta(seconds=amount * _UNIT_SECONDS[unit])
    text = value.strip()
    # Python 3.10's fromisoformat does not accept a trailing "Z".
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        msg = f"cannot read {value!r} as a time; {_HELP}"
        raise QueryError(msg) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc)
