"""Report latency over 1,000,000 records, when benchmarks/generate.py exists.

That benchmark belongs to the reports work; generate.py fills a database
(`generate.py PATH -n N`). The hook runs it with oaitrace's environment and
times every report of `oaitrace.query.Query` on the result (workers/reports.py).
Without generate.py the section says so and nothing runs.
"""

from __future__ import annotations

from pathlib import Path

from .envs import BENCHMARKS_DIR
from .procs import WorkerError, run_worker

__all__ = ["GENERATE_SCRIPT", "run_reports_benchmark"]

GENERATE_SCRIPT = BENCHMARKS_DIR / "generate.py"
_TIMEOUT_S = 3600
_BUDGET_S = 1.0


def run_reports_benchmark(python: Path, *, records: int) -> str:
    """The section's Markdown: a table of report latencies, or why there is none."""
    if not GENERATE_SCRIPT.exists():
        return "Not measured: benchmarks/generate.py does not exist yet."
    arguments = ["--records", str(records), "--generate", str(GENERATE_SCRIPT)]
    try:
        result = run_worker(python, "reports.py", arguments, timeout_s=_TIMEOUT_S)
    except WorkerError as exc:
        return f"Not measured: {exc}"
    lines = [
        f"{result['records']:,} records made by benchmarks/generate.py in "
        f"{result['generate_s']:.0f} s (SQLite); each report of `Query` with its defaults, "
        f"the first run, then the median of 3 more. Budget: under {_BUDGET_S:g} s at "
        "1,000,000 records. The first `latency` also stores the summaries of the complete "
        "hours and days it read, which the later ones merge.",
        "",
        "| report | first run, s | then, s |",
        "|---|---|---|",
    ]
    for name, value in result["report_s"].items():
        if isinstance(value, list):
            lines.append(f"| {name} | {value[0]:.3f} | {value[1]:.3f} |")
        else:
            lines.append(f"| {name} | {value} | |")
    return "\n".join(lines)
