"""Per-call time of the real openai SDK over a mock transport, in one configuration.

Usage: python overhead.py --config NAME --lib httpx2|httpx [--chat-calls N] [--stream-calls M]

Times N non-streaming chat calls, then M 20-chunk streams with usage, each
block followed by the configuration's `finish` (oaitrace: `recorder.flush()`),
and prints the microseconds per call of each block.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable
from importlib import import_module
from time import perf_counter_ns, process_time_ns
from typing import Any

from common import emit_result, package_versions
from edge import CHAT_REQUEST, chat_handler, stream_handler
from setups import SETUPS, Setup

SCENARIOS = ("chat", "stream")
READY_MARKER = "@@oaitrace-bench-ready"


def build_call(setup: Setup, lib_name: str, scenario: str) -> Callable[[], object]:
    """One SDK call of the scenario, through the configuration's wrapped transport."""
    lib = import_module(lib_name)
    handler = chat_handler(lib) if scenario == "chat" else stream_handler(lib)
    transport = setup.wrap_transport(lib_name, lib.MockTransport(handler))
    client = setup.openai.OpenAI(
        api_key="sk-benchmark-000000000000000000000000",
        base_url="https://api.openai.com/v1",
        http_client=lib.Client(transport=transport),
        max_retries=0,
    )
    create = client.chat.completions.create
    if scenario == "chat":
        return lambda: create(**CHAT_REQUEST)

    def stream() -> int:
        chunks = 0
        for _chunk in create(**CHAT_REQUEST, stream=True, stream_options={"include_usage": True}):
            chunks += 1
        return chunks

    return stream


def time_block(
    call: Callable[[], object], calls: int, finish: Callable[[], None]
) -> tuple[float, float]:
    """Wall and CPU (all threads) microseconds per call, for `calls` calls plus `finish()`."""
    start, start_cpu = perf_counter_ns(), process_time_ns()
    for _ in range(calls):
        call()
    finish()
    wall, cpu = perf_counter_ns() - start, process_time_ns() - start_cpu
    return wall / calls / 1000, cpu / calls / 1000


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True, choices=sorted(SETUPS))
    parser.add_argument("--lib", required=True, choices=("httpx2", "httpx"))
    parser.add_argument("--chat-calls", type=int, default=1000)
    parser.add_argument("--stream-calls", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument(
        "--wait-for-profiler",
        action="store_true",
        help="after the warm-up, print a ready line and wait for one line on stdin",
    )
    args = parser.parse_args(argv)

    setup = SETUPS[args.config]()
    calls = {scenario: build_call(setup, args.lib, scenario) for scenario in args.scenarios}
    for call in calls.values():
        for _ in range(args.warmup):
            call()
    setup.finish()
    # What the warm-up left for the collector (imports: oaitrace's first
    # flush creates the database and imports Alembic to do it) would be
    # walked by the first full collection, in whichever timed block it
    # fell: 25-100 µs a call over a block. Collected now, in every
    # configuration alike; the collections the timed calls cause still count.
    gc.collect()
    if setup.telemetry is not None:
        setup.telemetry.take_span_count()
    if args.wait_for_profiler:
        # Imports, schema creation and first-use caches stay out of the profile.
        print(READY_MARKER, flush=True)
        sys.stdin.readline()

    per_call_us: dict[str, float] = {}
    cpu_per_call_us: dict[str, float] = {}
    spans_per_call: dict[str, float | None] = {}
    counts = {"chat": args.chat_calls, "stream": args.stream_calls}
    for scenario, call in calls.items():
        per_call_us[scenario], cpu_per_call_us[scenario] = time_block(
            call, counts[scenario], setup.finish
        )
        spans = None if setup.telemetry is None else setup.telemetry.take_span_count()
        spans_per_call[scenario] = None if spans is None else spans / counts[scenario]
    result: dict[str, Any] = {
        "per_call_us": per_call_us,
        "cpu_per_call_us": cpu_per_call_us,
        "spans_per_call": spans_per_call,
        "notes": setup.notes,
        "state": {} if args.wait_for_profiler else setup.describe(),
        "versions": package_versions(),
    }
    emit_result(result)


if __name__ == "__main__":
    main(sys.argv[1:])
