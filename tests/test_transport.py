"""The recording transports: exact pass-through, and one Exchange per attempt however it ends."""

from __future__ import annotations

import asyncio
import gc
import importlib
from collections.abc import AsyncIterator, Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from oaitrace._exchange import Exchange, joined_body
from tests.factories import CollectingSink

LIBRARIES = ["httpx", "httpx2"]

SSE_CHUNKS = [
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n',
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"lo"}}]}\n\n',
    b"data: [DONE]\n\n",
]


class Flaky(Exception):
    """The network failure a test injects."""


def chunk_stream(lib: ModuleType, chunks: list[bytes], fail_after: int | None = None) -> Any:
    """A response stream of the library's own type that yields chunks, maybe failing."""

    class Stream(lib.SyncByteStream, lib.AsyncByteStream):  # type: ignore[name-defined,misc]
        closed = False

        def __iter__(self) -> Iterator[bytes]:
            for index, chunk in enumerate(chunks):
                if fail_after is not None and index == fail_after:
                    message = "connection reset"
                    raise lib.ReadError(message)
                yield chunk

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for index, chunk in enumerate(chunks):
                if fail_after is not None and index == fail_after:
                    message = "connection reset"
                    raise lib.ReadError(message)
                yield chunk

        def close(self) -> None:
            self.closed = True

        async def aclose(self) -> None:
            self.closed = True

    return Stream()


def make_client(
    lib: ModuleType,
    sink: CollectingSink,
    handler: Callable[[Any], Any],
    *,
    asynchronous: bool = False,
) -> Any:
    module = importlib.import_module(f"oaitrace.{lib.__name__}")
    inner = lib.MockTransport(handler)
    if asynchronous:
        transport = module.AsyncRecordingTransport(recorder=sink, transport=inner)
        return lib.AsyncClient(transport=transport, base_url="https://api.openai.com/v1")
    transport = module.RecordingTransport(recorder=sink, transport=inner)
    return lib.Client(transport=transport, base_url="https://api.openai.com/v1")


@pytest.fixture(params=LIBRARIES)
def lib(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(request.param)


class TestPassThrough:
    def test_body_and_headers_are_unchanged(self, lib: ModuleType) -> None:
        """The caller receives the inner transport's status, headers and bytes exactly."""
        sink = CollectingSink()
        headers = {"x-request-id": "req_1", "content-type": "text/event-stream"}

        def handler(request: Any) -> Any:
            return lib.Response(200, headers=headers, stream=chunk_stream(lib, SSE_CHUNKS))

        with (
            make_client(lib, sink, handler) as client,
            client.stream("POST", "/chat/completions", json={}) as response,
        ):
            received = list(response.iter_raw())
            assert response.status_code == 200
            assert response.headers["x-request-id"] == "req_1"
        assert received == SSE_CHUNKS
        assert [b"".join(SSE_CHUNKS)] == [b"".join(sink.exchanges[0].response_chunks)]

    def test_exception_from_inner_transport_is_the_same_object(self, lib: ModuleType) -> None:
        """A connection error reaches the caller as the very exception raised, and is recorded."""
        sink = CollectingSink()
        raised = lib.ConnectError("refused")

        def handler(request: Any) -> Any:
            raise raised

        with make_client(lib, sink, handler) as client, pytest.raises(lib.ConnectError) as caught:
            client.post("/chat/completions", json={"model": "gpt-4o"})
        assert caught.value is raised
        exchange = sink.exchanges[0]
        assert (None, False, "ConnectError") == (
            exchange.status_code,
            exchange.complete,
            exchange.error_type,
        )

    def test_extensions_are_kept(self, lib: ModuleType) -> None:
        """Response extensions from the inner transport reach the caller."""
        sink = CollectingSink()

        def handler(request: Any) -> Any:
            return lib.Response(
                200, content=b"{}", extensions={"http_version": b"HTTP/1.1", "marker": 42}
            )

        with make_client(lib, sink, handler) as client:
            response = client.get("/models")
        assert response.extensions["marker"] == 42


class TestExchangeCapture:
    def test_fully_read_stream_is_complete(self, lib: ModuleType) -> None:
        """A stream read to its end yields one complete Exchange with every chunk timed."""
        sink = CollectingSink()

        def handler(request: Any) -> Any:
            return lib.Response(200, stream=chunk_stream(lib, SSE_CHUNKS))

        with make_client(lib, sink, handler) as client:
            client.post("/chat/completions", json={"model": "gpt-4o", "stream": True})
        (exchange,) = sink.exchanges
        assert exchange.complete is True
        assert len(exchange.chunk_arrival_ns) == len(SSE_CHUNKS)
        assert exchange.response_bytes == sum(map(len, SSE_CHUNKS))
        assert exchange.method == "POST"
        assert exchange.url == "https://api.openai.com/v1/chat/completions"
        assert exchange.request_body == b'{"model":"gpt-4o","stream":true}'
        assert exchange.headers_ns is not None
        assert exchange.duration_ns >= exchange.headers_ns

    def test_early_close_is_incomplete_with_what_was_seen(self, lib: ModuleType) -> None:
        """Closing a stream after one chunk records it incomplete, keeping that chunk."""
        sink = CollectingSink()

        def handler(request: Any) -> Any:
            return lib.Response(200, stream=chunk_stream(lib, SSE_CHUNKS))

        with (
            make_client(lib, sink, handler) as client,
            client.stream("POST", "/chat/completions", json={}) as response,
        ):
            first = next(response.iter_raw())
        (exchange,) = sink.exchanges
        assert first == SSE_CHUNKS[0]
        assert (False, None) == (exchange.complete, exchange.error_type)
        assert list(exchange.response_chunks) == [SSE_CHUNKS[0]]

    def test_network_error_mid_stream_is_recorded_and_reraised(self, lib: ModuleType) -> None:
        """A stream cut by the network is recorded incomplete with the error; the caller gets it."""
        sink = CollectingSink()

        def handler(request: Any) -> Any:
            return lib.Response(200, stream=chunk_stream(lib, SSE_CHUNKS, fail_after=2))

        with make_client(lib, sink, handler) as client, pytest.raises(lib.ReadError):
            client.post("/chat/completions", json={})
        (exchange,) = sink.exchanges
        assert (False, "ReadError", 2) == (
            exchange.complete,
            exchange.error_type,
            len(exchange.response_chunks),
        )

    def test_stream_never_read_is_recorded_when_collected(self, lib: ModuleType) -> None:
        """A response dropped unread is recorded, incomplete, when it is garbage-collected."""
        sink = CollectingSink()

        def handler(request: Any) -> Any:
            return lib.Response(200, stream=chunk_stream(lib, SSE_CHUNKS))

        with make_client(lib, sink, handler) as client:
            request = client.build_request("POST", "/chat/completions", json={})
            response = client.send(request, stream=True)
            assert sink.exchanges == []
            del response
            gc.collect()
        (exchange,) = sink.exchanges
        assert (200, False, 0) == (exchange.status_code, exchange.complete, exchange.response_bytes)

    def test_body_beyond_capture_limit_is_counted_not_kept(self, lib: ModuleType) -> None:
        """Past the capture limit the bytes are passed on and counted but not kept."""
        sink = CollectingSink(capture_limit=100)
        chunks = [b"x" * 60, b"y" * 60, b"z" * 60]

        def handler(request: Any) -> Any:
            return lib.Response(200, stream=chunk_stream(lib, chunks))

        with make_client(lib, sink, handler) as client:
            body = client.get("/files/file-1/content").content
        (exchange,) = sink.exchanges
        assert body == b"".join(chunks)
        assert (180, True) == (exchange.response_bytes, exchange.response_truncated)
        # Head and tail share the cap: 82 bytes of head, the last 6 bytes.
        assert (b"x" * 60 + b"y" * 22, b"z" * 6, 2) == (
            joined_body(exchange.response_chunks),
            exchange.response_tail,
            len(exchange.chunk_arrival_ns),
        )

    def test_streamed_request_body_is_not_consumed(self, lib: ModuleType) -> None:
        """A multipart upload reaches the server whole and oaitrace does not read it."""
        sink = CollectingSink()
        seen: list[bytes] = []

        def handler(request: Any) -> Any:
            seen.append(request.read())
            return lib.Response(200, json={"id": "file-1"})

        with make_client(lib, sink, handler) as client:
            client.post("/files", files={"file": ("a.jsonl", b"line\n")}, data={"purpose": "batch"})
        assert b"line\n" in seen[0]
        assert sink.exchanges[0].request_body is None

    def test_queued_exchanges_hold_few_collected_objects(self, lib: ModuleType) -> None:
        """An Exchange holds a handful of objects the garbage collector counts, not one per header.

        Every new tracked object a queued Exchange holds counts towards the
        next young collection; forty header pairs per Exchange made
        collections (and full ones) several times as frequent in the
        application's process.
        """
        sink = CollectingSink()
        headers = {f"x-header-{index}": str(index) for index in range(30)}

        def handler(request: Any) -> Any:
            return lib.Response(200, headers=headers, json={"ok": True})

        gc.disable()  # a collection would untrack tuples of bytes before they are counted
        try:
            with make_client(lib, sink, handler) as client:
                client.post("/chat/completions", json={}, headers={"x-a": "1", "x-b": "2"})
            (exchange,) = sink.exchanges
            held = [
                getattr(exchange, name)
                for name in Exchange.__dataclass_fields__
                if gc.is_tracked(getattr(exchange, name))
            ]
            inner = [
                item
                for value in held
                if isinstance(value, tuple | list)
                for item in value
                if gc.is_tracked(item)
            ]
        finally:
            gc.enable()
        assert len(held) + len(inner) < 12, (held, inner[:3])
        assert all(type(value) is bytes for value in exchange.response_headers)


class TestAsync:
    def test_async_stream_pass_through_and_capture(self, lib: ModuleType) -> None:
        """The async transport passes chunks through and records a complete Exchange."""
        sink = CollectingSink()

        def handler(request: Any) -> Any:
            return lib.Response(200, stream=chunk_stream(lib, SSE_CHUNKS))

        async def run() -> list[bytes]:
            async with (
                make_client(lib, sink, handler, asynchronous=True) as client,
                client.stream("POST", "/chat/completions", json={}) as response,
            ):
                return [chunk async for chunk in response.aiter_raw()]

        assert asyncio.run(run()) == SSE_CHUNKS
        assert [True] == [exchange.complete for exchange in sink.exchanges]

    def test_cancelled_task_is_recorded_incomplete(self, lib: ModuleType) -> None:
        """A task cancelled mid-stream is recorded, incomplete, with CancelledError."""
        sink = CollectingSink()
        release = asyncio.Event()

        class SlowStream(lib.AsyncByteStream):  # type: ignore[name-defined,misc]
            async def __aiter__(self) -> AsyncIterator[bytes]:
                yield SSE_CHUNKS[0]
                await release.wait()
                yield SSE_CHUNKS[1]

        def handler(request: Any) -> Any:
            return lib.Response(200, stream=SlowStream())

        async def consume(client: Any) -> None:
            async with client.stream("POST", "/chat/completions", json={}) as response:
                async for _ in response.aiter_raw():
                    pass

        async def run() -> None:
            async with make_client(lib, sink, handler, asynchronous=True) as client:
                task = asyncio.create_task(consume(client))
                await asyncio.sleep(0.01)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

        asyncio.run(run())
        (exchange,) = sink.exchanges
        assert (False, "CancelledError", 1) == (
            exchange.complete,
            exchange.error_type,
            len(exchange.response_chunks),
        )
