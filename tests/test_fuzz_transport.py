"""Hypothesis: any response body, headers and SSE framing pass through the transport unchanged.

One Recorder for the module (starting one per example would dominate the
run time). For every generated response the recording client's view equals
a bare client's, the writer stays alive and the exchange is stored.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oaitrace
from oaitrace.httpx2 import RecordingTransport
from oaitrace.query import Query

URL = "https://api.openai.com/v1/chat/completions"
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HEADER_NAMES = st.sampled_from(
    [
        "content-type",
        "content-encoding",
        "content-length",
        "x-request-id",
        "openai-processing-ms",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
        "retry-after",
        "retry-after-ms",
        "set-cookie",
        "x-anything",
    ]
)
HEADER_VALUES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "text/event-stream",
            "text/event-stream; charset=utf-8",
            "gzip",
            "br",
            "identity",
            "1m2.5s",
            "-1",
            "NaN",
            "99999999999999999999999",
        ]
    ),
    st.binary(max_size=40).map(lambda value: value.replace(b"\r", b"").replace(b"\n", b"")),
)
HEADERS = st.lists(
    st.tuples(
        HEADER_NAMES.map(str.encode),
        HEADER_VALUES.map(lambda value: value if isinstance(value, bytes) else value.encode()),
    ),
    max_size=8,
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["id", "model", "usage", "choices", "error", "delta", "x"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def sse_event(payload: Any, separator: bytes, data_prefix: bytes) -> bytes:
    return data_prefix + json.dumps(payload).encode() + separator


SSE_BODIES = st.lists(
    st.one_of(
        st.builds(
            sse_event,
            JSON_VALUES,
            st.sampled_from([b"\n\n", b"\r\n\r\n", b"\r\r", b"\n", b""]),
            st.sampled_from([b"data: ", b"data:", b"event: x\ndata: ", b": c\ndata: "]),
        ),
        st.sampled_from([b"data: [DONE]\n\n", b"\n", b"retry: 5\n", b"id: 7\n\n"]),
        st.binary(max_size=30),
    ),
    max_size=10,
).map(b"".join)
BODIES = st.one_of(
    st.binary(max_size=300),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    SSE_BODIES,
)


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    """The body as network chunks, cut at the given offsets."""
    points = sorted({0, len(body), *(cut % (len(body) + 1) for cut in cuts)})
    return [body[start:end] for start, end in itertools.pairwise(points)]


def transport(chunks: list[bytes], status: int, headers: list[tuple[bytes, bytes]]) -> Any:
    class Stream(httpx2.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield from chunks

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, headers=headers, stream=Stream())

    return httpx2.MockTransport(handler)


def view(client: httpx2.Client, stream: bool) -> tuple[Any, ...]:
    body = {"model": "gpt-4o-mini", "messages": [], "stream": stream}
    with client.stream("POST", URL, json=body) as response:
        return response.status_code, response.headers.raw, b"".join(response.iter_raw())


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[oaitrace.Recorder]:
    database = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    with oaitrace.Recorder(str(database), flush_interval=0.05) as recorder:
        yield recorder


_COUNTER = iter(range(1_000_000))


@FUZZ
@given(
    body=BODIES,
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
    status=st.sampled_from([200, 200, 200, 400, 429, 500, 503]),
    headers=HEADERS,
    stream=st.booleans(),
)
def test_any_response_passes_through_and_is_stored(
    recorder: oaitrace.Recorder,
    *,
    body: bytes,
    cuts: list[int],
    status: int,
    headers: list[tuple[bytes, bytes]],
    stream: bool,
) -> None:
    """Whatever the server sends, the caller sees it unchanged and one record is stored."""
    chunks = split(body, cuts)
    seq = str(next(_COUNTER))
    bare = httpx2.Client(transport=transport(chunks, status, headers))
    recording = httpx2.Client(
        transport=RecordingTransport(
            recorder=recorder, transport=transport(chunks, status, headers)
        )
    )
    with bare, recording, oaitrace.tags(fuzz=seq):
        expected = view(bare, stream)
        actual = view(recording, stream)

    assert expected == actual
    assert recorder.flush(timeout=30)
    with Query(recorder.database_url) as query:
        records = query.find(tag=f"fuzz={seq}")
    assert [(status, True)] == [(record.status_code, record.complete) for record in records]
    assert (0, 0) == (recorder.lost_count, recorder.internal_error_count)
