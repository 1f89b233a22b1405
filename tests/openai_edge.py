"""The network edge for SDK tests: canned OpenAI responses behind a MockTransport.

Streaming bodies are served as real iterator streams (not pre-read bytes) so
the recording transport's tee is exercised the way a socket would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from types import ModuleType
from typing import Any

OPENAI_HEADERS = {
    "x-request-id": "req_0123456789abcdef",
    "openai-processing-ms": "321",
    "openai-version": "2020-10-01",
    "openai-organization": "org-test",
    "openai-project": "proj_test",
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-limit-tokens": "2000000",
    "x-ratelimit-remaining-tokens": "1999950",
    "x-ratelimit-reset-tokens": "1m2.5s",
}

CHAT_COMPLETION = {
    "id": "chatcmpl-abc",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there"},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 1, "audio_tokens": 0},
    },
}


def chat_stream_events(include_usage: bool) -> list[bytes]:
    """A 20-content-chunk chat stream, as OpenAI frames it, one event per network chunk."""
    base = {"id": "chatcmpl-str", "object": "chat.completion.chunk", "created": 1700000000}
    base["model"] = "gpt-4o-mini-2024-07-18"
    events: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    ]
    events += [
        {**base, "choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}]}
        for i in range(20)
    ]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if include_usage:
        usage = {"prompt_tokens": 9, "completion_tokens": 20, "total_tokens": 29}
        events.append({**base, "choices": [], "usage": usage})
    frames = [b"data: " + json.dumps(event).encode() + b"\n\n" for event in events]
    return [*frames, b"data: [DONE]\n\n"]


EMBEDDING = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2, 0.3]}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 5, "total_tokens": 5},
}

RESPONSE = {
    "id": "resp_123",
    "object": "response",
    "created_at": 1700000000,
    "status": "completed",
    "model": "gpt-4.1-2025-04-14",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi", "annotations": []}],
        }
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "usage": {
        "input_tokens": 20,
        "input_tokens_details": {"cached_tokens": 8},
        "output_tokens": 30,
        "output_tokens_details": {"reasoning_tokens": 16},
        "total_tokens": 50,
    },
}


def iterator_stream(lib: ModuleType, chunks: list[bytes]) -> Any:
    """A response stream of the library's own type that yields `chunks` one by one."""

    class Stream(lib.SyncByteStream, lib.AsyncByteStream):  # type: ignore[name-defined,misc]
        def __iter__(self) -> Iterator[bytes]:
            yield from chunks

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

    return Stream()


def openai_handler(lib: ModuleType) -> Any:
    """A MockTransport handler answering chat, embeddings and Responses like OpenAI."""

    def handler(request: Any) -> Any:
        body = json.loads(request.content or b"{}")
        path = request.url.path
        if path.endswith("/chat/completions"):
            if body.get("stream"):
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                headers = {**OPENAI_HEADERS, "content-type": "text/event-stream"}
                stream = iterator_stream(lib, chat_stream_events(include_usage))
                return lib.Response(200, headers=headers, stream=stream)
            payload: Mapping[str, object] = CHAT_COMPLETION
        elif path.endswith("/embeddings"):
            payload = EMBEDDING
        elif path.endswith("/responses"):
            payload = RESPONSE
        else:
            error = {"error": {"message": "Unknown path", "type": "invalid_request_error"}}
            return lib.Response(404, headers=OPENAI_HEADERS, json=error)
        content = json.dumps(payload).encode()
        headers = {**OPENAI_HEADERS, "content-type": "application/json"}
        # Served as a stream of two network chunks, like a socket would.
        stream = iterator_stream(lib, [content[:40], content[40:]])
        return lib.Response(200, headers=headers, stream=stream)

    return handler
