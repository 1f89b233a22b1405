"""Memory: resident size over many recorded requests, and the cost of one huge streamed body.

Usage:
  python memory.py soak --requests N --samples K
  python memory.py big-body --config bare|oaitrace --megabytes 100

`soak` sends N requests through an httpx2 client, oaitrace's transport and a
Recorder writing to SQLite (one in ten a 20-chunk stream, the rest chat
completions), sampling RSS K times. The SDK is left out so that N can be
large: its own memory is not oaitrace's to answer for.

`big-body` reads a body of the given size in 64 KiB network chunks through
the transport and reports the tracemalloc peak while it streams and is stored,
and the same for a body of one chunk (what any download holds); run it with
`--config bare` for the same reads without oaitrace.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from time import perf_counter_ns
from typing import Any

import httpx2
from common import current_rss_bytes, emit_result, package_versions
from edge import OPENAI_HEADERS, chat_handler, stream_handler
from setups import SETUPS, Setup

_CHUNK = 64 * 1024
_CHAT_URL = "https://api.openai.com/v1/chat/completions"
_CHAT_BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}]}'
_STREAM_BODY = _CHAT_BODY[:-1] + b',"stream":true,"stream_options":{"include_usage":true}}'


def _client(setup: Setup, handler: Any) -> httpx2.Client:
    return httpx2.Client(transport=setup.wrap_transport("httpx2", httpx2.MockTransport(handler)))


def soak(requests: int, samples: int) -> dict[str, Any]:
    setup = SETUPS["oaitrace"]()
    chat = _client(setup, chat_handler(httpx2))
    stream = _client(setup, stream_handler(httpx2))
    every = max(1, requests // samples)
    rss_mb: list[tuple[int, float]] = []
    start = perf_counter_ns()
    for index in range(1, requests + 1):
        if index % 10 == 0:
            with stream.stream("POST", _CHAT_URL, content=_STREAM_BODY) as response:
                for _chunk in response.iter_raw():
                    pass
        else:
            chat.post(_CHAT_URL, content=_CHAT_BODY).read()
        if index % every == 0:
            if setup.telemetry is not None:
                setup.telemetry.take_span_count()  # the in-memory exporter is ours, not oaitrace's
            rss_mb.append((index, current_rss_bytes() / 2**20))
    setup.finish()
    elapsed_s = (perf_counter_ns() - start) / 1e9
    return {
        "requests": requests,
        "rss_mb": rss_mb,
        "elapsed_s": elapsed_s,
        "state": setup.describe(),
    }


class _LargeBody(httpx2.SyncByteStream):
    """A body of `total` bytes in fresh 64 KiB chunks, as socket reads would produce."""

    def __init__(self, total: int) -> None:
        self._total = total

    def __iter__(self) -> Iterator[bytes]:
        left = self._total
        while left > 0:
            size = min(_CHUNK, left)
            yield bytes(size)
            left -= size


def big_body(config: str, megabytes: int) -> dict[str, Any]:
    setup = SETUPS[config]()
    size = [_CHUNK]
    headers = {**OPENAI_HEADERS, "content-type": "application/octet-stream"}

    def handler(request: Any) -> Any:
        return httpx2.Response(200, headers=headers, stream=_LargeBody(size[0]))

    client = _client(setup, handler)
    url = "https://api.openai.com/v1/files/file-abc123/content"

    def download() -> dict[str, int]:
        """One download of `size[0]` bytes, stored: the tracemalloc peak and RSS growth."""
        gc.collect()
        rss_before = current_rss_bytes()
        tracemalloc.start()
        baseline, _ = tracemalloc.get_traced_memory()
        received = 0
        with client.stream("GET", url) as response:
            for chunk in response.iter_raw():
                received += len(chunk)
        setup.finish()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_delta = current_rss_bytes() - rss_before
        return {"received": received, "peak": peak - baseline, "rss_delta": rss_delta}

    download()  # warm-up: imports, first-use caches, the database's first pages
    # One network chunk: what any download holds (the request's own
    # bookkeeping), so that the big body's cost can be told from it.
    small = download()
    size[0] = megabytes * 2**20
    big = download()
    return {
        "received_bytes": big["received"],
        "tracemalloc_peak_bytes": big["peak"],
        "rss_delta_bytes": big["rss_delta"],
        "small_body_bytes": small["received"],
        "small_body_peak_bytes": small["peak"],
        "state": setup.describe(),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    soak_parser = commands.add_parser("soak")
    soak_parser.add_argument("--requests", type=int, default=200_000)
    soak_parser.add_argument("--samples", type=int, default=20)
    big_parser = commands.add_parser("big-body")
    big_parser.add_argument("--config", required=True, choices=("bare", "oaitrace"))
    big_parser.add_argument("--megabytes", type=int, default=100)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="oaitrace-bench-") as directory:
        tempfile.tempdir = str(Path(directory))  # the Recorder's database goes in here
        if args.command == "soak":
            result = soak(args.requests, args.samples)
        else:
            result = big_body(args.config, args.megabytes)
    emit_result({**result, "versions": package_versions()})


if __name__ == "__main__":
    main(sys.argv[1:])
