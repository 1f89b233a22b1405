"""The recorder's side of hour summaries: summarise each hour soon after it ends.

Reports summarise what they read and find missing (`oaitrace._hour_summaries`),
so the first report over a long period would pay for every hour. The
recorder's writer sees the hours end: once per hour it asks the reports
over the hours that just ended (and the one before, for late attempts), and
once per day over the day that ended, so their summaries are ready.
Hours from before the process started stay the reports' to summarise.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Final

import structlog

from oaitrace._hour_summaries import DAY, HOUR, SUMMARISE_AFTER
from oaitrace._log import logger
from oaitrace.storage._hours import hour_of

if TYPE_CHECKING:
    from oaitrace.query import Query

__all__ = ["EVENT_SUMMARISING_FAILED", "HourSummariser"]

EVENT_SUMMARISING_FAILED: Final = "oaitrace.summarising_failed"


class HourSummariser:
    """Summarises the hours (and days) that ended while this process recorded.

    Not thread-safe: the recorder's writer thread alone calls `after_store`.
    """

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        # The end of the newest hour that may be summarised, when last asked.
        self._through: datetime.datetime | None = None

    def after_store(self, now: datetime.datetime | None = None) -> bool:
        """Summarise what ended since the last call; True if it asked the reports.

        Cheap when no hour ended (a comparison). Never raises: a failure is
        logged at debug level and left to the reports, which summarise what
        they find missing.
        """
        end = hour_of((now or datetime.datetime.now(datetime.UTC)) - SUMMARISE_AFTER)
        previous, self._through = self._through, max(end, self._through or end)
        if previous is None or end <= previous:
            return False
        try:
            self._summarise(since=previous - HOUR, until=end)
            if end.date() != previous.date():
                day = end.replace(hour=0)
                self._summarise_day(since=day - DAY, until=day)
        except Exception as exc:
            if structlog.is_configured():
                logger.debug(EVENT_SUMMARISING_FAILED, error=f"{exc.__class__.__name__}: {exc}")
        return True

    def _summarise(self, since: datetime.datetime, until: datetime.datetime) -> None:
        with self._open() as query:
            query.usage(by=("model", "endpoint"), since=since, until=until)
            query.ratelimits(by=("model",), since=since, until=until)
            query.latency(by=("model", "endpoint"), since=since, until=until)

    def _summarise_day(self, since: datetime.datetime, until: datetime.datetime) -> None:
        # The day's hours are summarised by now: this stores the day's merge.
        with self._open() as query:
            query.latency(by=("model", "endpoint"), since=since, until=until)

    def _open(self) -> Query:
        """A Query for one pass, closed after it: no connection outlives it (forks stay safe)."""
        # Imported here: the reports are loaded once an hour ends, not with the recorder.
        from oaitrace.query import Query  # noqa: PLC0415

        return Query(self._database_url)
