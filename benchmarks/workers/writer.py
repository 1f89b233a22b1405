"""Writer throughput: exchanges per second from `Recorder.emit` until `flush()` returns.

Usage: python writer.py --database-url URL --kind chat|stream --batch-size B --records N
       [--no-telemetry]

The exchanges are real ones (taken by the transport from SDK calls) with
distinct start times; the queue is sized to hold them all so that nothing is
dropped and the figure is the writer's: parse, span, cost, batched INSERT.
With `--no-telemetry` no OpenTelemetry SDK is installed (the API's no-op
tracer and meter): what parsing, pricing and storage alone cost.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from time import perf_counter_ns, process_time_ns

from common import emit_result, package_versions
from exchanges import sample_exchange
from telemetry import in_memory_telemetry

import oaitrace

_WARMUP = 200
_FLUSH_TIMEOUT_S = 600.0


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--kind", required=True, choices=("chat", "stream"))
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--no-telemetry", action="store_true")
    args = parser.parse_args(argv)

    template = sample_exchange(args.kind)
    exchanges = [
        dataclasses.replace(template, started_at_ns=template.started_at_ns + index * 1000)
        for index in range(_WARMUP + args.records)
    ]
    telemetry = None if args.no_telemetry else in_memory_telemetry()
    recorder = oaitrace.Recorder(
        database_url=args.database_url,
        tracer_provider=None if telemetry is None else telemetry.tracer_provider,
        meter_provider=None if telemetry is None else telemetry.meter_provider,
        batch_size=args.batch_size,
        max_queue_size=len(exchanges) + 1,
    )
    # The first batch creates the schema and warms the connection: not timed.
    for exchange in exchanges[:_WARMUP]:
        recorder.emit(exchange)
    recorder.flush(_FLUSH_TIMEOUT_S)
    if telemetry is not None:
        telemetry.take_span_count()

    start, start_cpu = perf_counter_ns(), process_time_ns()
    for exchange in exchanges[_WARMUP:]:
        recorder.emit(exchange)
    stored = recorder.flush(_FLUSH_TIMEOUT_S)
    wall_s = (perf_counter_ns() - start) / 1e9
    cpu_s = (process_time_ns() - start_cpu) / 1e9
    if not stored or recorder.stored_count != len(exchanges):
        msg = f"stored {recorder.stored_count} of {len(exchanges)} (lost {recorder.lost_count})"
        raise SystemExit(msg)
    spans = 0 if telemetry is None else telemetry.take_span_count()
    recorder.close()
    emit_result(
        {
            "records_per_s": args.records / wall_s,
            "cpu_us_per_record": cpu_s / args.records * 1e6,
            "spans_per_record": spans / args.records,
            "versions": package_versions(),
        }
    )


if __name__ == "__main__":
    main(sys.argv[1:])
