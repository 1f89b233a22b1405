"""Large bodies: gathered into one buffer within the cap, cut into a head and a tail."""

from __future__ import annotations

import tracemalloc
from itertools import accumulate
from time import perf_counter_ns, time_ns
from typing import cast

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oaitrace
from oaitrace._body import read_json_body, read_stream_body
from oaitrace._exchange import Exchange, JoinedChunks, chunk_ends, joined_body
from oaitrace._gather import LIST_LIMIT, BodyTail, GatheredBody, head_limit, tail_limit
from oaitrace._transport import Capture
from oaitrace.httpx2 import RecordingTransport
from tests.factories import CollectingSink
from tests.openai_edge import iterator_stream


def captured(chunks: list[bytes], capture_limit: int) -> Exchange:
    """The Exchange a Capture makes of these response chunks."""
    sink = CollectingSink(capture_limit)
    request = httpx2.Request("GET", "https://api.openai.com/v1/files/file-1/content")
    capture = Capture(sink, request, time_ns(), perf_counter_ns(), {})
    for chunk in chunks:
        capture.on_chunk(chunk)
    capture.finish(complete=True)
    assert [] == sink.errors
    (exchange,) = sink.exchanges
    return exchange


def numbered(sizes: list[int]) -> list[bytes]:
    """Chunks of these sizes whose bytes say where in the body they sit."""
    body = bytes(index % 251 for index in range(sum(sizes)))
    return [body[end - size : end] for size, end in zip(sizes, accumulate(sizes), strict=True)]


class TestJoinedChunks:
    def test_reads_like_the_chunks_it_joins(self) -> None:
        """Index, negative index, slice, iteration and length match a tuple of the chunks."""
        chunks = (b"ab", b"", b"cde", b"f")
        joined = JoinedChunks(b"".join(chunks), tuple(accumulate(map(len, chunks))))
        assert (chunks, 4) == (tuple(joined), len(joined))
        assert (b"cde", b"f", b"ab") == (joined[2], joined[-1], joined[-4])
        assert list(chunks[1:3]) == list(joined[1:3])
        assert list(chunks[::-1]) == list(joined[::-1])
        assert "JoinedChunks(6 bytes in 4 chunks)" == repr(joined)
        with pytest.raises(IndexError):
            joined[4]

    def test_whole_body_and_ends_without_a_copy(self) -> None:
        """The joined content is handed out as it is; a tuple is joined."""
        content = b"x" * 100
        joined = JoinedChunks(content, (40, 100))
        assert joined_body(joined) is content
        assert (40, 100) == tuple(chunk_ends(joined))
        assert (b"abc", [1, 3]) == (joined_body((b"a", b"bc")), list(chunk_ends((b"a", b"bc"))))

    def test_parses_as_the_chunks_do(self) -> None:
        """A stream parsed from gathered chunks names the same chunk for its first content."""
        events = [
            b'data: {"id":"c1","model":"gpt-4o",'
            b'"choices":[{"index":0,"delta":{"role":"assistant"}}]}\n\n',
            b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n',
            b'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,'
            b'"total_tokens":4}}\n\n',
            b"data: [DONE]\n\n",
        ]
        body = b"".join(events)
        chunks = tuple(body[start : start + 7] for start in range(0, len(body), 7))
        joined = JoinedChunks(body, tuple(accumulate(map(len, chunks))))
        apart = read_stream_body(chunks, None, cut=False)
        together = read_stream_body(joined, None, cut=False)
        assert apart.first_content_chunk is not None
        assert (apart.first_content_chunk, apart.usage, apart.content) == (
            together.first_content_chunk,
            together.usage,
            together.content,
        )
        assert together.content is body
        assert read_json_body(joined, None, expect_json=False, cut=False).content is body


class TestGatheredBody:
    def test_never_holds_more_than_its_limit(self) -> None:
        """Gathering 1 MB, then taking it, peaks at the limit: no growth slack, no copy.

        A plain BytesIO, growing by eighths, peaks 12 % over here.
        """
        limit, size = 1_000_000, 25_000
        tracemalloc.start()
        try:
            baseline, _ = tracemalloc.get_traced_memory()
            body = GatheredBody((), limit)
            for index in range(limit // size):
                body.add(bytes([index]) * size)
            taken = body.take()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert (limit, limit // size) == (len(taken.content), len(taken))
        assert bytes([39]) * size == taken[39]
        # The limit, a chunk in flight, and the offsets of the chunks.
        assert peak - baseline < limit + 2 * size, peak - baseline

    def test_take_cuts_inside_a_chunk(self) -> None:
        """Taking fewer bytes keeps the chunks before the cut and the part of the one across it."""
        body = GatheredBody([b"abc", b"defg", b"hi"], 100)
        assert (9, b"bcd") == (body.size, body.read(1, 4))
        taken = body.take(5)
        assert (b"abc", b"de") == tuple(taken)

    def test_take_nothing(self) -> None:
        """A cut at zero keeps no chunk."""
        assert () == tuple(GatheredBody([b"abc"], 10).take(0))


class TestBodyTail:
    def test_keeps_the_last_bytes_of_small_chunks(self) -> None:
        """The tail of many small chunks is the body's last `limit` bytes."""
        chunks = numbered([7] * 200)
        tail = BodyTail(100)
        for chunk in chunks:
            tail.add(chunk)
        assert b"".join(chunks)[-100:] == tail.take()
        assert b"" == tail.take()

    def test_a_large_chunk_replaces_it(self) -> None:
        """A chunk longer than the tail leaves only its own last bytes."""
        tail = BodyTail(10)
        for chunk in (b"a" * 5, b"0123456789abcdef", b"XY"):
            tail.add(chunk)
        assert b"89abcdefXY" == tail.take()

    def test_zero_limit(self) -> None:
        """With no room nothing is kept."""
        tail = BodyTail(0)
        tail.add(b"abc")
        assert b"" == tail.take()


class TestCapture:
    def test_small_body_stays_the_network_chunks(self) -> None:
        """Up to LIST_LIMIT the chunks are the very objects the network produced."""
        chunks = numbered([1000] * 10)
        exchange = captured(chunks, 1 << 20)
        assert type(exchange.response_chunks) is tuple
        assert all(a is b for a, b in zip(exchange.response_chunks, chunks, strict=True))

    def test_large_body_within_the_cap_is_gathered_whole(self) -> None:
        """Past LIST_LIMIT the chunks are gathered into one body, each still timed."""
        chunks = numbered([10_000] * 20)
        exchange = captured(chunks, 1 << 20)
        assert type(exchange.response_chunks) is JoinedChunks
        assert (chunks, 20, False) == (
            list(exchange.response_chunks),
            len(exchange.chunk_arrival_ns),
            exchange.response_truncated,
        )
        assert list(exchange.chunk_arrival_ns) == sorted(exchange.chunk_arrival_ns)

    def test_cut_among_small_chunks_keeps_head_and_tail_within_the_cap(self) -> None:
        """A body just over the cap: a head, and a tail that starts inside the gathered bytes."""
        cap = 16_000
        chunks = numbered([100] * 170)
        body = b"".join(chunks)
        exchange = captured(chunks, cap)
        head = joined_body(exchange.response_chunks)
        assert (body[: head_limit(cap)], body[-tail_limit(cap) :]) == (
            head,
            exchange.response_tail,
        )
        assert len(head) + len(exchange.response_tail) <= cap
        assert (True, len(body), head_limit(cap) // 100) == (
            exchange.response_truncated,
            exchange.response_bytes,
            len(exchange.chunk_arrival_ns),
        )

    @settings(max_examples=150, deadline=None)
    @given(
        sizes=st.lists(
            st.integers(min_value=0, max_value=3 * LIST_LIMIT)
            | st.integers(min_value=0, max_value=300),
            max_size=40,
        ),
        capture_limit=st.sampled_from([0, 15, 100, 4096, LIST_LIMIT, LIST_LIMIT + 1, 300_000]),
    )
    def test_any_chunking_keeps_a_true_head_and_tail(
        self, sizes: list[int], capture_limit: int
    ) -> None:
        """Whatever the chunk sizes: the head is the body's start, the tail its end, both timed."""
        chunks = numbered(sizes)
        body = b"".join(chunks)
        exchange = captured(chunks, capture_limit)
        head = joined_body(exchange.response_chunks)
        truncated = len(body) > capture_limit
        assert (len(body), truncated) == (exchange.response_bytes, exchange.response_truncated)
        if truncated:
            assert body[: head_limit(capture_limit)] == head
            assert body[len(body) - tail_limit(capture_limit) :] == exchange.response_tail
        else:
            assert (body, b"") == (head, exchange.response_tail)
            assert chunks == list(exchange.response_chunks)
        assert len(exchange.response_chunks) == len(exchange.chunk_arrival_ns)
        assert list(chunk_ends(exchange.response_chunks))[-1:] in ([], [len(head)])

    def test_a_failure_while_gathering_spares_the_caller(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If gathering fails the response still streams whole; the record has no body."""
        chunks = numbered([40_000] * 5)

        def failing_add(self: GatheredBody, chunk: bytes) -> None:
            raise MemoryError

        monkeypatch.setattr(GatheredBody, "add", failing_add)
        sink = CollectingSink()

        def handler(request: httpx2.Request) -> httpx2.Response:
            return httpx2.Response(200, stream=iterator_stream(httpx2, chunks))

        # The sink stands in for a Recorder: the transport needs only its protocol.
        recorder = cast("oaitrace.Recorder", sink)
        transport = RecordingTransport(recorder=recorder, transport=httpx2.MockTransport(handler))
        with (
            httpx2.Client(transport=transport) as client,
            client.stream("GET", "https://api.openai.com/v1/files/file-1/content") as response,
        ):
            received = b"".join(response.iter_raw())
        assert b"".join(chunks) == received
        (exchange,) = sink.exchanges
        (error,) = sink.errors
        assert (MemoryError, True, 200_000, ()) == (
            type(error),
            exchange.response_truncated,
            exchange.response_bytes,
            tuple(exchange.response_chunks),
        )
