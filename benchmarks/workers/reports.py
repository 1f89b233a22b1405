"""Report latency: fill a database with benchmarks/generate.py, then time each Query report.

Usage: python reports.py --records N

generate.py belongs to the reports work; this only calls it (`path -n N`) and
times every report method of `oaitrace.query.Query` that takes no required
argument on the filled database: once, then three times more (the median).
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter

from common import emit_result, package_versions

_REPORTS = ("usage", "costs", "errors", "latency", "ratelimits", "retries", "slowest")
_REPEATS = 3


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--generate", required=True, help="path of generate.py")
    args = parser.parse_args(argv)
    from oaitrace.query import Query  # noqa: PLC0415 - after argument errors, which are quick

    with tempfile.TemporaryDirectory(prefix="oaitrace-bench-reports-") as directory:
        database = Path(directory) / "reports.db"
        start = perf_counter()
        subprocess.run(  # noqa: S603 - this interpreter, the repository's script
            [sys.executable, args.generate, str(database), "-n", str(args.records)],
            check=True,
            capture_output=True,
        )
        generate_s = perf_counter() - start
        query = Query(database_url=f"sqlite:///{database}")
        timings: dict[str, list[float] | str] = {}
        for name in _REPORTS:
            report = getattr(query, name, None)
            if report is None:
                timings[name] = "not in Query"
                continue
            required = [
                p
                for p in inspect.signature(report).parameters.values()
                if p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            ]
            if required:
                timings[name] = "needs arguments"
                continue
            seconds = []
            try:
                # The first run apart: latency stores hour summaries in it.
                for _ in range(1 + _REPEATS):
                    start = perf_counter()
                    report()
                    seconds.append(perf_counter() - start)
            except Exception as exc:  # report what failed, keep timing the rest
                timings[name] = f"failed: {type(exc).__name__}: {exc}"[:200]
                continue
            timings[name] = [seconds[0], statistics.median(seconds[1:])]
        query.close()
    emit_result(
        {
            "records": args.records,
            "generate_s": generate_s,
            "report_s": timings,
            "versions": package_versions(),
        }
    )


if __name__ == "__main__":
    main(sys.argv[1:])
