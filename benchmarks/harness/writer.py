"""Writer throughput into SQLite, and into PostgreSQL when a server can be had."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .postgres import postgres_url
from .procs import WorkerError, run_worker
from .stats import Spread, spread

__all__ = ["BATCH_SIZES", "WriterResult", "measure_writer"]

BATCH_SIZES = (100, 500, 2000)
KINDS = ("chat", "stream")
# Beside each kind at the default batch size: the same without an
# OpenTelemetry SDK, to show what parsing, pricing and storage alone cost.
STORAGE_ONLY = " (no spans or metrics)"


@dataclass
class WriterResult:
    """Records per second per (database, kind, batch size), one figure per round."""

    records: int
    rates: dict[tuple[str, str, int], list[float]] = field(default_factory=dict)
    cpu_us: dict[tuple[str, str, int], list[float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def rate(self, key: tuple[str, str, int]) -> Spread | None:
        """Median and range of records/s."""
        values = self.rates.get(key)
        return spread(values) if values else None


def _measure_database(
    python: Path,
    database: str,
    url_for_run: Callable[[int], str],
    result: WriterResult,
    rounds: int,
) -> None:
    runs = [(kind, batch_size, True) for kind in KINDS for batch_size in BATCH_SIZES] + [
        (kind, 500, False) for kind in KINDS
    ]
    for round_index in range(rounds):
        for index, (kind, batch_size, telemetry) in enumerate(runs):
            arguments = ["--database-url", url_for_run(round_index * len(runs) + index + 1)]
            arguments += ["--kind", kind, "--batch-size", str(batch_size)]
            arguments += ["--records", str(result.records)]
            if not telemetry:
                arguments.append("--no-telemetry")
            measured = run_worker(python, "writer.py", arguments)
            key = (database, kind if telemetry else kind + STORAGE_ONLY, batch_size)
            result.rates.setdefault(key, []).append(measured["records_per_s"])
            result.cpu_us.setdefault(key, []).append(measured["cpu_us_per_record"])


def measure_writer(
    python: Path,
    *,
    rounds: int,
    records: int,
    postgres: str | None,
    use_postgres: bool,
    say: Callable[[str], None],
) -> WriterResult:
    """Every (kind, batch size) per round; a fresh SQLite file per run."""
    result = WriterResult(records=records)
    with tempfile.TemporaryDirectory(prefix="oaitrace-bench-writer-") as directory:
        say("  SQLite")
        try:
            _measure_database(
                python,
                "SQLite",
                lambda run: f"sqlite:///{directory}/writer-{run}.db",
                result,
                rounds,
            )
        except WorkerError as exc:
            result.skipped["SQLite"] = str(exc)
    if not use_postgres:
        result.skipped["PostgreSQL"] = "not asked for (--no-postgres)"
        return result
    try:
        with postgres_url(postgres) as url:
            say("  PostgreSQL")
            _measure_database(python, "PostgreSQL", lambda run: url, result, rounds)
    except (RuntimeError, OSError, WorkerError) as exc:
        result.skipped["PostgreSQL"] = str(exc)
    return result
