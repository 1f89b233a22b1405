"""What oaitrace may change in an outgoing request, before it leaves.

Only three things, each either oaitrace's own or opted into:

- the per-call tags header (`x-oaitrace-tags`), read and removed so it never
  reaches the server;
- `stream_options.include_usage` added to streamed chat and completions
  requests that lack it (`Recorder(inject_stream_usage=True)`);
- the W3C `traceparent` header (`Recorder(propagate_trace_context=True)`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from operator import itemgetter
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import quote, unquote

from opentelemetry import propagate

from ._tags import current_tags

__all__ = ["TAGS_HEADER", "RequestPreparer", "format_tags_header", "parse_tags_header"]

TAGS_HEADER: Final = "x-oaitrace-tags"
_TAGS_HEADER_KEY: Final = TAGS_HEADER.encode()
_LOWERED_NAME: Final = itemgetter(1)
# Streams whose usage OpenAI reports only when asked to.
_USAGE_STREAM_PATHS: Final = ("/chat/completions", "/completions")


def parse_tags_header(value: str) -> dict[str, str]:
    """`user=u-42, feature=search` (values percent-encoded) as a dict; junk pairs are skipped."""
    tags: dict[str, str] = {}
    for pair in value.split(","):
        key, separator, tag_value = pair.partition("=")
        key = key.strip()
        if separator and key:
            tags[unquote(key)] = unquote(tag_value.strip())
    return tags


def format_tags_header(**tags: object) -> dict[str, str]:
    """The `extra_headers` that tag one SDK call.

    Example::

        client.chat.completions.create(..., extra_headers=oaitrace.tag_headers(user="u-42"))
    """
    value = ", ".join(f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in tags.items())
    return {TAGS_HEADER: value}


class RequestPreparer:
    """Applies the request changes a Recorder asked for; built once per transport."""

    __slots__ = ("_default_tags", "_inject_stream_usage", "_propagate")

    def __init__(self, sink: object) -> None:
        # Read once: sinks other than a Recorder (tests, benchmarks) may lack them.
        self._propagate = getattr(sink, "propagate_trace_context", False) is True
        self._inject_stream_usage = getattr(sink, "inject_stream_usage", False) is True
        default_tags = getattr(sink, "default_tags", None)
        self._default_tags: Mapping[str, str] = (
            MappingProxyType(dict(default_tags)) if default_tags else MappingProxyType({})
        )

    def prepare(self, request: Any) -> tuple[Any, Mapping[str, str]]:
        """The request to send (maybe a rewritten copy) and the tags of this attempt."""
        tags = current_tags()
        if self._default_tags:
            tags = {**self._default_tags, **tags}
        headers = request.headers
        if _has_tags_header(headers):
            tags = {**tags, **parse_tags_header(headers[TAGS_HEADER])}
            del headers[TAGS_HEADER]
        if self._inject_stream_usage:
            request = _with_stream_usage(request)
        if self._propagate:
            propagate.inject(request.headers)
        return request, tags


def _has_tags_header(headers: Any) -> bool:
    """`TAGS_HEADER in headers`, without httpx's cost of asking it.

    httpx's `in` first works out the headers' text encoding by decoding every
    name and value, 2 µs on every request. httpx and httpx2 both keep each
    header as (raw name, lowered name, value) in `_list`; anything else falls
    back to the public test.
    """
    try:
        return _TAGS_HEADER_KEY in map(_LOWERED_NAME, headers._list)
    except (AttributeError, TypeError, IndexError):
        return TAGS_HEADER in headers


def _with_stream_usage(request: Any) -> Any:
    """A copy of a streamed chat/completions request that asks for usage, else the request."""
    if request.method != "POST" or not request.url.path.endswith(_USAGE_STREAM_PATHS):
        return request
    try:
        body = json.loads(request.content)
    except Exception:
        return request
    if type(body) is not dict or body.get("stream") is not True:
        return request
    options = body.get("stream_options")
    if type(options) is dict and "include_usage" in options:
        return request  # the caller decided, either way
    body["stream_options"] = {**(options if type(options) is dict else {}), "include_usage": True}
    headers = [
        (name, value) for name, value in request.headers.raw if name.lower() != b"content-length"
    ]
    return type(request)(
        request.method,
        request.url,
        headers=headers,
        content=json.dumps(body, separators=(",", ":")).encode(),
        extensions=request.extensions,
    )
