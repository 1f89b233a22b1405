"""Bad responses through the recording transport: the caller sees them unchanged, oaitrace copes.

Each case is served by a MockTransport to a bare client and to a recording
client. The caller's view (status, raw headers, raw bytes, decoded body or
the exception) must be identical; the writer must survive (a later flush
stores it), and the stored record must say why the body could not be parsed.
"""

from __future__ import annotations

import gzip
import socket
import struct
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import brotli
import httpx2
import pytest

import oaitrace
from oaitrace._decode import MAX_DECODED_BYTES
from oaitrace.httpx2 import RecordingTransport
from oaitrace.query import Query, RequestDetail
from tests.openai_edge import OPENAI_HEADERS, chat_stream_events

URL = "https://api.openai.com/v1/chat/completions"
SSE = {**OPENAI_HEADERS, "content-type": "text/event-stream"}
JSON = {**OPENAI_HEADERS, "content-type": "application/json"}
GOOD_JSON = b'{"id":"chatcmpl-1","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":1}}'
EVENTS = chat_stream_events(include_usage=True)
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"


@dataclass(frozen=True)
class Case:
    """A response to serve: status, raw headers and the body's network chunks."""

    headers: list[tuple[bytes, bytes]]
    chunks: list[bytes]
    status: int = 200
    # An exception the body stream raises after its chunks (a cut connection).
    cut_by: Exception | None = None
    # A chat request body asking for a stream.
    stream: bool = False


def raw(headers: dict[str, str], **more: bytes) -> list[tuple[bytes, bytes]]:
    pairs = [(name.encode(), value.encode()) for name, value in headers.items()]
    return pairs + [(name.replace("_", "-").encode(), value) for name, value in more.items()]


def nested_gzip_bomb(decoded_size: int) -> bytes:
    """`decoded_size` zero bytes, gzipped twice: a few KB on the wire.

    The inner gzip member is assembled from one fully flushed deflate block
    of 1 MiB of zeros repeated (identical after a full flush), which is much
    faster than compressing a gigabyte, and is a valid gzip stream.
    """
    block = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    blocks = decoded_size >> 20
    deflate = first + repeated * (blocks - 1) + compressor.flush()
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(block, crc)
    inner = GZIP_HEADER + deflate + struct.pack("<II", crc, decoded_size & 0xFFFFFFFF)
    return gzip.compress(inner, 9)


def brotli_bomb(decoded_size: int) -> bytes:
    """`decoded_size` zero bytes in one brotli layer (quality 1: fast, still 5000:1)."""
    compressor = brotli.Compressor(quality=1)
    block = bytes(1 << 20)
    chunks: list[bytes] = [compressor.process(block) for _ in range(decoded_size >> 20)]
    finish: bytes = compressor.finish()
    return b"".join(chunks) + finish


CASES: dict[str, Case] = {
    "malformed_json": Case(raw(JSON), [b'{"id": "chatcmpl-1", "model": ', b'"gpt-4o", ]']),
    "json_array": Case(raw(JSON), [b"[1, 2, 3]"]),
    "empty_json": Case(raw(JSON), []),
    "invalid_utf8_json": Case(raw(JSON), [b'{"id":"\xff\xfe\xc3\x28", "model":"gpt-4o"}']),
    "invalid_utf8_sse": Case(raw(SSE), [b'data: {"id":"\xff\xc3\x28"}\n\n', b"data: [DONE]\n\n"]),
    "truncated_sse": Case(raw(SSE), [*EVENTS[:5], EVENTS[5][:30]], stream=True),
    "sse_cut_by_network": Case(
        raw(SSE),
        EVENTS[:3],
        stream=True,
        cut_by=httpx2.RemoteProtocolError("peer closed connection without sending complete body"),
    ),
    "interleaved_sse": Case(
        raw(SSE),
        [
            EVENTS[1][:20] + b"\r\n" + EVENTS[2],
            b'data: {not json}\n\nevent: error\ndata: {"error": 5}\r\r',
            b": comment\n" + EVENTS[3][:-2] + b"\ndata:" + EVENTS[4],
            b"retry: x\nid: \x00\nevent\n\n" + EVENTS[-1],
        ],
        stream=True,
    ),
    "sse_without_blank_lines": Case(raw(SSE), [b"".join(e.rstrip(b"\n") for e in EVENTS)]),
    "html_as_json": Case(raw(JSON), [b"<html><body>502 Bad Gateway</body></html>"], status=502),
    "sse_as_json": Case(raw(JSON), EVENTS, stream=True),
    "json_as_sse": Case(raw(SSE), [GOOD_JSON]),
    "binary_as_json": Case(raw(JSON), [bytes(range(256)) * 4]),
    "json_as_octet_stream": Case(
        raw({**OPENAI_HEADERS, "content-type": "application/octet-stream"}), [GOOD_JSON]
    ),
    "no_content_type": Case(raw(OPENAI_HEADERS), [GOOD_JSON]),
    "truncated_gzip": Case(raw(JSON, content_encoding=b"gzip"), [gzip.compress(GOOD_JSON)[:-20]]),
    "corrupt_gzip": Case(raw(JSON, content_encoding=b"gzip"), [GZIP_HEADER + b"\xff" * 20]),
    "unknown_encoding": Case(raw(JSON, content_encoding=b"zstd-ish"), [GOOD_JSON]),
    "huge_headers": Case(
        raw(JSON, x_big=b"v" * 65536, x_binary=b"\xff\xfe\x00\x80" * 16), [GOOD_JSON]
    ),
    "content_length_too_small": Case(raw(JSON, content_length=b"10"), [GOOD_JSON]),
    "content_length_too_large": Case(raw(JSON, content_length=b"100000"), [GOOD_JSON]),
    "content_length_not_a_number": Case(raw(JSON, content_length=b"lots"), [GOOD_JSON]),
    "body_cut_short_of_content_length": Case(
        raw(JSON, content_length=b"5000"),
        [GOOD_JSON[:20]],
        cut_by=httpx2.RemoteProtocolError("peer closed connection without sending complete body"),
    ),
    "error_status_non_json": Case(raw(OPENAI_HEADERS), [b"Too Many Requests"], status=429),
    "weird_status": Case(raw(JSON), [GOOD_JSON], status=599),
    # Found by tests/test_fuzz_transport.py: too large for a 64-bit column, they
    # failed the whole batch insert (and its retries) until stored as None.
    "huge_numbers": Case(
        raw(JSON, x_ratelimit_remaining_tokens=b"99999999999999999999999", retry_after=b"1e400"),
        [
            b'{"id":"c","model":"gpt-4o","usage":{"prompt_tokens":1e30,"completion_tokens":'
            + str(10**30).encode()
            + b',"total_tokens":-99999999999999999999}}'
        ],
    ),
}

# The record notes a parse failure for these. The others are readable (invalid
# UTF-8 inside an SSE event is decoded with replacement characters; a body
# without `data:` lines is an empty event stream) or not claimed to be JSON.
PARSE_ERRORS: dict[str, str] = {
    "malformed_json": "invalid JSON body",
    "invalid_utf8_json": "invalid JSON body",
    "interleaved_sse": "stream events with invalid JSON",
    "html_as_json": "invalid JSON body",
    "sse_as_json": "invalid JSON body",
    "sse_without_blank_lines": "stream events with invalid JSON",
    "error_status_non_json": "invalid JSON body",
    "truncated_gzip": "invalid JSON body",
    "binary_as_json": "invalid JSON body",
    "corrupt_gzip": "cannot decode body",
    "unknown_encoding": "cannot decode body",
}


def stream_of(case: Case) -> Any:
    """The body as a fresh network stream (a generator, not bytes in memory)."""

    class Stream(httpx2.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield from case.chunks
            if case.cut_by is not None:
                raise case.cut_by

    return Stream()


def handler_for(case: Case) -> Callable[[httpx2.Request], httpx2.Response]:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(case.status, headers=case.headers, stream=stream_of(case))

    return handler


def caller_view(client: httpx2.Client, name: str, case: Case, *, decode: bool) -> tuple[Any, ...]:
    """What the application sees: status, raw headers, raw or decoded body, or the exception."""
    body = {"model": "gpt-4o-mini", "messages": [], "stream": case.stream}
    headers = {"x-case": name, "x-big-request": "r" * 65536}
    try:
        with client.stream("POST", URL, json=body, headers=headers) as response:
            head = (response.status_code, response.headers.raw)
            chunks: list[bytes] = []
            try:
                if decode:
                    chunks.append(response.read())
                else:
                    chunks.extend(response.iter_raw())
            except Exception as exc:
                return (*head, b"".join(chunks), type(exc).__name__, str(exc))
            return (*head, b"".join(chunks), None, None)
    except Exception as exc:
        return (None, None, None, type(exc).__name__, str(exc))


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[oaitrace.Recorder]:
    database = tmp_path_factory.mktemp("bad") / "bad.db"
    with oaitrace.Recorder(str(database), flush_interval=0.05) as recorder:
        yield recorder


def send(
    recorder: oaitrace.Recorder, name: str, case: Case, *, decode: bool, tag: str = ""
) -> tuple[Any, Any]:
    """The bare client's view and the recording client's view of one case."""
    bare = httpx2.Client(transport=httpx2.MockTransport(handler_for(case)))
    recording = httpx2.Client(
        transport=RecordingTransport(
            recorder=recorder, transport=httpx2.MockTransport(handler_for(case))
        )
    )
    with bare, recording, oaitrace.tags(case=f"{tag}{name}-{decode}"):
        return caller_view(bare, name, case, decode=decode), caller_view(
            recording, name, case, decode=decode
        )


def stored(recorder: oaitrace.Recorder, tag: str) -> list[RequestDetail]:
    assert recorder.flush(timeout=30), "the writer must still store after bad input"
    with Query(recorder.database_url) as query:
        details = [query.detail(record.id) for record in query.find(tag=f"case={tag}")]
    return [detail for detail in details if detail is not None]


@pytest.mark.parametrize("decode", [False, True], ids=["raw", "decoded"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_caller_view_unchanged_and_record_stored(
    recorder: oaitrace.Recorder, name: str, decode: bool
) -> None:
    """The caller gets exactly what the server sent; the record is stored with its parse error."""
    case = CASES[name]

    bare_view, recorded_view = send(recorder, name, case, decode=decode)
    details = stored(recorder, f"{name}-{decode}")

    expected_error = PARSE_ERRORS.get(name)
    assert bare_view == recorded_view
    assert 1 == len(details)
    detail = details[0]
    noted = detail.parse_error
    assert (expected_error is None) == (noted is None), noted
    if expected_error is not None:
        assert expected_error in (noted or "")
    assert (case.status, sum(map(len, case.chunks))) == (
        detail.record.status_code,
        detail.response_bytes,
    )


class TestCutConnections:
    def test_cut_stream_recorded_incomplete_with_the_error(
        self, recorder: oaitrace.Recorder
    ) -> None:
        """A stream cut by the network is stored incomplete, with the exception's class."""
        send(recorder, "sse_cut_by_network", CASES["sse_cut_by_network"], decode=False, tag="cut-")
        details = stored(recorder, "cut-sse_cut_by_network-False")

        expected = [(False, "RemoteProtocolError", None)]

        actual = [(d.record.complete, d.record.error_type, d.parse_error) for d in details]
        assert expected == actual


class TestHeaders:
    def test_huge_header_values_are_stored_whole(self, recorder: oaitrace.Recorder) -> None:
        """64 KiB request and response header values are kept, byte for byte."""
        send(recorder, "huge_headers", CASES["huge_headers"], decode=False, tag="headers-")
        details = stored(recorder, "headers-huge_headers-False")

        expected = (65536, 65536, "\xff\xfe\x00\x80" * 16)

        detail = details[0]
        actual = (
            len(detail.request_headers["x-big-request"]),
            len(detail.response_headers["x-big"]),
            detail.response_headers["x-binary"],
        )
        assert expected == actual


class LyingServer:
    """A real HTTP/1.1 server on a local socket that sends one canned response per connection."""

    def __init__(self, response: bytes) -> None:
        self._response = response
        self._socket = socket.create_server(("127.0.0.1", 0))
        # close() does not wake a blocked accept(): poll so the thread can end.
        self._socket.settimeout(0.05)
        self._stopped = threading.Event()
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/v1/chat/completions"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(5)
            with connection:
                self._read_request(connection)
                connection.sendall(self._response)
                # A clean FIN: closing with request bytes unread would send a
                # reset, which the client may see before the partial response.
                connection.shutdown(socket.SHUT_WR)

    @staticmethod
    def _read_request(connection: socket.socket) -> None:
        """Read the request head and its whole body (by content-length)."""
        request = b""
        while b"\r\n\r\n" not in request:
            request += connection.recv(65536)
        head, _, body = request.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            body += connection.recv(65536)

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        self._socket.close()


@pytest.mark.parametrize(
    ("name", "response"),
    [
        (
            "fewer_bytes",
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n"
            b"connection: close\r\n\r\n" + GOOD_JSON[:30],
        ),
        (
            "more_bytes",
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10\r\n"
            b"connection: close\r\n\r\n" + GOOD_JSON,
        ),
    ],
)
def test_lying_content_length_over_a_real_socket(
    recorder: oaitrace.Recorder, name: str, response: bytes
) -> None:
    """Over a real connection a lying content-length reaches the caller as it would unrecorded."""
    server = LyingServer(response)
    try:
        views: list[tuple[int | None, bytes | None, str | None]] = []
        for client in (
            httpx2.Client(),
            httpx2.Client(transport=RecordingTransport(recorder=recorder)),
        ):
            with client, oaitrace.tags(case=f"socket-{name}"):
                try:
                    answer = client.post(server.url, json={"model": "gpt-4o-mini"})
                    views.append((answer.status_code, answer.content, None))
                except httpx2.HTTPError as exc:
                    views.append((None, None, type(exc).__name__))
    finally:
        server.close()
    details = stored(recorder, f"socket-{name}")

    assert views[0] == views[1]
    assert 1 == len(details)
    if name == "fewer_bytes":
        assert (False, "RemoteProtocolError") == (
            details[0].record.complete,
            details[0].record.error_type,
        )
    else:
        assert (True, 10) == (details[0].record.complete, details[0].response_bytes)


class TestDecompressionBombs:
    @pytest.mark.parametrize(
        ("name", "headers", "make_bomb"),
        [
            ("nested-gzip", raw(JSON, content_encoding=b"gzip, gzip"), nested_gzip_bomb),
            ("brotli", raw(JSON, content_encoding=b"br"), brotli_bomb),
            ("gzip-stream", raw(SSE, content_encoding=b"gzip, gzip"), nested_gzip_bomb),
        ],
        ids=["nested-gzip", "brotli", "gzip-stream"],
    )
    def test_bomb_decoding_is_bounded(
        self,
        recorder: oaitrace.Recorder,
        name: str,
        headers: list[tuple[bytes, bytes]],
        make_bomb: Callable[[int], bytes],
    ) -> None:
        """A few KB that inflate to 1 GiB: passed through raw, decoding stops at the limit."""
        bomb = make_bomb(1 << 30)
        chunks = [bomb[start : start + 4096] for start in range(0, len(bomb), 4096)]
        case = Case(headers, chunks, stream=name.endswith("stream"))
        tracemalloc.start()
        try:
            bare_view, recorded_view = send(recorder, f"bomb-{name}", case, decode=False)
            details = stored(recorder, f"bomb-{name}-False")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

        assert (1 << 30) // len(bomb) > 1000, len(bomb)
        assert bare_view == recorded_view
        assert (bomb, None) == (recorded_view[2], recorded_view[3])
        assert 1 == len(details)
        assert "exceeds the decoding limit" in (details[0].parse_error or "")
        # The decoder holds at most its limit (plus one read ahead) at once.
        assert peak < 3 * MAX_DECODED_BYTES, peak
        print(f"{name}: {len(bomb)} bytes on the wire, peak {peak >> 20} MiB traced")


def test_huge_numbers_are_stored_as_unknown(recorder: oaitrace.Recorder) -> None:
    """Counts beyond 2**53 in headers and usage are None, and the record is stored."""
    send(recorder, "huge_numbers", CASES["huge_numbers"], decode=False, tag="numbers-")
    details = stored(recorder, "numbers-huge_numbers-False")

    expected = [(None, None, None, None, "gpt-4o")]

    actual = [
        (
            d.record.ratelimit_remaining_tokens,
            d.record.input_tokens,
            d.record.output_tokens,
            d.record.total_tokens,
            d.record.response_model,
        )
        for d in details
    ]
    assert expected == actual


def test_writer_alive_after_every_case(recorder: oaitrace.Recorder) -> None:
    """After all the bad input a normal exchange is still stored, with its usage."""
    good = Case(raw(JSON), [GOOD_JSON[:10], GOOD_JSON[10:]])

    send(recorder, "good", good, decode=True)
    details = stored(recorder, "good-True")

    expected = [(None, 1, "gpt-4o")]

    actual = [(d.parse_error, d.record.input_tokens, d.record.response_model) for d in details]
    assert expected == actual
    assert 0 == recorder.lost_count
    assert 0 == recorder.internal_error_count
