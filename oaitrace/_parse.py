"""Exchange -> Record: the pure parsing step of the writer thread.

`parse` never raises: a body it cannot read gives a Record with
`parse_error` set and every other field it could still fill.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from ._batch_output import BATCH_OUTPUT_KEY, read_batch_output
from ._body import BodyFacts, is_text_type, read_json_body, read_stream_body
from ._exchange import Exchange, Record, Usage
from ._headers import http_date_s, parse_duration_s, parse_float, parse_int, retry_after_s
from ._json import loads
from ._multipart import fields_of_form, multipart_fields
from ._objects import ResponseView, object_facts, path_ids
from ._providers import provider_for
from ._redact import (
    api_key_fingerprint,
    redact_headers,
    redact_message,
    redact_text,
    redact_url,
    streamed_secret,
)
from ._routes import BILLED_OPERATIONS, route
from ._usage import usage_from_json

__all__ = ["parse"]

_T = TypeVar("_T")
_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_NO_USAGE: Final = Usage()
# Multipart uploads (transcriptions, image edits) name the model in a form field.
# Request settings kept in `extra["request_params"]` (they become span
# attributes such as gen_ai.request.temperature); cheap dict lookups.
_REQUEST_PARAMS: Final = (
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "n",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "service_tier",
)


@dataclass(frozen=True, slots=True)
class _RequestFacts:
    model: str | None = None
    stream: bool = False
    params: dict[str, Any] | None = None
    # The JSON body's fields, or a multipart body's text fields plus the
    # first file part's `filename`.
    fields: Mapping[str, Any] | None = None


def parse(
    exchange: Exchange,
    *,
    record_id: str,
    capture_content: bool = True,
    call_id: str | None = None,
) -> Record:
    """The Record of one exchange; never raises.

    With `capture_content=False` no request or response body is kept, only
    metadata and usage.
    """
    try:
        return _parse(exchange, record_id, capture_content, call_id)
    except Exception as exc:  # the writer thread must survive any input
        record = _fallback_record(exchange, record_id, f"{type(exc).__name__}: {exc}")
        return dataclasses.replace(record, call_id=call_id)


def _parse(
    exchange: Exchange, record_id: str, capture_content: bool, call_id: str | None
) -> Record:
    request_headers = redact_headers(exchange.request_headers)
    response_headers = redact_headers(exchange.response_headers)
    url = redact_url(exchange.url)
    host, path = _host_and_path(url)
    endpoint, operation = route(exchange.method, path)
    request = _request_facts(
        exchange.request_body, request_headers.get("content-type"), exchange.request_form
    )
    content_type = response_headers.get("content-type")
    body = _read_body(exchange, content_type, response_headers.get("content-encoding"), request)
    is_stream = request.stream or _is_event_stream(content_type)
    extra: dict[str, Any] = {}
    usage = _NO_USAGE
    if body.usage is not None:
        if operation in BILLED_OPERATIONS:
            usage = usage_from_json(body.usage)
        else:
            extra["object_usage"] = body.usage
    error = body.error or {}
    if "param" in error:
        extra["error_param"] = error["param"]
    if request.params:
        extra["request_params"] = request.params
    if body.response_params:
        extra["response_params"] = body.response_params
    object_ids = path_ids(endpoint, path)
    response_view = ResponseView(
        body.obj or {}, content_type, (body.content or b"")[:64], exchange.response_bytes
    )
    extra.update(object_facts(operation, object_ids, request.fields, response_view))
    if operation == "files.content" and exchange.status_code == 200 and body.content:
        cut = not exchange.complete or exchange.response_truncated
        batch_output = read_batch_output(body.content, cut=cut)
        if batch_output is not None:
            extra[BATCH_OUTPUT_KEY] = batch_output
    started_ns = exchange.started_at_ns
    return Record(
        id=record_id,
        started_at=_EPOCH + datetime.timedelta(microseconds=started_ns // 1000),
        method=exchange.method,
        url=url,
        host=host,
        path=path,
        endpoint=endpoint,
        operation=operation,
        stream=is_stream,
        status_code=exchange.status_code,
        # The openai SDK closes a stream at `[DONE]` without reading to EOF;
        # the stream was still whole.
        complete=exchange.complete or (body.stream_ended and exchange.error_type is None),
        request_model=request.model,
        response_model=body.model,
        response_id=body.response_id,
        request_id=response_headers.get("x-request-id"),
        processing_ms=parse_float(response_headers.get("openai-processing-ms")),
        openai_version=response_headers.get("openai-version"),
        organization=response_headers.get("openai-organization"),
        project=response_headers.get("openai-project"),
        ratelimit_limit_requests=parse_int(response_headers.get("x-ratelimit-limit-requests")),
        ratelimit_remaining_requests=parse_int(
            response_headers.get("x-ratelimit-remaining-requests")
        ),
        ratelimit_reset_requests_s=parse_duration_s(
            response_headers.get("x-ratelimit-reset-requests")
        ),
        ratelimit_limit_tokens=parse_int(response_headers.get("x-ratelimit-limit-tokens")),
        ratelimit_remaining_tokens=parse_int(response_headers.get("x-ratelimit-remaining-tokens")),
        ratelimit_reset_tokens_s=parse_duration_s(response_headers.get("x-ratelimit-reset-tokens")),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        cached_input_tokens=usage.cached_input_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        duration_ms=exchange.duration_ns / 1e6,
        ttfb_ms=None if exchange.headers_ns is None else exchange.headers_ns / 1e6,
        ttft_ms=_ttft_ms(exchange, body.first_content_chunk) if is_stream else None,
        finish_reasons=body.finish_reasons,
        error_type=exchange.error_type or _text(error.get("type")),
        error_code=_error_code(error.get("code")),
        error_message=_error_message(exchange, error),
        retry_attempt=parse_int(request_headers.get("x-stainless-retry-count")),
        cost_usd=None,
        tags=dict(exchange.tags),
        usage_details=usage.details,
        retry_after_s=_retry_after(response_headers, started_ns),
        api_key_fingerprint=api_key_fingerprint(exchange.request_headers),
        response_content_type=content_type,
        request_bytes=_request_bytes(exchange.request_body, request_headers),
        response_bytes=exchange.response_bytes,
        parse_error=body.parse_error,
        request_headers=request_headers,
        response_headers=response_headers,
        request_body=_request_text(exchange, request_headers, extra) if capture_content else None,
        response_body=_stored_response_text(body.content, content_type, is_stream, extra)
        if capture_content
        else None,
        response_truncated=exchange.response_truncated,
        extra=extra,
        call_id=call_id,
        service_tier=(body.response_params or {}).get("service_tier"),
        provider=provider_for(host, path) if host else None,
        object_ids=object_ids,
    )


def _host_and_path(url: str) -> tuple[str, str]:
    """Host (with port) and path without query or fragment; cheaper than urlsplit."""
    _, separator, rest = url.partition("://")
    if not separator:
        rest = url
        authority = ""
    else:
        authority, slash, rest = rest.partition("/")
        rest = slash + rest
    path = rest.partition("?")[0].partition("#")[0]
    return authority.rpartition("@")[2].lower(), path or "/"


def _is_event_stream(content_type: str | None) -> bool:
    return content_type is not None and "text/event-stream" in content_type.lower()


def _request_facts(
    body: bytes | None, content_type: str | None, form: tuple[tuple[str, str], ...] | None = None
) -> _RequestFacts:
    if not body:
        return _form_facts(fields_of_form(form)) if form else _RequestFacts()
    media_type = (content_type or "").lower()
    if "multipart/form-data" in media_type:
        parts = multipart_fields(body)
        fields: dict[str, Any] = dict(parts.values)
        for filename in parts.filenames.values():
            fields.setdefault("filename", filename)
        return _form_facts(fields)
    if "json" not in media_type and body[:1] != b"{":
        return _RequestFacts()
    try:
        obj = loads(body)
    except ValueError:
        return _RequestFacts()
    if type(obj) is not dict:
        return _RequestFacts()
    return _RequestFacts(
        model=_text(obj.get("model")),
        stream=obj.get("stream") is True,
        params=_params(obj),
        fields=obj,
    )


def _form_facts(fields: Mapping[str, Any]) -> _RequestFacts:
    """The facts of a multipart form's text fields (uploads name the model there)."""
    return _RequestFacts(
        model=_text(fields.get("model")), stream=fields.get("stream") == "true", fields=fields
    )


def _params(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The request's generation settings, as sent; None when it set none."""
    params = {key: obj[key] for key in _REQUEST_PARAMS if obj.get(key) is not None}
    # Chat: response_format.type; Responses: text.format.type.
    response_format = obj.get("response_format")
    if type(response_format) is not dict:
        text = obj.get("text")
        response_format = text.get("format") if type(text) is dict else None
    if type(response_format) is dict and type(response_format.get("type")) is str:
        params["response_format"] = response_format["type"]
    return params or None


def _read_body(
    exchange: Exchange,
    content_type: str | None,
    content_encoding: str | None,
    request: _RequestFacts,
) -> BodyFacts:
    cut = not exchange.complete or exchange.response_truncated
    if _is_event_stream(content_type) or (content_type is None and request.stream):
        return read_stream_body(exchange.response_chunks, content_encoding, cut=cut)
    expect_json = "json" in content_type.lower() if content_type else True
    return read_json_body(
        exchange.response_chunks,
        content_encoding,
        expect_json=expect_json,
        cut=cut,
        tail=exchange.response_tail,
    )


def _ttft_ms(exchange: Exchange, first_content_chunk: int | None) -> float | None:
    if first_content_chunk is None or first_content_chunk >= len(exchange.chunk_arrival_ns):
        return None
    return exchange.chunk_arrival_ns[first_content_chunk] / 1e6


def _text(value: Any) -> str | None:
    return value if type(value) is str and value else None


def _error_code(code: Any) -> str | None:
    if type(code) is str:
        return code or None
    if type(code) is int:
        return str(code)
    return None


def _error_message(exchange: Exchange, error: Mapping[str, Any]) -> str | None:
    if exchange.error_type is not None:
        message = exchange.error_message
    else:
        message = _text(error.get("message"))
    return None if message is None else redact_message(message)


def _retry_after(headers: Mapping[str, str], started_at_ns: int) -> float | None:
    if "retry-after" not in headers and "retry-after-ms" not in headers:
        return None
    now_s = http_date_s(headers.get("date"))
    return retry_after_s(headers, started_at_ns / 1e9 if now_s is None else now_s)


def _request_bytes(body: bytes | None, headers: Mapping[str, str]) -> int | None:
    if body is not None:
        return len(body)
    return parse_int(headers.get("content-length"))


def _request_text(
    exchange: Exchange, headers: Mapping[str, str], extra: dict[str, Any]
) -> str | None:
    body = exchange.request_body
    if not body:
        return None
    content_type = headers.get("content-type")
    if content_type is not None and not is_text_type(content_type):
        # Uploads (audio, images, files): size and type say enough.
        extra["request_content_type"] = content_type
        extra["request_body_size"] = len(body)
        return None
    return redact_text(body.decode("utf-8", "replace"))


def _stored_response_text(
    content: bytes | None, content_type: str | None, is_stream: bool, extra: dict[str, Any]
) -> str | None:
    text = _response_text(content, content_type)
    if is_stream and text and streamed_secret(text):
        # Redaction works event by event; a key spelled over many deltas is
        # only visible put together, so the whole stream is withheld.
        extra["response_body_withheld"] = "a key-shaped string in the streamed text"
        return None
    return text


def _response_text(content: bytes | None, content_type: str | None) -> str | None:
    if not content:
        return None
    if content_type is None:
        try:
            return redact_text(content.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    if not is_text_type(content_type):
        return None
    return redact_text(content.decode("utf-8", "replace"))


def _fallback_record(exchange: Exchange, record_id: str, parse_error: str) -> Record:
    """The Record of an exchange `_parse` failed on: only the fields that cannot fail."""
    url = _safe(lambda: redact_url(exchange.url), "")
    return Record(
        id=record_id,
        started_at=_safe(
            lambda: _EPOCH + datetime.timedelta(microseconds=exchange.started_at_ns // 1000),
            _EPOCH,
        ),
        method=_safe(lambda: str(exchange.method), ""),
        url=url,
        host=_safe(lambda: _host_and_path(url)[0], ""),
        path=_safe(lambda: _host_and_path(url)[1], ""),
        endpoint=_safe(lambda: route(exchange.method, _host_and_path(url)[1])[0], ""),
        operation=_safe(lambda: route(exchange.method, _host_and_path(url)[1])[1], "unknown"),
        stream=False,
        status_code=_safe(lambda: exchange.status_code, None),
        complete=_safe(lambda: bool(exchange.complete), False),
        request_model=None,
        response_model=None,
        response_id=None,
        request_id=None,
        processing_ms=None,
        openai_version=None,
        organization=None,
        project=None,
        ratelimit_limit_requests=None,
        ratelimit_remaining_requests=None,
        ratelimit_reset_requests_s=None,
        ratelimit_limit_tokens=None,
        ratelimit_remaining_tokens=None,
        ratelimit_reset_tokens_s=None,
        input_tokens=None,
        output_tokens=None,
        total_tokens=None,
        cached_input_tokens=None,
        reasoning_tokens=None,
        duration_ms=_safe(lambda: exchange.duration_ns / 1e6, 0.0),
        ttfb_ms=None,
        ttft_ms=None,
        finish_reasons=None,
        error_type=_safe(lambda: exchange.error_type, None),
        error_message=_safe(lambda: redact_message(exchange.error_message or "") or None, None),
        error_code=None,
        retry_attempt=None,
        cost_usd=None,
        tags=_safe(lambda: dict(exchange.tags), {}),
        usage_details={},
        retry_after_s=None,
        api_key_fingerprint=None,
        response_content_type=None,
        request_bytes=None,
        response_bytes=_safe(lambda: int(exchange.response_bytes), 0),
        parse_error=parse_error,
        request_headers={},
        response_headers={},
        request_body=None,
        response_body=None,
        response_truncated=_safe(lambda: bool(exchange.response_truncated), False),
    )


def _safe(compute: Callable[[], _T], default: _T) -> _T:
    try:
        return compute()
    except Exception:  # the fallback path takes whatever still works
        return default
