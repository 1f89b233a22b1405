"""Loading the shared corpus of real recorded OpenAI exchanges, for tests to replay.

The corpus lives beside the repository (`<repo>/../shared/corpus`) or where
`$OAITRACE_CORPUS` points. Each case is served as the wire would have sent
it: base64 bodies decoded, gzip bodies as their original compressed bytes,
and `content-length` made to match the body actually served.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from oaitrace._exchange import Exchange, flat_headers

__all__ = [
    "Case",
    "build_exchange",
    "case_to_exchange",
    "corpus_dir",
    "load_cases",
    "request_body",
    "response_body_to_serve",
    "response_headers_to_serve",
    "response_text",
    "split_chunks",
]

STARTED_AT_NS = 1_700_000_000_123_456_789
HEADERS_NS = 40_000_000
CHUNK_GAP_NS = 1_000_000


@dataclass(frozen=True)
class Case:
    """One recorded exchange: its file name and the parsed JSON of the case file."""

    name: str
    data: Mapping[str, Any]

    @property
    def request(self) -> Mapping[str, Any]:
        """The `request` object: method, url, headers, body, body_encoding."""
        value: Mapping[str, Any] = self.data["request"]
        return value

    @property
    def response(self) -> Mapping[str, Any]:
        """The `response` object: status, headers, body, body_encoding, is_stream."""
        value: Mapping[str, Any] = self.data["response"]
        return value


def corpus_dir() -> Path | None:
    """The corpus directory, or None when it is not there."""
    configured = os.environ.get("OAITRACE_CORPUS")
    candidate = (
        Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared/corpus"
    )
    return candidate if (candidate / "cases").is_dir() else None


@cache
def _load_cases() -> tuple[Case, ...]:
    directory = corpus_dir()
    if directory is None:
        return ()
    return tuple(
        Case(name=path.name, data=json.loads(path.read_text(encoding="utf-8")))
        for path in sorted((directory / "cases").glob("*.json"))
    )


def load_cases() -> list[Case]:
    """Every case, sorted by file name; empty when the corpus is absent."""
    return list(_load_cases())


def _body_bytes(body: Any, encoding: str) -> bytes | None:
    if body is None or encoding == "none":
        return None
    if encoding.endswith("base64"):
        return base64.b64decode(body)
    return str(body).encode("utf-8")


def request_body(case: Case) -> bytes | None:
    """The request body bytes as sent, None when none was recorded."""
    return _body_bytes(case.request.get("body"), case.request.get("body_encoding", "identity"))


def response_body_to_serve(case: Case) -> bytes:
    """The response body as it went over the wire (gzip bytes when recorded so)."""
    raw = case.response.get("body_raw_b64")
    if raw is not None:
        return base64.b64decode(raw)
    body = _body_bytes(case.response.get("body"), case.response.get("body_encoding", "identity"))
    return body or b""


def response_text(case: Case) -> str | None:
    """The decoded response body text; None for binary or absent bodies."""
    encoding = case.response.get("body_encoding", "identity")
    body = case.response.get("body")
    if body is None or encoding == "none" or encoding.endswith("base64"):
        return None
    return str(body)


def response_headers_to_serve(case: Case) -> list[tuple[str, str]]:
    """The recorded response headers, fixed to match `response_body_to_serve`.

    Recordings re-serialized many bodies, so a recorded `content-length` is
    replaced by the served length; `content-encoding` is dropped when only
    the decoded body was kept.
    """
    body = response_body_to_serve(case)
    has_raw = case.response.get("body_raw_b64") is not None
    headers: list[tuple[str, str]] = []
    for name, value in case.response["headers"].items():
        if name == "content-length":
            headers.append((name, str(len(body))))
        elif name == "content-encoding" and not has_raw:
            continue
        else:
            headers.append((name, value))
    return headers


def split_chunks(body: bytes, pieces: int) -> list[bytes]:
    """The body cut into `pieces` nearly equal chunks, boundaries ignoring events."""
    if not body:
        return []
    size = max(1, -(-len(body) // pieces))
    return [body[start : start + size] for start in range(0, len(body), size)]


def _encode_header(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def build_exchange(
    *,
    method: str = "POST",
    url: str = "https://api.openai.com/v1/chat/completions",
    request_headers: Sequence[tuple[str, str]] = (("content-type", "application/json"),),
    request_body: bytes | None = None,
    status_code: int | None = 200,
    response_headers: Sequence[tuple[str, str]] = (("content-type", "application/json"),),
    chunks: Sequence[bytes] = (),
    complete: bool = True,
    response_truncated: bool = False,
    error_type: str | None = None,
    error_message: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Exchange:
    """An Exchange as the transport builds it; chunks arrive 1 ms apart after the headers."""
    arrivals = [HEADERS_NS + (index + 1) * CHUNK_GAP_NS for index in range(len(chunks))]
    return Exchange(
        started_at_ns=STARTED_AT_NS,
        method=method,
        url=url,
        request_headers=flat_headers(
            (_encode_header(n), _encode_header(v)) for n, v in request_headers
        ),
        request_body=request_body,
        status_code=status_code,
        response_headers=flat_headers(
            (_encode_header(n), _encode_header(v)) for n, v in response_headers
        ),
        response_chunks=list(chunks),
        chunk_arrival_ns=arrivals,
        response_bytes=sum(len(chunk) for chunk in chunks),
        response_truncated=response_truncated,
        complete=complete,
        headers_ns=None if status_code is None else HEADERS_NS,
        duration_ns=(arrivals[-1] if arrivals else HEADERS_NS) + CHUNK_GAP_NS,
        error_type=error_type,
        error_message=error_message,
        tags=dict(tags or {}),
    )


def case_to_exchange(case: Case, *, stream_pieces: int = 7) -> Exchange:
    """The Exchange a recording transport would have produced for this case.

    Streamed bodies are cut into `stream_pieces` chunks, other bodies arrive
    as one chunk.
    """
    body = response_body_to_serve(case)
    return build_exchange(
        method=case.request["method"],
        url=case.request["url"],
        request_headers=list(case.request["headers"].items()),
        request_body=request_body(case),
        status_code=case.response["status"],
        response_headers=response_headers_to_serve(case),
        chunks=split_chunks(body, stream_pieces if case.response.get("is_stream") else 1),
    )
