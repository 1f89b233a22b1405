"""The recorder's side of hour summaries: summarise each hour soon after it ends.

Reports summarise what they read and find missing (`oaitrace._hour_summaries`),
so the first report over a long period would pay for every hour. The
recorder's writer sees the hours end: once per hour it runs the reports over
the hours that just ended (and the one before, for late attempts), and once
per day over the day that ended, so their summaries are ready. Groupings
by other keys and tags are summarised likewise (per hour, per day) when a
report asked for them lately. Hours from before the
process started stay the reports' to summarise.
"""

from __future__ import annotations

import datetime
from typing import Final

import structlog

from oaitrace._hour_summaries import DAY, HOUR, SUMMARISE_AFTER, day_kind, summarised_kinds
from oaitrace._log import logger
from oaitrace.storage._engine import create_engine
from oaitrace.storage._hours import hour_of

__all__ = ["EVENT_SUMMARISING_FAILED", "HourSummariser"]

EVENT_SUMMARISING_FAILED: Final = "oaitrace.summarising_failed"
_USAGE_BY_OTHER_KEYS: Final = "usage/1/"
_LATENCY_BY_OTHER_KEYS: Final = "latency/1/"
_RATELIMITS_BY_OTHER_KEYS: Final = "ratelimits/1/"


class HourSummariser:
    """Summarises the hours (and days) that ended while this process recorded.

    Not thread-safe: the recorder's writer thread alone calls `after_store`.
    """

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        # The end of the newest hour that may be summarised, when last asked.
        self._through: datetime.datetime | None = None

    def after_store(self, now: datetime.datetime | None = None) -> bool:
        """Summarise what ended since the last call; True if it ran the reports.

        Cheap when no hour ended (a comparison). Never raises: a failure is
        logged at debug level and left to the reports, which summarise what
        they find missing.
        """
        end = hour_of((now or datetime.datetime.now(datetime.UTC)) - SUMMARISE_AFTER)
        previous, self._through = self._through, max(end, self._through or end)
        if previous is None or end <= previous:
            return False
        try:
            self._summarise(
                since=previous - HOUR, until=end, day_ended=end.date() != previous.date()
            )
        except Exception as exc:
            if structlog.is_configured():
                logger.debug(EVENT_SUMMARISING_FAILED, error=f"{exc.__class__.__name__}: {exc}")
        return True

    def _summarise(
        self, since: datetime.datetime, until: datetime.datetime, *, day_ended: bool
    ) -> None:
        # Imported here: the reports are loaded once an hour ends, not with the recorder.
        from oaitrace import _reports  # noqa: PLC0415
        from oaitrace._report_scope import Scope  # noqa: PLC0415

        # An engine for this pass only: no connection outlives it (forks stay safe).
        engine = create_engine(self._database_url, create=False, reports=True)
        try:
            scope = Scope(engine=engine, since=since, until=until, conditions=())
            _reports.usage(scope, ("model", "endpoint"))
            _reports.ratelimits(scope, ("model",))
            _reports.latency(scope, ("model", "endpoint"))
            reports = (
                (_USAGE_BY_OTHER_KEYS, _reports.usage),
                (_LATENCY_BY_OTHER_KEYS, _reports.latency),
                (_RATELIMITS_BY_OTHER_KEYS, _reports.ratelimits),
            )
            # Other groupings per hour, those reports asked for in the day before.
            for prefix, report in reports:
                for kind in summarised_kinds(scope, prefix, since - DAY):
                    report(scope, (*kind[len(prefix) :].split(","), "hour"))
            if day_ended:
                day = until.replace(hour=0)
                day_scope = Scope(engine=engine, since=day - DAY, until=day, conditions=())
                # The day's hours are summarised by now: this stores the day's merge.
                _reports.latency(day_scope, ("model", "endpoint"))
                # Other groupings per day, those reports asked for in the week before.
                for prefix, report in reports:
                    for kind in summarised_kinds(day_scope, day_kind(prefix), day - 7 * DAY):
                        report(day_scope, tuple(kind[len(day_kind(prefix)) :].split(",")))
        finally:
            engine.dispose()
