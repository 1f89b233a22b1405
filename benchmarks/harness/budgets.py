"""DESIGN.md's performance budgets, checked against what was measured."""

from __future__ import annotations

from dataclasses import dataclass

from .first_chunk import FirstChunkResult
from .memory import MemoryResult
from .overhead import Configuration, OverheadResult
from .writer import WriterResult

__all__ = ["Verdict", "check_budgets"]

CHAT_BUDGET_US = 50.0
STREAM_BUDGET_US = 80.0
REQUEST_PATH_BUDGET_US = 20.0
SQLITE_RECORDS_PER_S = 20_000.0
POSTGRES_RECORDS_PER_S = 10_000.0
CAPTURE_CAP_MIB = 1.0
# "Flat": the second half of the soak grows RSS by at most this much.
FLAT_RSS_GROWTH = 0.05


@dataclass(frozen=True)
class Verdict:
    """One budget: what it allows, what was measured, whether it holds."""

    budget: str
    allowed: str
    measured: str
    met: bool | None  # None: not measured

    @property
    def mark(self) -> str:
        """`met`, `MISSED` or `not measured`."""
        return {True: "met", False: "**MISSED**", None: "not measured"}[self.met]


def _overhead(
    overhead: OverheadResult, setup: str, lib: str, scenario: str, *, name: str, limit: float
) -> Verdict:
    config = Configuration(setup, "oaitrace", lib, "")
    delta = overhead.delta(config, scenario)
    allowed = f"≤ +{limit:.0f} µs/call"
    if delta is None:
        return Verdict(name, allowed, "—", None)
    return Verdict(name, allowed, f"{delta.median:+,.0f} µs/call", delta.median <= limit)


def _memory(memory: MemoryResult) -> list[Verdict]:
    verdicts = []
    samples = [value for _, value in memory.soak.get("rss_mb", [])]
    if len(samples) >= 2:
        middle, last = samples[len(samples) // 2], samples[-1]
        state = memory.soak.get("state", {})
        measured = (
            f"{middle:.0f} → {last:.0f} MiB over the second half "
            f"(stored {state.get('stored', '?'):,}, dropped {state.get('dropped', '?'):,})"
        )
        verdicts.append(
            Verdict(
                f"memory over {memory.soak['requests']:,} requests",
                "flat",
                measured,
                last <= middle * (1 + FLAT_RSS_GROWTH),
            )
        )
    bare, recorded = memory.big_body.get("bare"), memory.big_body.get("oaitrace")
    if bare and recorded:
        added = recorded["tracemalloc_peak_bytes"] - bare["tracemalloc_peak_bytes"]
        # What any download holds through oaitrace (the request's own
        # bookkeeping, its record on the way to the database) is not the
        # body's cost: a one-chunk download, measured alike, tells it apart.
        per_request = recorded.get("small_body_peak_bytes", 0) - bare.get(
            "small_body_peak_bytes", 0
        )
        body = (added - per_request) / 2**20
        verdicts.append(
            Verdict(
                f"a {memory.megabytes} MB streamed body",
                f"≤ the capture cap ({CAPTURE_CAP_MIB:g} MiB)",
                f"{body:.2f} MiB (tracemalloc peak +{added / 2**20:.2f} MiB over bare, "
                f"of which {per_request / 1024:.0f} KiB any download holds)",
                body <= CAPTURE_CAP_MIB,
            )
        )
    return verdicts


def check_budgets(
    overhead: OverheadResult | None,
    first_chunk: FirstChunkResult | None,
    writer: WriterResult | None,
    memory: MemoryResult | None = None,
) -> list[Verdict]:
    """Every budget of DESIGN.md that this run measured (httpx2, openai 3.x)."""
    verdicts: list[Verdict] = []
    if overhead is not None:
        for lib in ("httpx2", "httpx"):
            checks = (
                ("oaitrace", "chat", f"chat call, everything on ({lib})", CHAT_BUDGET_US),
                ("oaitrace", "stream", f"20-chunk stream, everything on ({lib})", STREAM_BUDGET_US),
                (
                    "oaitrace-request-path",
                    "chat",
                    f"request path alone, chat ({lib})",
                    REQUEST_PATH_BUDGET_US,
                ),
                (
                    "oaitrace-request-path",
                    "stream",
                    f"request path alone, stream ({lib})",
                    REQUEST_PATH_BUDGET_US,
                ),
            )
            verdicts += [
                _overhead(overhead, setup, lib, scenario, name=name, limit=limit)
                for setup, scenario, name, limit in checks
            ]
    if first_chunk is not None and first_chunk.error is None:
        added = first_chunk.added()
        if added is not None:
            # "No added time": within the spread the bare SDK shows between rounds.
            bare = first_chunk.first_chunk("bare")
            noise = max(bare.maximum - bare.minimum, 50.0)
            verdicts.append(
                Verdict(
                    "time to first chunk",
                    f"no added time (±{noise:,.0f} µs noise)",
                    f"{added.median:+,.0f} µs",
                    added.median <= noise,
                )
            )
    if writer is not None:
        for database, limit in (
            ("SQLite", SQLITE_RECORDS_PER_S),
            ("PostgreSQL", POSTGRES_RECORDS_PER_S),
        ):
            for kind in ("chat", "stream"):
                rate = writer.rate((database, kind, 500))
                name = f"writer, {kind} records, {database} (batch 500)"
                allowed = f"≥ {limit:,.0f} records/s"
                if rate is None:
                    verdicts.append(Verdict(name, allowed, "—", None))
                else:
                    verdicts.append(
                        Verdict(
                            name, allowed, f"{rate.median:,.0f} records/s", rate.median >= limit
                        )
                    )
    if memory is not None:
        verdicts += _memory(memory)
    return verdicts
