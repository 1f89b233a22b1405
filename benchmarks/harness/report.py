"""The run's findings as Markdown: RESULTS.md in full, and the headline table for README."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .budgets import Verdict
from .envs import Environment
from .first_chunk import FirstChunkResult
from .machine import Machine
from .memory import MemoryResult
from .overhead import SCENARIOS, Configuration, OverheadResult
from .profiling import Profile, heaviest, oaitrace_functions
from .stats import Spread
from .writer import WriterResult

__all__ = ["Run", "headline_table", "render_results"]

_VERSION_COLUMNS = ("openai", "httpx", "httpx2", "pydantic", "opentelemetry-sdk")


@dataclass
class Run:
    """Everything one invocation measured, and how."""

    command: str
    started: str
    duration_s: float
    machine: Machine
    load_before: str
    load_after: str
    environments: dict[str, Environment]
    overhead: OverheadResult | None = None
    first_chunk: FirstChunkResult | None = None
    writer: WriterResult | None = None
    memory: MemoryResult | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    profile_note: str | None = None
    reports_section: str | None = None


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _machine(run: Run) -> list[str]:
    machine = run.machine
    lines = ["## Machine", ""]
    lines += _table(
        ["", ""],
        [
            ["CPU", machine.cpu],
            ["cores", str(machine.cores)],
            ["memory", f"{machine.memory_gib:.0f} GiB"],
            ["Python", machine.python],
            ["system", machine.system],
            ["load average (1/5/15 min) before → after", f"{run.load_before} → {run.load_after}"],
        ],
    )
    lines += ["", "Package versions per environment (each configuration ran in its own):", ""]
    versions = _versions_by_environment(run)
    rows = []
    for name, environment in run.environments.items():
        found = versions.get(name, {})
        peer = ", ".join(
            f"{package} {version}"
            for package, version in sorted(found.items())
            if package not in (*_VERSION_COLUMNS, "opentelemetry-api", "sqlalchemy")
        )
        state = environment.error or peer or "—"
        rows.append([name, *(found.get(column, "—") for column in _VERSION_COLUMNS), state])
    lines += _table(["environment", *_VERSION_COLUMNS, "also"], rows)
    return [*lines, ""]


def _versions_by_environment(run: Run) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    if run.overhead is not None:
        for measured in run.overhead.measured.values():
            if measured.last:
                found[measured.configuration.environment] = measured.last["versions"]
    return found


def _what_was_on(last: dict[str, Any]) -> str:
    if not last:
        return ""
    parts = []
    spans = last.get("spans_per_call", {})
    if any(value for value in spans.values()):
        parts.append(f"spans/call {max(value or 0 for value in spans.values()):g}")
    state = last.get("state", {})
    if "cost_recorded" in state:
        parts.append(f"cost {'on' if state['cost_recorded'] is True else 'off'}")
    if state.get("dropped"):
        parts.append(f"dropped {state['dropped']}")
    parts += [f"{key}: {value}" for key, value in last.get("notes", {}).items()]
    return "; ".join(parts)


def _overhead_rows(overhead: OverheadResult) -> list[list[str]]:
    rows = []
    for measured in overhead.measured.values():
        config = measured.configuration
        if not measured.last:
            continue
        cells = [
            config.label if not config.is_floor else f"bare SDK ({config.environment})",
            measured.last["versions"].get("openai", "?"),
            config.lib,
        ]
        for scenario in SCENARIOS:
            wall = measured.wall(scenario)
            delta = overhead.delta(config, scenario)
            cpu = overhead.delta(config, scenario, cpu=True)
            cells.append(wall.format() if wall else "—")
            cells.append(
                "floor" if config.is_floor else (delta.format(signed=True) if delta else "—")
            )
            cells.append("" if config.is_floor else (f"{cpu.median:+,.0f}" if cpu else "—"))
        cells.append(_what_was_on(measured.last))
        rows.append(cells)
    return rows


def _overhead(run: Run) -> list[str]:
    overhead = run.overhead
    if overhead is None:
        return []
    lines = [
        "## 1. Per-call overhead over the bare openai SDK",
        "",
        f"Real openai SDK on an in-process mock transport (OpenAI's headers and bodies; bodies "
        f"served as iterator streams, one chunk per event). Each configuration ran in its own "
        f"process, interleaved over {overhead.rounds} rounds "
        f"({overhead.calls['chat']:,} chat calls and {overhead.calls['stream']:,} 20-chunk "
        "streams with usage per process, after a warm-up and one `gc.collect()` in every "
        "process). µs/call: median over rounds "
        "(min…max). Δ: µs per call added over the bare SDK of the same environment and client, "
        "paired by round (median, min…max). CPU Δ: the same for process CPU time (all threads), "
        "which is less disturbed by other load on the machine. oaitrace's time includes the "
        "final `recorder.flush()`; langfuse's includes its `flush()`.",
        "",
        "Telemetry: every configuration that makes spans gets an OpenTelemetry SDK "
        "TracerProvider with a **SimpleSpanProcessor** into a no-op exporter that counts spans "
        "(langfuse: its own BatchSpanProcessor into the same counting exporter) and a "
        "MeterProvider with an in-memory reader. Peers run with their default content-capture "
        "settings. `spans/call` shows each tool really instrumented the calls.",
        "",
    ]
    header = [
        "configuration",
        "openai",
        "client",
        "chat µs/call",
        "Δ chat µs",
        "CPU Δ",
        "stream µs/call",
        "Δ stream µs",
        "CPU Δ",
        "what was on",
    ]
    lines += _table(header, _overhead_rows(overhead))
    failed = [m for m in overhead.measured.values() if m.error]
    not_prepared = [e for e in run.environments.values() if e.error]
    if failed or not_prepared:
        lines += ["", "Not run (or not every round):", ""]
        lines += [
            f"- {e.spec.name}: environment could not be made: {e.error}" for e in not_prepared
        ]
        lines += [
            f"- {m.configuration.key} [{m.configuration.environment}]: {m.error}" for m in failed
        ]
    return [*lines, ""]


def _first_chunk(run: Run) -> list[str]:
    result = run.first_chunk
    if result is None:
        return []
    lines = ["## 2. Time to first chunk over loopback", ""]
    if result.error:
        return [*lines, f"Not measured: {result.error}", ""]
    lines += [
        f"oaitrace's demo server in its own process on 127.0.0.1, {result.chunk_delay_s * 1000:g} "
        f"ms between chunks ({result.chunks_per_stream} chunks per stream), the real openai SDK "
        f"over httpx2's HTTP transport; {result.streams} streams per process, bare and oaitrace "
        "(SQLite, spans, cost) alternating. Time from the SDK call to the first chunk it yields.",
        "",
    ]
    added = result.added()
    rows = [
        [
            "bare SDK",
            result.first_chunk("bare").format(),
            "floor",
            f"{min(result.stream_ms['bare']):.1f}",
        ],
        [
            "oaitrace",
            result.first_chunk("oaitrace").format(),
            added.format(signed=True) if added else "—",
            f"{min(result.stream_ms['oaitrace']):.1f}",
        ],
    ]
    lines += _table(["configuration", "first chunk µs", "Δ µs", "whole stream ms (best)"], rows)
    return [*lines, ""]


def _writer(run: Run) -> list[str]:
    result = run.writer
    if result is None:
        return []
    lines = [
        "## 3. Writer throughput",
        "",
        f"{result.records:,} real exchanges (taken by the transport from SDK calls) emitted at "
        "once into a Recorder whose queue holds them all, timed until `flush()` returns: parse, "
        "spans, cost and batched INSERT on the writer thread. Records/s: median (min…max) over "
        'rounds; CPU µs per record in the whole process. Rows marked "no spans or metrics" '
        "ran without an OpenTelemetry SDK (the API's no-op tracer and meter).",
        "",
    ]
    rows = []
    for (database, kind, batch_size), _ in sorted(result.rates.items()):
        rate = result.rate((database, kind, batch_size))
        cpu = result.cpu_us[(database, kind, batch_size)]
        rows.append(
            [
                database,
                kind,
                str(batch_size),
                rate.format() if rate else "—",
                f"{sorted(cpu)[len(cpu) // 2]:,.0f}",
            ]
        )
    lines += _table(["database", "records", "batch", "records/s", "CPU µs/record"], rows)
    lines += [f"- {database}: skipped: {reason}" for database, reason in result.skipped.items()]
    return [*lines, ""]


def _memory(run: Run) -> list[str]:
    result = run.memory
    if result is None:
        return []
    lines = ["## 4. Memory", ""]
    growth = result.soak_growth_mb()
    if growth is not None:
        soak = result.soak
        first, last, peak = growth
        samples = ", ".join(f"{value:.0f}" for _, value in soak["rss_mb"])
        lines += [
            f"{soak['requests']:,} requests (9 chat completions : 1 20-chunk stream) through "
            "an httpx2 client, oaitrace's transport and a Recorder writing to SQLite, in "
            f"{soak['elapsed_s']:.0f} s. RSS at the first sample {first:.1f} MiB, at the end "
            f"{last:.1f} MiB, largest {peak:.1f} MiB; stored {soak['state'].get('stored')}, "
            f"dropped {soak['state'].get('dropped')}.",
            "",
            f"RSS samples (MiB), every {soak['requests'] // max(1, len(soak['rss_mb'])):,} "
            f"requests: {samples}",
            "",
        ]
    if result.big_body:
        lines += [
            f"A {result.megabytes} MB body streamed in 64 KiB chunks through the "
            "transport (capture cap 1 MiB), stored, measured with tracemalloc; and, "
            "in the same process, a body of one 64 KiB chunk: what any download holds.",
            "",
        ]
        rows = [
            [
                config,
                f"{figures['received_bytes'] / 2**20:,.0f} MiB",
                f"{figures['tracemalloc_peak_bytes'] / 2**20:,.2f} MiB",
                f"{figures['rss_delta_bytes'] / 2**20:,.2f} MiB",
                f"{figures.get('small_body_peak_bytes', 0) / 1024:,.0f} KiB",
            ]
            for config, figures in result.big_body.items()
        ]
        lines += _table(
            ["configuration", "received", "tracemalloc peak", "RSS delta", "one-chunk peak"],
            rows,
        )
    lines += [f"- {name}: not measured: {reason}" for name, reason in result.errors.items()]
    return [*lines, ""]


def _budgets(run: Run) -> list[str]:
    if not run.verdicts:
        return []
    lines = ["## Budgets (DESIGN.md)", ""]
    rows = [[v.budget, v.allowed, v.measured, v.mark] for v in run.verdicts]
    return [*lines, *_table(["budget", "allowed", "measured", ""], rows), ""]


def _profiles(run: Run) -> list[str]:
    if not run.profiles and not run.profile_note:
        return []
    lines = [
        "## Where oaitrace's time goes (profile of the missed budgets)",
        "",
        "py-spy attached after the warm-up, sampling the thread that holds the GIL at 1000 Hz, "
        "of the full oaitrace configuration (httpx2). "
        "µs per call are samples turned into time and divided by the calls made; they are "
        "approximate (±10 %) but the proportions hold. Inclusive: the function and everything "
        "it calls.",
        "",
    ]
    if run.profile_note:
        lines += [run.profile_note, ""]
    for profile in run.profiles:
        for thread_name, thread in sorted(profile.threads.items(), key=lambda i: -i[1].samples):
            functions = oaitrace_functions(thread, 14)
            if not functions:
                continue
            lines += [
                f"### {profile.scenario}: thread `{thread_name}` "
                f"({profile.us_per_call(thread.samples):,.0f} µs/call busy in all)",
                "",
            ]
            rows = [
                [f"`{name}`", f"{profile.us_per_call(samples):,.1f}"] for name, samples in functions
            ]
            lines += _table(["oaitrace function (inclusive)", "µs/call"], rows)
            leaves = [
                [f"`{name}`", f"{profile.us_per_call(samples):,.1f}"]
                for name, samples in heaviest(thread.leaf, 10)
            ]
            lines += ["", "Heaviest leaf functions of this thread (self time):", ""]
            lines += _table(["function", "µs/call"], leaves)
            lines.append("")
    return lines


def render_results(run: Run) -> str:
    """RESULTS.md."""
    lines = [
        "# oaitrace benchmark results",
        "",
        f"Generated by `{run.command}` on {run.started} in {run.duration_s / 60:.1f} minutes. "
        "Do not edit: run the benchmarks again (see benchmarks/README.md).",
        "",
    ]
    lines += _budgets(run)
    lines += _machine(run)
    lines += _overhead(run)
    lines += _first_chunk(run)
    lines += _writer(run)
    lines += _memory(run)
    if run.reports_section:
        lines += ["## 5. Report latency", "", run.reports_section, ""]
    lines += _profiles(run)
    lines += _analysis()
    return "\n".join(lines).rstrip() + "\n"


# What the numbers mean and what is left: written by hand after reading a run
# (the profile above is its evidence), kept beside the code that measures.
_ANALYSIS_FILE = Path(__file__).with_name("analysis.md")


def _analysis() -> list[str]:
    if not _ANALYSIS_FILE.is_file():
        return []
    return ["", _ANALYSIS_FILE.read_text(encoding="utf-8").rstrip(), ""]


def headline_table(run: Run) -> str:
    """The per-call overhead of oaitrace and each peer, for README's Performance section."""
    overhead = run.overhead
    if overhead is None:
        return ""

    def cell(value: Spread | None) -> str:
        return f"{value.median:+,.0f}" if value else "—"

    rows = []
    for measured in overhead.measured.values():
        config: Configuration = measured.configuration
        if config.is_floor or not measured.last:
            continue
        row = [config.label, config.lib, measured.last["versions"].get("openai", "?")]
        for scenario in SCENARIOS:
            row.append(cell(overhead.delta(config, scenario)))
            row.append(cell(overhead.delta(config, scenario, cpu=True)))
        rows.append(row)
    header = [
        "configuration",
        "client",
        "openai",
        "chat: µs/call added",
        "(CPU)",
        "20-chunk stream: µs/call added",
        "(CPU)",
    ]
    return "\n".join(_table(header, rows))
