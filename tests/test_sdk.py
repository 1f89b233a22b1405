"""The real openai SDK through oaitrace: byte-identical results and the right stored records.

Runs against openai 3.x (httpx2 and legacy httpx clients) and, in CI's second
environment, openai 2.x (httpx clients only).
"""

from __future__ import annotations

import asyncio
import importlib
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

import oaitrace
from oaitrace.query import Query, RequestRecord
from tests.openai_edge import openai_handler

OPENAI_MAJOR = int(openai.__version__.split(".")[0])
# openai 3.x talks httpx2 and still accepts a legacy httpx client; 2.x only httpx.
LIBRARIES = ["httpx2", "httpx"] if OPENAI_MAJOR >= 3 else ["httpx"]
API_KEY = "sk-proj-Zx81TESTKEYdoNotLeak0123456789abcdefABCDEF"
CHAT_ARGS: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Say hello"}],
}


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[oaitrace.Recorder]:
    with oaitrace.Recorder(database_url=f"sqlite:///{tmp_path / 'trace.db'}") as recorder:
        yield recorder


@pytest.fixture(params=LIBRARIES)
def lib_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_clients(lib_name: str, recorder: oaitrace.Recorder) -> tuple[Any, Any]:
    """A bare client and a recording client over the same network edge."""
    lib = importlib.import_module(lib_name)
    transports = importlib.import_module(f"oaitrace.{lib_name}")
    handler = openai_handler(lib)
    bare = lib.Client(transport=lib.MockTransport(handler))
    recording = lib.Client(
        transport=transports.RecordingTransport(
            recorder=recorder, transport=lib.MockTransport(handler)
        )
    )
    return (
        openai.OpenAI(api_key=API_KEY, base_url="https://api.openai.com/v1", http_client=bare),
        openai.OpenAI(api_key=API_KEY, base_url="https://api.openai.com/v1", http_client=recording),
    )


def make_async_clients(lib_name: str, recorder: oaitrace.Recorder) -> tuple[Any, Any]:
    lib = importlib.import_module(lib_name)
    transports = importlib.import_module(f"oaitrace.{lib_name}")
    handler = openai_handler(lib)
    bare = lib.AsyncClient(transport=lib.MockTransport(handler))
    recording = lib.AsyncClient(
        transport=transports.AsyncRecordingTransport(
            recorder=recorder, transport=lib.MockTransport(handler)
        )
    )
    base = "https://api.openai.com/v1"
    return (
        openai.AsyncOpenAI(api_key=API_KEY, base_url=base, http_client=bare),
        openai.AsyncOpenAI(api_key=API_KEY, base_url=base, http_client=recording),
    )


def stored(recorder: oaitrace.Recorder) -> list[RequestRecord]:
    assert recorder.flush(timeout=10)
    with Query(recorder.database_url) as query:
        return list(reversed(query.requests(limit=1000)))


def assert_openai_headers(record: RequestRecord) -> None:
    assert (
        "req_0123456789abcdef",
        321.0,
        "2020-10-01",
        "org-test",
        "proj_test",
    ) == (
        record.request_id,
        record.processing_ms,
        record.openai_version,
        record.organization,
        record.project,
    )
    assert (10000, 9999, 0.006, 2000000, 1999950, 62.5) == (
        record.ratelimit_limit_requests,
        record.ratelimit_remaining_requests,
        record.ratelimit_reset_requests_s,
        record.ratelimit_limit_tokens,
        record.ratelimit_remaining_tokens,
        record.ratelimit_reset_tokens_s,
    )


def raw_view(raw: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    response = raw.http_response
    return response.status_code, list(response.headers.multi_items()), response.content


class TestSyncClient:
    def test_chat_is_byte_identical_and_recorded(
        self, lib_name: str, recorder: oaitrace.Recorder
    ) -> None:
        """A chat call returns the same bytes with oaitrace and stores every field it carried."""
        bare, recording = make_clients(lib_name, recorder)
        expected = raw_view(bare.chat.completions.with_raw_response.create(**CHAT_ARGS))
        raw = recording.chat.completions.with_raw_response.create(**CHAT_ARGS)
        assert expected == raw_view(raw)
        assert raw.parse().choices[0].message.content == "Hello there"
        (record,) = stored(recorder)
        assert_openai_headers(record)
        assert (
            "chat",
            "/v1/chat/completions",
            200,
            True,
            False,
            "gpt-4o-mini",
            "gpt-4o-mini-2024-07-18",
            "chatcmpl-abc",
        ) == (
            record.operation,
            record.endpoint,
            record.status_code,
            record.complete,
            record.stream,
            record.request_model,
            record.response_model,
            record.response_id,
        )
        assert (12, 3, 15, 4, 1, ("stop",), 0) == (
            record.input_tokens,
            record.output_tokens,
            record.total_tokens,
            record.cached_input_tokens,
            record.reasoning_tokens,
            record.finish_reasons,
            record.retry_attempt,
        )
        assert record.cost_usd is None or isinstance(record.cost_usd, Decimal)
        assert record.ttft_ms is None

    def test_streamed_chat_is_chunk_identical_and_keeps_usage(
        self, lib_name: str, recorder: oaitrace.Recorder
    ) -> None:
        """A streamed chat yields the same chunks and the record keeps the final usage chunk."""
        bare, recording = make_clients(lib_name, recorder)
        args = {**CHAT_ARGS, "stream": True, "stream_options": {"include_usage": True}}

        def chunks(client: Any) -> list[str]:
            return [chunk.model_dump_json() for chunk in client.chat.completions.create(**args)]

        assert chunks(bare) == chunks(recording)
        (record,) = stored(recorder)
        assert_openai_headers(record)
        assert (True, True, 9, 20, 29, ("stop",)) == (
            record.stream,
            record.complete,
            record.input_tokens,
            record.output_tokens,
            record.total_tokens,
            record.finish_reasons,
        )
        assert record.ttft_ms is not None
        assert record.ttfb_ms is not None
        assert record.ttfb_ms <= record.ttft_ms <= record.duration_ms

    def test_stream_without_usage_stores_none_not_zero(
        self, lib_name: str, recorder: oaitrace.Recorder
    ) -> None:
        """A stream that never reported usage stores None for every token count."""
        _, recording = make_clients(lib_name, recorder)
        for _ in recording.chat.completions.create(**CHAT_ARGS, stream=True):
            pass
        (record,) = stored(recorder)
        assert (None, None, None) == (
            record.input_tokens,
            record.output_tokens,
            record.total_tokens,
        )

    def test_stream_closed_early_is_incomplete(
        self, lib_name: str, recorder: oaitrace.Recorder
    ) -> None:
        """Leaving a stream after the first chunk stores it as incomplete."""
        _, recording = make_clients(lib_name, recorder)
        stream = recording.chat.completions.create(**CHAT_ARGS, stream=True)
        next(iter(stream))
        stream.close()
        (record,) = stored(recorder)
        assert (True, False, 200) == (record.stream, record.complete, record.status_code)

    def test_embeddings_and_responses_are_recorded(
        self, lib_name: str, recorder: oaitrace.Recorder
    ) -> None:
        """Embeddings and the Responses API store their own usage shapes."""
        bare, recording = make_clients(lib_name, recorder)
        embedding_args = {"model": "text-embedding-3-small", "input": "hello"}
        assert raw_view(bare.embeddings.with_raw_response.create(**embedding_args)) == raw_view(
            recording.embeddings.with_raw_response.create(**embedding_args)
        )
        response = recording.responses.create(model="gpt-4.1", input="Hi")
        assert response.output_text == "Hi"
        embedding, created = stored(recorder)
        assert ("embeddings", 5, None, 5) == (
            embedding.operation,
            embedding.input_tokens,
            embedding.output_tokens,
            embedding.total_tokens,
        )
        assert ("/v1/responses", "resp_123", 20, 30, 50, 8, 16) == (
            created.endpoint,
            created.response_id,
            created.input_tokens,
            created.output_tokens,
            created.total_tokens,
            created.cached_input_tokens,
            created.reasoning_tokens,
        )

    def test_error_status_is_recorded(self, lib_name: str, recorder: oaitrace.Recorder) -> None:
        """A 404 reaches the caller as the SDK's NotFoundError and is stored with its error body."""
        _, recording = make_clients(lib_name, recorder)
        with pytest.raises(openai.NotFoundError):
            recording.models.retrieve("gpt-nothing")
        (record,) = stored(recorder)
        assert (404, "invalid_request_error", "Unknown path") == (
            record.status_code,
            record.error_type,
            record.error_message,
        )


class TestAsyncClient:
    def test_async_chat_and_stream(self, lib_name: str, recorder: oaitrace.Recorder) -> None:
        """Async calls, plain and streamed, are identical with oaitrace and recorded."""
        bare, recording = make_async_clients(lib_name, recorder)
        args = {**CHAT_ARGS, "stream": True, "stream_options": {"include_usage": True}}

        async def run(client: Any) -> tuple[Any, list[str]]:
            raw = await client.chat.completions.with_raw_response.create(**CHAT_ARGS)
            stream = await client.chat.completions.create(**args)
            chunks = [chunk.model_dump_json() async for chunk in stream]
            return raw_view(raw), chunks

        assert asyncio.run(run(bare)) == asyncio.run(run(recording))
        plain, streamed = stored(recorder)
        assert (False, 15, True, 29) == (
            plain.stream,
            plain.total_tokens,
            streamed.stream,
            streamed.total_tokens,
        )

    def test_tags_follow_each_task(self, lib_name: str, recorder: oaitrace.Recorder) -> None:
        """Tags set inside concurrent tasks stay with each task's request."""
        _, recording = make_async_clients(lib_name, recorder)

        async def call(user: str) -> None:
            with oaitrace.tags(user=user, feature="search"):
                await recording.embeddings.create(model="text-embedding-3-small", input=user)

        async def run() -> None:
            await asyncio.gather(*(call(f"u-{index}") for index in range(20)))

        asyncio.run(run())
        records = stored(recorder)
        assert sorted(f"u-{index}" for index in range(20)) == sorted(
            record.tags["user"] for record in records
        )
        assert {"search"} == {record.tags["feature"] for record in records}


class TestSecrets:
    def test_keys_never_reach_the_database(self, tmp_path: Path) -> None:
        """Neither an Authorization bearer key nor an Azure api-key header is stored anywhere."""
        database = tmp_path / "secrets.db"
        lib_name = "httpx2" if OPENAI_MAJOR >= 3 else "httpx"
        lib = importlib.import_module(lib_name)
        transports = importlib.import_module(f"oaitrace.{lib_name}")
        azure_key = "0123456789abcdef0123456789abcdef"
        with oaitrace.Recorder(database_url=str(database)) as recorder:

            def client() -> Any:
                inner = lib.MockTransport(openai_handler(lib))
                return lib.Client(
                    transport=transports.RecordingTransport(recorder=recorder, transport=inner)
                )

            openai.OpenAI(api_key=API_KEY, http_client=client()).chat.completions.create(
                **CHAT_ARGS
            )
            azure = openai.AzureOpenAI(
                api_key=azure_key,
                api_version="2024-10-21",
                azure_endpoint="https://example.openai.azure.com",
                http_client=client(),
            )
            azure.chat.completions.create(**CHAT_ARGS)
            assert recorder.flush(timeout=10)
        with sqlite3.connect(database) as connection:
            dump = "\n".join(connection.iterdump())
        assert "req_0123456789abcdef" in dump
        for secret in (API_KEY, API_KEY[10:30], azure_key, azure_key[4:24]):
            assert secret not in dump
