"""What a response body says: decoded text, model, id, usage, finish reasons, error.

JSON bodies are parsed once; event streams are decoded chunk by chunk so
each event keeps the index of the raw chunk that completed it.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from ._decode import BodyDecoder, DecodeError
from ._exchange import chunk_ends, joined_body
from ._json import loads
from ._sse import (
    FINAL_STATUSES,
    SSEDecoder,
    StreamAccumulator,
    plain_events,
    take_response_params,
)

__all__ = ["BodyFacts", "is_text_type", "read_json_body", "read_stream_body"]

_TEXT_TYPE_MARKERS: Final = ("json", "xml", "x-www-form-urlencoded", "javascript", "event-stream")
_RESPONSE_OBJECTS: Final = frozenset({"response", "thread.run"})
_JSON_DECODER: Final = json.JSONDecoder()


@dataclass(slots=True)
class BodyFacts:
    """The facts of one response body; every field None when the body did not say."""

    # The decoded body, None when it is binary or could not be decoded.
    content: bytes | None = None
    model: str | None = None
    response_id: str | None = None
    usage: dict[str, Any] | None = None
    finish_reasons: tuple[str, ...] | None = None
    error: dict[str, Any] | None = None
    first_content_chunk: int | None = None
    # An event stream that reached its own end marker, whether or not the
    # caller then read the connection to EOF.
    stream_ended: bool = False
    parse_error: str | None = None
    # `service_tier` and `system_fingerprint` when the response set them.
    response_params: dict[str, str] | None = None
    # The body's JSON object; for a stream its last Response or Run object.
    obj: dict[str, Any] | None = None


@lru_cache(maxsize=256)
def is_text_type(content_type: str | None) -> bool:
    """True for content types stored as text (JSON, text/*, SSE, forms)."""
    if not content_type:
        return False
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type.startswith("text/") or any(
        marker in media_type for marker in _TEXT_TYPE_MARKERS
    )


def _text(value: Any) -> str | None:
    return value if type(value) is str and value else None


def _decode_all(chunks: Sequence[bytes], content_encoding: str | None) -> bytes:
    body = joined_body(chunks)
    if content_encoding is None:
        return body
    decoder = BodyDecoder(content_encoding)
    if decoder.is_identity:
        return body
    return decoder.decode(body) + decoder.flush()


def _finish_reasons(obj: dict[str, Any]) -> tuple[str, ...] | None:
    choices = obj.get("choices")
    if type(choices) is list:
        reasons = tuple(
            choice["finish_reason"]
            for choice in choices
            if type(choice) is dict and type(choice.get("finish_reason")) is str
        )
        return reasons or None
    status = obj.get("status")
    if obj.get("object") not in _RESPONSE_OBJECTS or status not in FINAL_STATUSES:
        return None
    details = obj.get("incomplete_details")
    if status == "incomplete" and type(details) is dict and _text(details.get("reason")):
        return (details["reason"],)
    return (status,)


def _error_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    error = obj.get("error")
    if type(error) is dict:
        return error
    if type(error) is str and error:
        # Some compatible servers answer {"error": "message"}.
        return {"message": error}
    return None


def read_json_body(
    chunks: Sequence[bytes],
    content_encoding: str | None,
    *,
    expect_json: bool,
    cut: bool,
    tail: bytes = b"",
) -> BodyFacts:
    """Facts of a non-streamed body.

    `expect_json`: the content type says JSON (or there is none and the body
    looks like it). `cut`: the body is known to be incomplete, so invalid
    JSON is expected and not reported as a parse error. `tail`: the last
    bytes of a body that outgrew the capture cap, searched for what a
    truncated body no longer shows whole.
    """
    facts = BodyFacts()
    try:
        content = _decode_all(chunks, content_encoding)
    except DecodeError as exc:
        facts.parse_error = f"cannot decode body ({content_encoding}): {exc}"
        return facts
    facts.content = content
    if not expect_json or not content.strip():
        return facts
    try:
        obj = loads(content)
    except ValueError as exc:
        if not cut:
            facts.parse_error = f"invalid JSON body: {exc}"
        elif tail and (content_encoding is None or BodyDecoder(content_encoding).is_identity):
            _salvage_truncated(facts, content, tail)
        return facts
    if type(obj) is not dict:
        return facts
    facts.obj = obj
    facts.model = _text(obj.get("model"))
    facts.response_id = _text(obj.get("id"))
    usage = obj.get("usage")
    facts.usage = usage if type(usage) is dict else None
    facts.finish_reasons = _finish_reasons(obj)
    facts.error = _error_of(obj) or _error_of_failed_run(obj)
    response_params: dict[str, str] = {}
    take_response_params(obj, response_params)
    facts.response_params = response_params or None
    return facts


_USAGE_KEY: Final = re.compile(rb'"usage"\s*:\s*(?={)')
_MODEL_KEY: Final = re.compile(rb'"model"\s*:\s*"([^"\\]{1,200})"')
_ID_KEY: Final = re.compile(rb'"id"\s*:\s*"([^"\\]{1,200})"')


def _salvage_truncated(facts: BodyFacts, head: bytes, tail: bytes) -> None:
    """Usage, model and id of a JSON body cut by the capture cap, from its two ends.

    Large bodies are base64 images or embeddings, whose small top-level
    fields (`usage` last, `id`/`model` usually first) sit outside the bulk.
    """
    usages = list(_USAGE_KEY.finditer(tail))
    if usages:
        try:
            usage, _ = _JSON_DECODER.raw_decode(tail[usages[-1].end() :].decode("utf-8", "replace"))
        except ValueError:
            usage = None
        facts.usage = usage if type(usage) is dict else None
    for pattern, name in ((_MODEL_KEY, "model"), (_ID_KEY, "response_id")):
        found = pattern.search(head[:4096]) or pattern.search(tail)
        if found:
            setattr(facts, name, found.group(1).decode("utf-8", "replace"))


def _error_of_failed_run(obj: dict[str, Any]) -> dict[str, Any] | None:
    last_error = obj.get("last_error")
    return last_error if type(last_error) is dict else None


def read_stream_body(
    chunks: Sequence[bytes], content_encoding: str | None, *, cut: bool
) -> BodyFacts:
    """Facts of an event stream, decoded chunk by chunk.

    `cut`: the stream did not end normally, so a half-received last event is
    expected and not reported as a parse error.
    """
    facts = BodyFacts()
    accumulator = StreamAccumulator()
    if _is_identity(content_encoding):
        content = joined_body(chunks)
        events = plain_events(content)
        if events is None:
            _accumulate_incrementally(chunks, None, accumulator)
        else:
            # The raw chunk that completed an event holds its last byte.
            ends = chunk_ends(chunks)
            add = accumulator.add_data
            for data, name, end in events:
                add(data, name, bisect_left(ends, end))
    else:
        try:
            content = _accumulate_incrementally(chunks, content_encoding, accumulator)
        except _StreamDecodeError as exc:
            content = exc.decoded
            facts.parse_error = f"cannot decode stream ({content_encoding}): {exc.__cause__}"
    facts.content = content
    facts.model = accumulator.model
    facts.response_id = accumulator.response_id
    facts.usage = accumulator.usage
    facts.finish_reasons = accumulator.finish_reasons
    facts.error = accumulator.error
    facts.first_content_chunk = accumulator.first_content_chunk
    facts.stream_ended = accumulator.ended
    facts.response_params = accumulator.response_params or None
    facts.obj = accumulator.final_object
    invalid = accumulator.invalid_events - (1 if cut and accumulator.last_event_invalid else 0)
    if invalid > 0 and facts.parse_error is None:
        facts.parse_error = f"{invalid} stream events with invalid JSON"
    return facts


def _is_identity(content_encoding: str | None) -> bool:
    """No decoding needed; False for an unknown encoding (decoding it reports the error)."""
    if content_encoding is None:
        return True
    try:
        return BodyDecoder(content_encoding).is_identity
    except DecodeError:
        return False


class _StreamDecodeError(Exception):
    """A stream whose content encoding broke off; `decoded` is what came out before."""

    def __init__(self, decoded: bytes) -> None:
        super().__init__("content decoding failed")
        self.decoded = decoded


def _accumulate_incrementally(
    chunks: Sequence[bytes], content_encoding: str | None, accumulator: StreamAccumulator
) -> bytes:
    """Decode and feed the chunks one by one, as they came; returns the decoded body.

    Each event is added with the index of the chunk that completed it.
    Raises `_StreamDecodeError` (caused by the `DecodeError`) when the
    content encoding is broken.
    """
    sse = SSEDecoder()
    decoded: list[bytes] = []
    try:
        decoder = BodyDecoder(content_encoding)
        identity = decoder.is_identity
        last_index = len(chunks) - 1
        for index, chunk in enumerate(chunks):
            piece = chunk if identity else decoder.decode(chunk)
            decoded.append(piece)
            for event in sse.feed(piece):
                accumulator.add(event, index)
        tail = decoder.flush()
        decoded.append(tail)
        for event in sse.feed(tail) + sse.flush():
            accumulator.add(event, last_index)
    except DecodeError as exc:
        raise _StreamDecodeError(b"".join(decoded)) from exc
    return b"".join(decoded)
