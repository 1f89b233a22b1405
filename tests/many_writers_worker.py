"""One writer process of tests/test_many_writers.py (run as `python -m tests.many_writers_worker`).

It records through the real transports into the database given on the
command line: several threads on `oaitrace.httpx2.RecordingTransport` and an
asyncio loop on `oaitrace.httpx.AsyncRecordingTransport`, half the requests
streamed. Every request carries a unique `seq` tag. It prints one JSON line
of the recorder's counters and everything structlog logged.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from typing import Any

import httpx
import httpx2
import structlog
from structlog.testing import capture_logs

import oaitrace
from oaitrace.httpx import AsyncRecordingTransport
from oaitrace.httpx2 import RecordingTransport
from tests.openai_edge import CHAT_COMPLETION, OPENAI_HEADERS, chat_stream_events, iterator_stream

URL = "https://api.openai.com/v1/chat/completions"


def handler(lib: Any) -> Any:
    def handle(request: Any) -> Any:
        if json.loads(request.content).get("stream"):
            headers = {**OPENAI_HEADERS, "content-type": "text/event-stream"}
            return lib.Response(
                200, headers=headers, stream=iterator_stream(lib, chat_stream_events(True))
            )
        content = json.dumps(CHAT_COMPLETION).encode()
        headers = {**OPENAI_HEADERS, "content-type": "application/json"}
        return lib.Response(200, headers=headers, stream=iterator_stream(lib, [content]))

    return handle


def body(index: int) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [], "stream": index % 2 == 1}


def run_thread(recorder: oaitrace.Recorder, name: str, count: int) -> None:
    transport = RecordingTransport(
        recorder=recorder, transport=httpx2.MockTransport(handler(httpx2))
    )
    with httpx2.Client(transport=transport) as client:
        for index in range(count):
            with oaitrace.tags(seq=f"{name}-{index}"):
                response = client.post(URL, json=body(index))
                response.read()


async def run_loop(recorder: oaitrace.Recorder, name: str, count: int) -> None:
    transport = AsyncRecordingTransport(
        recorder=recorder, transport=httpx.MockTransport(handler(httpx))
    )
    async with httpx.AsyncClient(transport=transport) as client:

        async def one(index: int) -> None:
            with oaitrace.tags(seq=f"{name}-{index}"):
                response = await client.post(URL, json=body(index))
                await response.aread()

        await asyncio.gather(*(one(index) for index in range(count)))


def main() -> None:
    database_url, worker, threads, per_task = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:5])
    # Small batches and a short interval: many transactions from every process.
    with capture_logs() as logs:
        recorder = oaitrace.Recorder(database_url, batch_size=25, flush_interval=0.02)
        workers = [
            threading.Thread(target=run_thread, args=(recorder, f"{worker}-t{n}", per_task))
            for n in range(threads)
        ]
        for thread in workers:
            thread.start()
        asyncio.run(run_loop(recorder, f"{worker}-async", per_task))
        for thread in workers:
            thread.join()
        stored_all = recorder.close(timeout=60)
    counters = {
        "stored_all": stored_all,
        "stored": recorder.stored_count,
        "dropped": recorder.dropped_count,
        "lost": recorder.lost_count,
        "internal_errors": recorder.internal_error_count,
        "parse_errors": recorder.parse_error_count,
        "logs": [{key: str(value) for key, value in entry.items()} for entry in logs],
    }
    print(json.dumps(counters))


if __name__ == "__main__":
    structlog.reset_defaults()
    main()
