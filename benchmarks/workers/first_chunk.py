"""Time to first chunk of real streams over loopback, bare or through oaitrace.

Usage: python first_chunk.py --config bare|oaitrace --lib httpx2|httpx --base-url URL --streams N

Each stream is timed from the SDK call to the first chunk it yields, and to
its end. The server (demo_server.py, another process) pauses between chunks,
as a model does, so the writer thread has work in flight when streams start.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from importlib import import_module
from time import perf_counter_ns

from common import emit_result, package_versions
from setups import SETUPS

_REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Tell me about the weather in three sentences."}],
    "stream": True,
    "stream_options": {"include_usage": True},
}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True, choices=("bare", "oaitrace"))
    parser.add_argument("--lib", default="httpx2", choices=("httpx2", "httpx"))
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--streams", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)

    setup = SETUPS[args.config]()
    lib = import_module(args.lib)
    client = setup.openai.OpenAI(
        api_key="sk-benchmark-000000000000000000000000",
        base_url=args.base_url,
        http_client=lib.Client(transport=setup.wrap_transport(args.lib, lib.HTTPTransport())),
        max_retries=0,
    )
    for _ in range(args.warmup):
        for _chunk in client.chat.completions.create(**_REQUEST):
            pass
    # Steady state: the writer's first batch (opening the database) is not a stream's cost.
    setup.finish()
    first_chunk_us: list[float] = []
    total_ms: list[float] = []
    chunks = 0
    for _ in range(args.streams):
        start = perf_counter_ns()
        stream = client.chat.completions.create(**_REQUEST)
        iterator = iter(stream)
        next(iterator)
        first = perf_counter_ns()
        chunks = 1 + sum(1 for _ in iterator)
        end = perf_counter_ns()
        first_chunk_us.append((first - start) / 1000)
        total_ms.append((end - start) / 1e6)
    setup.finish()
    emit_result(
        {
            "first_chunk_us": statistics.median(first_chunk_us),
            "stream_ms": statistics.median(total_ms),
            "chunks_per_stream": chunks,
            "state": setup.describe(),
            "versions": package_versions(),
        }
    )


if __name__ == "__main__":
    main(sys.argv[1:])
