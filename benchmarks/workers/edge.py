"""The network edge: OpenAI's answers, with OpenAI's headers, behind a MockTransport.

Bodies are served as iterator streams of the HTTP library's own stream class,
one network chunk per server-sent event, so a recording transport tees them
the way it would tee a socket. Every call gets the same bytes: the mock costs
the same for every configuration and the difference is what is measured.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

__all__ = ["CHAT_REQUEST", "STREAM_CHUNKS", "chat_handler", "stream_handler"]

MODEL = "gpt-4o-mini-2024-07-18"

# What api.openai.com sends with a chat completion (values made up, names and shapes real).
OPENAI_HEADERS = {
    "date": "Sun, 23 Nov 2025 10:00:00 GMT",
    "access-control-expose-headers": "X-Request-ID",
    "openai-organization": "org-benchmark",
    "openai-processing-ms": "412",
    "openai-project": "proj_Benchmark000000000000000",
    "openai-version": "2020-10-01",
    "x-envoy-upstream-service-time": "415",
    "x-ratelimit-limit-requests": "30000",
    "x-ratelimit-limit-tokens": "150000000",
    "x-ratelimit-remaining-requests": "29999",
    "x-ratelimit-remaining-tokens": "149999985",
    "x-ratelimit-reset-requests": "2ms",
    "x-ratelimit-reset-tokens": "0s",
    "x-request-id": "req_0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "strict-transport-security": "max-age=31536000; includeSubDomains; preload",
    "cf-cache-status": "DYNAMIC",
    "x-content-type-options": "nosniff",
    "server": "cloudflare",
    "cf-ray": "8e4f1a2b3c4d5e6f-AMS",
    "alt-svc": 'h3=":443"; ma=86400',
}

CHAT_REQUEST: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Say hello in one short sentence."},
    ],
}

_CHAT_COMPLETION = {
    "id": "chatcmpl-AbC123dEf456GhI789jKl012MnO",
    "object": "chat.completion",
    "created": 1763892000,
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hello! It is nice to meet you, how can I help today?",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 24,
        "completion_tokens": 15,
        "total_tokens": 39,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_560af6e559",
}


def _stream_events() -> list[bytes]:
    """A chat stream with 20 content chunks and a usage chunk, framed as OpenAI frames it."""
    base = {
        "id": "chatcmpl-StR123dEf456GhI789jKl012MnO",
        "object": "chat.completion.chunk",
        "created": 1763892000,
        "model": MODEL,
        "service_tier": "default",
        "system_fingerprint": "fp_560af6e559",
    }

    def chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        event = {**base, "choices": choices, "usage": usage}
        return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"

    def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    events = [chunk([choice({"role": "assistant", "content": "", "refusal": None})])]
    events += [chunk([choice({"content": f" word{i}"})]) for i in range(20)]
    events.append(chunk([choice({}, "stop")]))
    usage = {
        "prompt_tokens": 24,
        "completion_tokens": 20,
        "total_tokens": 44,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }
    events.append(chunk([], usage))
    return [*events, b"data: [DONE]\n\n"]


STREAM_CHUNKS = _stream_events()
_CHAT_BODY = json.dumps(_CHAT_COMPLETION).encode()


def _iterator_stream_class(lib: ModuleType) -> type:
    class IteratorStream(lib.SyncByteStream):  # type: ignore[name-defined,misc]
        """Yields its chunks one by one, like a socket read loop."""

        def __init__(self, chunks: list[bytes]) -> None:
            self._chunks = chunks

        def __iter__(self) -> Iterator[bytes]:
            yield from self._chunks

    return IteratorStream


def chat_handler(lib: ModuleType) -> Callable[[Any], Any]:
    """A MockTransport handler answering every request with a chat completion."""
    stream_class = _iterator_stream_class(lib)
    headers = {
        **OPENAI_HEADERS,
        "content-type": "application/json",
        "content-length": str(len(_CHAT_BODY)),
    }
    chunks = [_CHAT_BODY]

    def handler(request: Any) -> Any:
        return lib.Response(200, headers=headers, stream=stream_class(chunks))

    return handler


def stream_handler(lib: ModuleType, chunks: list[bytes] = STREAM_CHUNKS) -> Callable[[Any], Any]:
    """A MockTransport handler answering every request with a server-sent event stream."""
    stream_class = _iterator_stream_class(lib)
    headers = {**OPENAI_HEADERS, "content-type": "text/event-stream; charset=utf-8"}

    def handler(request: Any) -> Any:
        return lib.Response(200, headers=headers, stream=stream_class(chunks))

    return handler
