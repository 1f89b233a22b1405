"""A small OpenAI-compatible HTTP server on loopback, for the demo and for tests.

It speaks enough of the OpenAI API (chat completions, embeddings, responses,
models; streaming and not) for the real ``openai`` SDK to work against it
unmodified, and it sends the headers OpenAI sends (request id, processing
time, rate limits) so that what oaitrace records looks like real traffic.
Failures can be injected by model name or header to show retries and errors:

- model ``demo-rate-limited``: the first attempt of each request gets a ``429``
  with a short ``retry-after-ms``, the SDK's automatic retry then succeeds;
- model ``demo-server-error``: every attempt gets a ``500``;
- header ``x-demo-fail: rate_limit`` or ``x-demo-fail: server_error`` does the
  same for any model.

Example::

    with DemoServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test")
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar

from typing_extensions import Self

__all__ = [
    "RATE_LIMITED_MODEL",
    "SERVER_ERROR_MODEL",
    "DemoServer",
    "ServedRequest",
    "format_reset_duration",
]

RATE_LIMITED_MODEL = "demo-rate-limited"
SERVER_ERROR_MODEL = "demo-server-error"
FAIL_HEADER = "x-demo-fail"

_ORGANIZATION = "org-oaitrace-demo"
_PROJECT = "proj_oaitraceDemo000000000000"
_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "text-embedding-3-small", "o4-mini")
_DEFAULT_EMBEDDING_DIMENSIONS = 16
# OpenAI's rate-limit window; remaining capacity refills continuously over it.
_RATE_LIMIT_WINDOW_S = 60.0
# Connections idle this long are closed, so a forgotten keep-alive client
# cannot hold a handler thread forever.
_IDLE_TIMEOUT_S = 30.0
_WORD = re.compile(r"\w+|[^\w\s]")

JSONObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ServedRequest:
    """One request the server answered, noted as its response starts, for tests to inspect."""

    method: str
    path: str
    model: str | None
    stream: bool
    status_code: int
    request_id: str
    retry_count: str | None
    """The SDK's ``x-stainless-retry-count`` header, ``None`` when absent."""


class _ApiError(Exception):
    """An OpenAI-style error response: status, message, type, code, extra headers."""

    def __init__(
        self,
        status_code: int,
        message: str,
        error_type: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.error_type = error_type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def body(self) -> JSONObject:
        """The JSON body OpenAI sends with an error."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


def format_reset_duration(seconds: float) -> str:
    """Format a duration the way OpenAI's ``x-ratelimit-reset-*`` headers do.

    Under a second it is whole milliseconds (``6ms``); otherwise Go's duration
    style (``1s``, ``1m2.5s``, ``6m0s``, ``1h2m3.5s``).

    >>> format_reset_duration(0.006), format_reset_duration(62.5)
    ('6ms', '1m2.5s')
    """
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    milliseconds = round(seconds * 1000)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    second_text = f"{milliseconds / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{second_text}s"
    if minutes:
        return f"{minutes}m{second_text}s"
    return f"{second_text}s"


def _count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: words and punctuation marks."""
    return len(_WORD.findall(text))


def _new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


class _RateLimits:
    """Requests and tokens buckets that refill continuously over a minute, like OpenAI's."""

    def __init__(self, limit_requests: int, limit_tokens: int) -> None:
        self._lock = threading.Lock()
        self.limit_requests = limit_requests
        self.limit_tokens = limit_tokens
        self._remaining_requests = float(limit_requests)
        self._remaining_tokens = float(limit_tokens)
        self._updated_at = time.monotonic()

    def consume(self, tokens: int) -> dict[str, str]:
        """Take one request and ``tokens`` tokens; return the rate-limit headers after it."""
        with self._lock:
            now = time.monotonic()
            elapsed = now - self._updated_at
            self._updated_at = now
            # Refill for the time that passed (never above the limit), then take this request.
            refilled_requests = min(
                float(self.limit_requests),
                self._remaining_requests + elapsed * self.limit_requests / _RATE_LIMIT_WINDOW_S,
            )
            refilled_tokens = min(
                float(self.limit_tokens),
                self._remaining_tokens + elapsed * self.limit_tokens / _RATE_LIMIT_WINDOW_S,
            )
            self._remaining_requests = max(0.0, refilled_requests - 1)
            self._remaining_tokens = max(0.0, refilled_tokens - tokens)
            used_requests = self.limit_requests - self._remaining_requests
            used_tokens = self.limit_tokens - self._remaining_tokens
            return {
                "x-ratelimit-limit-requests": str(self.limit_requests),
                "x-ratelimit-limit-tokens": str(self.limit_tokens),
                "x-ratelimit-remaining-requests": str(int(self._remaining_requests)),
                "x-ratelimit-remaining-tokens": str(int(self._remaining_tokens)),
                "x-ratelimit-reset-requests": format_reset_duration(
                    used_requests * _RATE_LIMIT_WINDOW_S / self.limit_requests
                ),
                "x-ratelimit-reset-tokens": format_reset_duration(
                    used_tokens * _RATE_LIMIT_WINDOW_S / self.limit_tokens
                ),
            }


# --- request bodies -> text -------------------------------------------------


def _content_text(content: object) -> str:
    """Text of a message ``content``: a string or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        ]
        return " ".join(parts)
    return ""


def _last_user_text(messages: object) -> str:
    if not isinstance(messages, Sequence) or isinstance(messages, str):
        return ""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _all_text(messages: object) -> str:
    if isinstance(messages, str):
        return messages
    if not isinstance(messages, Sequence):
        return ""
    return " ".join(
        _content_text(message.get("content"))
        for message in messages
        if isinstance(message, Mapping)
    )


def _reply_text(prompt: str, choice_index: int = 0) -> str:
    quoted = prompt.strip() or "nothing"
    if len(quoted) > 200:
        quoted = quoted[:197] + "..."
    suffix = f" (choice {choice_index + 1})" if choice_index else ""
    return f'You said: "{quoted}". This is the oaitrace demo server replying{suffix}.'


def _split_for_stream(text: str, pieces: int = 6) -> list[str]:
    """Split ``text`` into about ``pieces`` word-aligned deltas that join back to it."""
    words = re.findall(r"\S+\s*", text)
    size = max(1, -(-len(words) // pieces))
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)] or [text]


def _cached_tokens(prompt_tokens: int) -> int:
    # Mimic OpenAI's prompt caching, which starts at 1024 tokens in 128-token steps.
    return (prompt_tokens // 128) * 128 if prompt_tokens >= 1024 else 0


def _reasoning_tokens(model: str, completion_tokens: int) -> int:
    return completion_tokens // 2 if model.startswith(("o1", "o3", "o4", "gpt-5")) else 0


def _chat_usage(model: str, prompt_tokens: int, completion_tokens: int) -> JSONObject:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {
            "cached_tokens": _cached_tokens(prompt_tokens),
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": _reasoning_tokens(model, completion_tokens),
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _responses_usage(model: str, input_tokens: int, output_tokens: int) -> JSONObject:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": _cached_tokens(input_tokens)},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": _reasoning_tokens(model, output_tokens)},
        "total_tokens": input_tokens + output_tokens,
    }


def _embedding_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit-ish vector derived from a hash of ``text``."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((byte - 127.5) / 127.5 for byte in digest)
        counter += 1
    norm = sum(v * v for v in values[:dimensions]) ** 0.5 or 1.0
    # Round-trip through float32 so the float and base64 forms hold the same numbers.
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in values[:dimensions]]


def _embedding_inputs(raw: object) -> list[str]:
    """Inputs as strings: a string, a list of strings, or token arrays."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, Sequence) and raw:
        if all(isinstance(item, int) for item in raw):
            return [" ".join(str(item) for item in raw)]
        return [item if isinstance(item, str) else json.dumps(item) for item in raw]
    raise _ApiError(400, "'input' is a required property", "invalid_request_error", param="input")


# --- the HTTP layer ----------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 gives keep-alive; every response then needs a content-length or chunking.
    protocol_version = "HTTP/1.1"
    server_version = "oaitrace-demo"
    sys_version = ""
    timeout = _IDLE_TIMEOUT_S
    server: _Server

    # Set per request by _dispatch.
    _request_id: str
    _started: float
    _model: str | None
    _stream: bool

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: no access log on stderr."""

    def do_GET(self) -> None:
        """Handle GET requests."""
        self._dispatch()

    def do_POST(self) -> None:
        """Handle POST requests."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Handle DELETE requests (always an invalid URL here)."""
        self._dispatch()

    # -- routing

    def _dispatch(self) -> None:
        self._request_id = "req_" + secrets.token_hex(16)
        self._started = time.monotonic()
        self._model = None
        self._stream = False
        try:
            self._route()
        except _ApiError as error:
            self._send_json(error.status_code, error.body(), tokens=0, extra_headers=error.headers)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            # The client went away mid-response (for example closed a stream early).
            self.close_connection = True
        except Exception as error:  # a bug here must still give the client an answer
            message = f"The demo server failed: {type(error).__name__}: {error}"
            self.close_connection = True
            self._send_json(500, _ApiError(500, message, "server_error").body(), tokens=0)

    def _start_response(self, status: int) -> None:
        """Note the request, then send the status line.

        Noting it first means a client that holds the response always finds
        the request in `DemoServer.requests`.
        """
        self.server.note_request(
            ServedRequest(
                method=self.command,
                path=self.path,
                model=self._model,
                stream=self._stream,
                status_code=status,
                request_id=self._request_id,
                retry_count=self.headers.get("x-stainless-retry-count"),
            )
        )
        self.send_response(status)

    def _route(self) -> int:
        path = self.path.split("?", 1)[0].rstrip("/")
        method = self.command
        if method == "GET" and path == "/v1/models":
            return self._send_json(200, self._models_body(), tokens=0)
        if method == "GET" and path.startswith("/v1/models/"):
            return self._send_json(200, self._model_object(path.removeprefix("/v1/models/")), 0)
        routes = {
            "/v1/chat/completions": self._chat_completions,
            "/v1/embeddings": self._embeddings,
            "/v1/responses": self._responses,
        }
        handler = routes.get(path)
        if method != "POST" or handler is None:
            message = f"Invalid URL ({method} {path})"
            raise _ApiError(404, message, "invalid_request_error")
        body = self._read_json_body()
        self._check_auth()
        model = body.get("model")
        if not isinstance(model, str) or not model:
            message = "you must provide a model parameter"
            raise _ApiError(400, message, "invalid_request_error", param="model")
        self._model = model
        self._stream = body.get("stream") is True
        self._inject_failure(model, body)
        return handler(body)

    def _check_auth(self) -> None:
        authorization = self.headers.get("authorization", "")
        if not authorization.lower().startswith("bearer ") or not authorization[7:].strip():
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            raise _ApiError(401, message, "invalid_request_error")

    def _inject_failure(self, model: str, body: JSONObject) -> None:
        requested = self.headers.get(FAIL_HEADER, "").strip().lower()
        if model == SERVER_ERROR_MODEL or requested == "server_error":
            message = "The server had an error while processing your request. Sorry about that!"
            raise _ApiError(500, message, "server_error")
        if (model == RATE_LIMITED_MODEL or requested == "rate_limit") and self._is_first_attempt(
            body
        ):
            message = (
                f"Rate limit reached for {model} in organization {_ORGANIZATION} on requests "
                "per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 50ms."
            )
            # retry-after-ms is what the SDK reads first; 50 ms keeps the demo fast.
            headers = {"retry-after-ms": "50", "retry-after": "0"}
            raise _ApiError(429, message, "requests", code="rate_limit_exceeded", headers=headers)

    def _is_first_attempt(self, body: JSONObject) -> bool:
        retry_count = self.headers.get("x-stainless-retry-count")
        if retry_count is not None:
            return retry_count.strip() == "0"
        # Clients without the SDK's retry counter: alternate per distinct body.
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return self.server.toggle_pending_failure(key)

    def _read_json_body(self) -> JSONObject:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            raw = self._read_chunked_body()
        else:
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                self.close_connection = True
                raise _ApiError(
                    400, "Invalid content-length header", "invalid_request_error"
                ) from None
            raw = self.rfile.read(length) if length > 0 else b""
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            message = (
                "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
                "but what was sent was not valid JSON.)"
            )
            raise _ApiError(400, message, "invalid_request_error") from None
        if not isinstance(body, dict):
            message = "The request body must be a JSON object."
            raise _ApiError(400, message, "invalid_request_error")
        return body

    def _read_chunked_body(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size_line = self.rfile.readline(65537)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise _ApiError(400, "Invalid chunked body", "invalid_request_error") from None
            if size == 0:
                # Skip trailers up to the blank line that ends the body.
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(3)

    # -- endpoints

    def _models_body(self) -> JSONObject:
        return {"object": "list", "data": [self._model_object(model) for model in _MODELS]}

    @staticmethod
    def _model_object(model: str) -> JSONObject:
        return {"id": model, "object": "model", "created": 1_715_367_049, "owned_by": "system"}

    def _chat_completions(self, body: JSONObject) -> int:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            message = "Missing required parameter: 'messages'."
            raise _ApiError(400, message, "invalid_request_error", param="messages")
        model = str(body["model"])
        choices_count = body.get("n")
        if not isinstance(choices_count, int) or choices_count < 1:
            choices_count = 1
        replies = [_reply_text(_last_user_text(messages), i) for i in range(choices_count)]
        prompt_tokens = _count_tokens(_all_text(messages)) + 7 * len(messages)
        completion_tokens = sum(_count_tokens(reply) for reply in replies)
        usage = _chat_usage(model, prompt_tokens, completion_tokens)
        tokens = prompt_tokens + completion_tokens
        completion_id = _new_id("chatcmpl-")
        created = int(time.time())
        if self._stream:
            options = body.get("stream_options")
            include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
            events = self._chat_chunks(
                completion_id, created, model, replies, usage if include_usage else None
            )
            return self._send_sse(events, tokens)
        response = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": index,
                    "message": {
                        "role": "assistant",
                        "content": reply,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
                for index, reply in enumerate(replies)
            ],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": "fp_oaitrace",
        }
        return self._send_json(200, response, tokens)

    @staticmethod
    def _chat_chunks(
        completion_id: str,
        created: int,
        model: str,
        replies: list[str],
        usage: JSONObject | None,
    ) -> Iterator[tuple[str | None, JSONObject]]:
        include_usage = usage is not None

        def chunk(choices: list[JSONObject], chunk_usage: JSONObject | None = None) -> JSONObject:
            value: JSONObject = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "service_tier": "default",
                "system_fingerprint": "fp_oaitrace",
                "choices": choices,
            }
            # OpenAI adds "usage": null to every chunk when usage was asked for.
            if include_usage:
                value["usage"] = chunk_usage
            return value

        def choice(index: int, delta: JSONObject, finish: str | None = None) -> JSONObject:
            return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}

        for index, reply in enumerate(replies):
            first = {"role": "assistant", "content": "", "refusal": None}
            yield None, chunk([choice(index, first)])
            for piece in _split_for_stream(reply):
                yield None, chunk([choice(index, {"content": piece})])
            yield None, chunk([choice(index, {}, "stop")])
        if usage is not None:
            yield None, chunk([], usage)

    def _embeddings(self, body: JSONObject) -> int:
        inputs = _embedding_inputs(body.get("input"))
        dimensions = body.get("dimensions")
        if not isinstance(dimensions, int) or dimensions <= 0:
            dimensions = _DEFAULT_EMBEDDING_DIMENSIONS
        as_base64 = body.get("encoding_format") == "base64"
        data: list[JSONObject] = []
        for index, text in enumerate(inputs):
            vector = _embedding_vector(text, dimensions)
            # The SDK asks for base64 by default and decodes it as little-endian float32.
            embedding: object = (
                base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        prompt_tokens = sum(_count_tokens(text) for text in inputs)
        response = {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
        return self._send_json(200, response, prompt_tokens)

    def _responses(self, body: JSONObject) -> int:
        raw_input = body.get("input")
        if raw_input is None:
            message = "Missing required parameter: 'input'."
            raise _ApiError(400, message, "invalid_request_error", param="input")
        model = str(body["model"])
        prompt = raw_input if isinstance(raw_input, str) else _last_user_text(raw_input)
        reply = _reply_text(prompt)
        instructions = body.get("instructions")
        input_text = (
            _all_text(raw_input) + " " + (instructions if isinstance(instructions, str) else "")
        )
        input_tokens = _count_tokens(input_text) + 7
        output_tokens = _count_tokens(reply)
        response_id = "resp_" + secrets.token_hex(24)
        message_id = "msg_" + secrets.token_hex(24)
        created_at = int(time.time())

        def response_object(status: str, text: str | None) -> JSONObject:
            output: list[JSONObject] = []
            if text is not None:
                output.append(self._response_message(message_id, text, "completed"))
            return {
                "id": response_id,
                "object": "response",
                "created_at": created_at,
                "status": status,
                "background": False,
                "error": None,
                "incomplete_details": None,
                "instructions": instructions if isinstance(instructions, str) else None,
                "max_output_tokens": body.get("max_output_tokens"),
                "model": model,
                "output": output,
                "parallel_tool_calls": True,
                "previous_response_id": body.get("previous_response_id"),
                "reasoning": {"effort": None, "summary": None},
                "service_tier": "default",
                "store": body.get("store", True),
                "temperature": body.get("temperature", 1.0),
                "text": {"format": {"type": "text"}, "verbosity": "medium"},
                "tool_choice": "auto",
                "tools": [],
                "top_p": body.get("top_p", 1.0),
                "truncation": "disabled",
                "usage": (
                    _responses_usage(model, input_tokens, output_tokens)
                    if status == "completed"
                    else None
                ),
                "user": body.get("user"),
                "metadata": body.get("metadata") or {},
            }

        tokens = input_tokens + output_tokens
        if not self._stream:
            return self._send_json(200, response_object("completed", reply), tokens)
        return self._send_sse(
            self._response_events(response_object, message_id, reply), tokens, done_marker=False
        )

    @staticmethod
    def _response_message(message_id: str, text: str, status: str) -> JSONObject:
        content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        return {
            "id": message_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content if text or status == "completed" else [],
        }

    def _response_events(
        self,
        response_object: Callable[[str, str | None], JSONObject],
        message_id: str,
        reply: str,
    ) -> Iterator[tuple[str | None, JSONObject]]:
        sequence = iter(range(1_000_000))

        def event(event_type: str, **fields: Any) -> tuple[str, JSONObject]:
            return event_type, {"type": event_type, "sequence_number": next(sequence), **fields}

        part_ids = {"item_id": message_id, "output_index": 0, "content_index": 0}
        empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        full_part = {**empty_part, "text": reply}
        yield event("response.created", response=response_object("in_progress", None))
        yield event("response.in_progress", response=response_object("in_progress", None))
        in_progress_item = {**self._response_message(message_id, "", "in_progress"), "content": []}
        yield event("response.output_item.added", output_index=0, item=in_progress_item)
        yield event("response.content_part.added", **part_ids, part=empty_part)
        for piece in _split_for_stream(reply):
            yield event("response.output_text.delta", **part_ids, delta=piece, logprobs=[])
        yield event("response.output_text.done", **part_ids, text=reply, logprobs=[])
        yield event("response.content_part.done", **part_ids, part=full_part)
        done_item = self._response_message(message_id, reply, "completed")
        yield event("response.output_item.done", output_index=0, item=done_item)
        yield event("response.completed", response=response_object("completed", reply))

    # -- writing responses

    def _common_headers(self, tokens: int) -> dict[str, str]:
        processing_ms = max(1, round((time.monotonic() - self._started) * 1000))
        return {
            "x-request-id": self._request_id,
            "openai-processing-ms": str(processing_ms),
            "openai-version": "2020-10-01",
            "openai-organization": _ORGANIZATION,
            "openai-project": _PROJECT,
            "x-content-type-options": "nosniff",
            **self.server.rate_limits.consume(tokens),
        }

    def _send_json(
        self,
        status: int,
        body: JSONObject,
        tokens: int,
        extra_headers: Mapping[str, str] | None = None,
    ) -> int:
        payload = json.dumps(body, indent=2).encode()
        headers = self._common_headers(tokens)
        headers.update(extra_headers or {})
        accepts_gzip = "gzip" in self.headers.get("accept-encoding", "").lower()
        if self.server.compress and accepts_gzip:
            payload = gzip.compress(payload, compresslevel=5)
            headers["content-encoding"] = "gzip"
        self._start_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()
        return status

    def _send_sse(
        self,
        events: Iterator[tuple[str | None, JSONObject]],
        tokens: int,
        done_marker: bool = True,
    ) -> int:
        """Stream server-sent events with chunked transfer encoding."""
        self._start_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("cache-control", "no-cache")
        for name, value in self._common_headers(tokens).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()
        delay = self.server.chunk_delay_s
        for index, (event_name, data) in enumerate(events):
            if delay and index:
                time.sleep(delay)
            prefix = f"event: {event_name}\n" if event_name else ""
            # Compact JSON, one event per chunk, as OpenAI streams it.
            payload = json.dumps(data, separators=(",", ":"))
            self._write_chunk(f"{prefix}data: {payload}\n\n".encode())
        if done_marker:
            self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        return 200

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    """The HTTP server: tracks its connections and handler threads so stop() leaves none."""

    daemon_threads = True
    # Re-binding a fixed port right after a stop must not fail in tests.
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        chunk_delay_s: float,
        compress: bool,
        rate_limits: _RateLimits,
    ) -> None:
        super().__init__(address, _Handler)
        self.chunk_delay_s = chunk_delay_s
        self.compress = compress
        self.rate_limits = rate_limits
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._served: list[ServedRequest] = []
        self._pending_failures: set[str] = set()

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        """Serve each connection on its own daemon thread, remembered so stop() can join it."""
        if not isinstance(request, socket.socket):  # only datagram servers get tuples
            msg = "the demo server only serves TCP"
            raise TypeError(msg)
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="oaitrace-demo-connection",
            daemon=True,
        )
        with self._lock:
            self._connections.add(request)
            self._handler_threads.add(thread)
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except (OSError, ValueError):
            pass  # a connection cut at stop() or by the client; nothing to report
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._connections.discard(request)
                self._handler_threads.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: errors are answered as HTTP errors, disconnects are normal."""

    def close_connections(self, timeout: float) -> None:
        """Cut idle keep-alive connections and wait for their threads to end."""
        with self._lock:
            connections = list(self._connections)
            threads = list(self._handler_threads)
        for connection in connections:
            # OSError: the other side closed it already.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def note_request(self, served: ServedRequest) -> None:
        """Remember one answered request."""
        with self._lock:
            self._served.append(served)

    def served(self) -> list[ServedRequest]:
        """A snapshot of the answered requests, oldest first."""
        with self._lock:
            return list(self._served)

    def toggle_pending_failure(self, key: str) -> bool:
        """True the first time ``key`` is seen (fail it), False the next (let it through)."""
        with self._lock:
            if key in self._pending_failures:
                self._pending_failures.discard(key)
                return False
            self._pending_failures.add(key)
            return True


class DemoServer:
    """An OpenAI-compatible HTTP server on ``127.0.0.1``, served from a daemon thread.

    Args:
        port: TCP port; 0 picks a free one.
        chunk_delay_s: pause between streamed chunks, to make streams look real.
        compress: gzip JSON responses when the client accepts it, as OpenAI does.
        limit_requests: ``x-ratelimit-limit-requests`` per minute. The defaults are
            OpenAI's first usage tier, low enough that a quick demo visibly uses them up.
        limit_tokens: ``x-ratelimit-limit-tokens`` per minute. Limits are reported,
            never enforced.

    Example::

        with DemoServer() as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="sk-test")
            print(client.models.list())
    """

    host: ClassVar[str] = "127.0.0.1"

    def __init__(
        self,
        port: int = 0,
        *,
        chunk_delay_s: float = 0.0,
        compress: bool = False,
        limit_requests: int = 500,
        limit_tokens: int = 200_000,
    ) -> None:
        self._port = port
        self._chunk_delay_s = chunk_delay_s
        self._compress = compress
        self._limit_requests = limit_requests
        self._limit_tokens = limit_tokens
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # The last server, kept after stop() so `requests` can still be read.
        self._last_server: _Server | None = None

    @property
    def port(self) -> int:
        """The bound port; only valid while started."""
        return self._running_server().server_address[1]

    @property
    def base_url(self) -> str:
        """The URL to give the OpenAI SDK, e.g. ``http://127.0.0.1:54321/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[ServedRequest]:
        """Every request answered so far, oldest first."""
        return self._last_server.served() if self._last_server else []

    def start(self) -> Self:
        """Bind the port and start serving in a daemon thread; returns self."""
        if self._server is not None:
            msg = "DemoServer is already started"
            raise RuntimeError(msg)
        rate_limits = _RateLimits(self._limit_requests, self._limit_tokens)
        self._server = _Server(
            (self.host, self._port), self._chunk_delay_s, self._compress, rate_limits
        )
        self._last_server = self._server
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="oaitrace-demo-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close every connection and join every thread. Idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        thread.join(timeout)
        server.close_connections(timeout)
        server.server_close()
        self._thread = None
        self._server = None

    def _running_server(self) -> _Server:
        if self._server is None:
            msg = "DemoServer is not started; call start() or use it as a context manager"
            raise RuntimeError(msg)
        return self._server

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
