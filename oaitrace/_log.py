"""The structlog logger of oaitrace and the names of its events.

structlog is never configured here: the application decides where logs go.
"""

from __future__ import annotations

from typing import Final

import structlog

__all__ = [
    "EVENT_DATABASE_ERROR",
    "EVENT_EXCHANGE",
    "EVENT_INTERNAL_ERROR",
    "EVENT_PARSE_FAILED",
    "EVENT_QUEUE_FULL",
    "EVENT_RECORDS_LOST",
    "EVENT_RECORDS_SPOOLED",
    "EVENT_SPOOL_REPLAYED",
    "EVENT_SPOOL_SKIPPED_LINES",
    "logger",
]

logger: Final = structlog.get_logger("oaitrace")

EVENT_EXCHANGE: Final = "oaitrace.exchange"
EVENT_QUEUE_FULL: Final = "oaitrace.queue_full"
EVENT_DATABASE_ERROR: Final = "oaitrace.database_error"
EVENT_RECORDS_LOST: Final = "oaitrace.records_lost"
EVENT_RECORDS_SPOOLED: Final = "oaitrace.records_spooled"
EVENT_SPOOL_REPLAYED: Final = "oaitrace.spool_replayed"
EVENT_SPOOL_SKIPPED_LINES: Final = "oaitrace.spool_skipped_lines"
EVENT_PARSE_FAILED: Final = "oaitrace.parse_failed"
EVENT_INTERNAL_ERROR: Final = "oaitrace.internal_error"
