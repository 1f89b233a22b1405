"""Pre-fork servers and asyncio at scale: nothing written twice, nothing lost, nothing leaked."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

import oaitrace
from oaitrace.httpx2 import AsyncRecordingTransport, RecordingTransport
from oaitrace.query import Query
from tests.openai_edge import CHAT_COMPLETION, OPENAI_HEADERS, chat_stream_events

URL = "https://api.openai.com/v1/chat/completions"
STREAM_CHUNKS = chat_stream_events(include_usage=True)
STREAM_BODY = b"".join(STREAM_CHUNKS)


def chat_handler(request: httpx2.Request) -> httpx2.Response:
    headers = {**OPENAI_HEADERS, "content-type": "application/json"}
    return httpx2.Response(200, headers=headers, json=CHAT_COMPLETION)


def tag_counts(database: Path) -> Counter[str]:
    with Query(str(database)) as query:
        return Counter(record.tags.get("seq", "") for record in query.requests(limit=100_000))


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
class TestPreFork:
    def test_workers_forked_from_a_recording_parent(self, tmp_path: Path) -> None:
        """Like gunicorn: a parent that recorded forks 2 workers; each record is stored once."""
        database = tmp_path / "prefork.db"
        # A long interval: the parent's records are still queued when it forks.
        recorder = oaitrace.Recorder(str(database), flush_interval=60, batch_size=10_000)
        client = httpx2.Client(
            transport=RecordingTransport(
                recorder=recorder, transport=httpx2.MockTransport(chat_handler)
            )
        )
        try:
            for index in range(25):
                with oaitrace.tags(seq=f"parent-{index}"):
                    client.post(URL, json={"model": "gpt-4o-mini"})
            children = []
            for worker in range(2):
                pid = os.fork()
                if pid == 0:  # pragma: no cover - runs in the child
                    status = 1
                    try:
                        for index in range(40):
                            with oaitrace.tags(seq=f"worker{worker}-{index}"):
                                client.post(URL, json={"model": "gpt-4o-mini"})
                        status = 0 if recorder.close(timeout=30) else 3
                    finally:
                        os._exit(status)
                children.append(pid)
            for index in range(25, 35):
                with oaitrace.tags(seq=f"parent-{index}"):
                    client.post(URL, json={"model": "gpt-4o-mini"})
            exit_codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
            assert recorder.flush(timeout=30)
        finally:
            client.close()
            recorder.close()

        counts = tag_counts(database)
        expected_tags = {f"parent-{i}" for i in range(35)} | {
            f"worker{w}-{i}" for w in range(2) for i in range(40)
        }
        expected: tuple[list[int], set[str], dict[str, int]] = ([0, 0], expected_tags, {})
        actual = (exit_codes, set(counts), {tag: n for tag, n in counts.items() if n != 1})
        assert expected == actual


class SlowStream(httpx2.AsyncByteStream):
    """An SSE body that yields to the event loop between chunks, like a socket."""

    def __init__(self, chunks: list[bytes], pause_s: float) -> None:
        self._chunks = chunks
        self._pause_s = pause_s

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            await asyncio.sleep(self._pause_s)
            yield chunk


async def stream_handler(request: httpx2.Request) -> httpx2.Response:
    pause = float(request.headers.get("x-test-pause", "0"))
    headers = {**OPENAI_HEADERS, "content-type": "text/event-stream"}
    return httpx2.Response(200, headers=headers, stream=SlowStream(STREAM_CHUNKS, pause))


def async_client(recorder: oaitrace.Recorder) -> httpx2.AsyncClient:
    transport = AsyncRecordingTransport(
        recorder=recorder, transport=httpx2.MockTransport(stream_handler)
    )
    return httpx2.AsyncClient(
        transport=transport, limits=httpx2.Limits(max_connections=None), timeout=60
    )


async def read_stream(client: httpx2.AsyncClient, seq: str, pause_s: float) -> bytes:
    with oaitrace.tags(seq=seq):
        body = {"model": "gpt-4o-mini", "stream": True}
        headers = {"x-test-pause": str(pause_s)}
        async with client.stream("POST", URL, json=body, headers=headers) as response:
            return b"".join([chunk async for chunk in response.aiter_raw()])


class TestAsyncStreams:
    def test_thousand_concurrent_streams_and_no_leaks(self, tmp_path: Path) -> None:
        """1,000 concurrent SSE streams are all recorded complete; no task, thread or fd leaks."""
        database = tmp_path / "async.db"
        gc.collect()
        threads_before = set(threading.enumerate())
        fds_before = open_fds()

        async def main() -> tuple[list[bytes], set[asyncio.Task[Any]]]:
            async with async_client(recorder) as client:
                bodies = await asyncio.gather(
                    *(read_stream(client, f"s-{index}", 0.001) for index in range(1000))
                )
            return bodies, {
                task for task in asyncio.all_tasks() if task is not asyncio.current_task()
            }

        recorder = oaitrace.Recorder(str(database), batch_size=500)
        bodies, leftover_tasks = asyncio.run(main())
        assert recorder.flush(timeout=60)
        with Query(str(database)) as query:
            records = query.requests(limit=5000)
        recorder.close()
        gc.collect()

        expected = {
            "bodies_identical": True,
            "stored": 1000,
            "distinct_tags": 1000,
            "incomplete": 0,
            "output_tokens": {20},
            "leftover_tasks": set(),
            "new_threads": set(),
            "new_fds": set(),
        }
        actual = {
            "bodies_identical": all(body == STREAM_BODY for body in bodies),
            "stored": len(records),
            "distinct_tags": len({record.tags["seq"] for record in records}),
            "incomplete": sum(1 for record in records if not record.complete),
            "output_tokens": {record.output_tokens for record in records},
            "leftover_tasks": leftover_tasks,
            "new_threads": set(threading.enumerate()) - threads_before,
            "new_fds": open_fds() - fds_before,
        }
        assert expected == actual

    def test_task_cancelled_mid_stream_is_recorded_incomplete(self, tmp_path: Path) -> None:
        """A task cancelled after three chunks is stored once, incomplete, with the cancellation."""
        database = tmp_path / "cancel.db"

        async def main() -> None:
            started = asyncio.Event()
            async with async_client(recorder) as client:

                async def consume() -> None:
                    with oaitrace.tags(seq="cancelled"):
                        body = {"model": "gpt-4o-mini", "stream": True}
                        headers = {"x-test-pause": "0.01"}
                        async with client.stream("POST", URL, json=body, headers=headers) as resp:
                            async for index, _ in _enumerate(resp.aiter_raw()):
                                if index == 2:
                                    started.set()

                task = asyncio.create_task(consume())
                await started.wait()
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

        with oaitrace.Recorder(str(database)) as recorder:
            asyncio.run(main())
            assert recorder.flush(timeout=10)
            with Query(str(database)) as query:
                records = query.requests(limit=10)

        expected = [("cancelled", False, 200, "CancelledError")]
        actual = [
            (record.tags.get("seq"), record.complete, record.status_code, record.error_type)
            for record in records
        ]
        assert expected == actual


async def _enumerate(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    index = 0
    async for chunk in chunks:
        yield index, chunk
        index += 1
