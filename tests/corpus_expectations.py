"""What a recorded corpus case carries, read independently of oaitrace's parser.

Expected values come from the case with plain `int`/`float`, a separate small
duration parser, and usage straight from the response JSON or SSE `data:`
lines, so a parser bug cannot hide by being used on both sides.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

import pytest

from tests.corpus import Case, response_text

__all__ = ["RecordLike", "assert_matches_case"]


class RecordLike(Protocol):
    """The attributes shared by a parsed Record and a stored RequestRecord."""

    @property
    def status_code(self) -> int | None: ...

    @property
    def complete(self) -> bool: ...

    @property
    def operation(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    @property
    def request_id(self) -> str | None: ...

    @property
    def processing_ms(self) -> float | None: ...

    @property
    def openai_version(self) -> str | None: ...

    @property
    def organization(self) -> str | None: ...

    @property
    def project(self) -> str | None: ...

    @property
    def ratelimit_limit_requests(self) -> int | None: ...

    @property
    def ratelimit_remaining_requests(self) -> int | None: ...

    @property
    def ratelimit_reset_requests_s(self) -> float | None: ...

    @property
    def ratelimit_limit_tokens(self) -> int | None: ...

    @property
    def ratelimit_remaining_tokens(self) -> int | None: ...

    @property
    def ratelimit_reset_tokens_s(self) -> float | None: ...

    @property
    def input_tokens(self) -> int | None: ...

    @property
    def output_tokens(self) -> int | None: ...

    @property
    def total_tokens(self) -> int | None: ...

    @property
    def cached_input_tokens(self) -> int | None: ...

    @property
    def reasoning_tokens(self) -> int | None: ...

    @property
    def response_model(self) -> str | None: ...

    @property
    def stream(self) -> bool: ...


# Operations whose usage is this request's own consumption (the parser's
# documented policy; retrievals of stored objects keep theirs aside).
BILLED = {
    "chat",
    "text_completion",
    "embeddings",
    "responses.compact",
    "audio.speech",
    "audio.transcription",
    "audio.translation",
    "images.generate",
    "images.edit",
    "images.variation",
    "threads.runs.create",
    "threads.create_and_run",
    "threads.runs.submit_tool_outputs",
}


def expected_int(value: str | None) -> int | None:
    """A header value as int, None when absent or not an integer."""
    return int(value) if value is not None and value.isdigit() else None


def expected_float(value: str | None) -> float | None:
    """A header value as float, None when absent or not a number."""
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def expected_duration(value: str | None) -> float | None:
    """Seconds of a duration like `6m0s`, read unit by unit."""
    if value is None:
        return None
    seconds = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"([0-9.]+)(ms|s|m|h)", value)
    assert "".join(number + unit for number, unit in parts) == value, value
    return sum(float(number) * seconds[unit] for number, unit in parts)


def stream_payloads(text: str) -> list[tuple[str | None, dict[str, Any]]]:
    """(event name, JSON data) of every SSE event whose data is a JSON object."""
    found: list[tuple[str | None, dict[str, Any]]] = []
    for block in re.split(r"\r\n\r\n|\n\n|\r\r", text):
        name = None
        data_lines = []
        for line in re.split(r"\r\n|\n|\r", block):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data_lines.append(line[5:].strip())
        data = "\n".join(data_lines)
        if data.startswith("{"):
            found.append((name, json.loads(data)))
    return found


def expected_usage_and_model(case: Case) -> tuple[dict[str, Any] | None, str | None]:
    """The usage object and model that the response body reports, last one wins."""
    text = response_text(case)
    if not text:
        return None, None
    if not case.response["is_stream"]:
        is_json = "json" in case.response["headers"].get("content-type", "")
        body = json.loads(text) if is_json and text.strip() else {}
        usage = body.get("usage")
        model = body.get("model")
        return (usage if isinstance(usage, dict) else None), (model or None)
    usage = model = None
    for name, payload in stream_payloads(text):
        kind = name or payload.get("type") or ""
        if kind.startswith("thread.") and not kind.startswith("thread.run."):
            continue
        if kind.startswith("thread.run.step"):
            continue
        source = payload.get("response", payload)
        if isinstance(source.get("usage"), dict):
            usage = source["usage"]
        model = source.get("model") or model
    return usage, model


def expected_tokens(usage: dict[str, Any] | None) -> dict[str, int | None]:
    """Input, output, total, cached and reasoning tokens of a usage object."""
    if usage is None:
        return dict.fromkeys(["input", "output", "total", "cached", "reasoning"])
    prompt_details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    output_details = (
        usage.get("completion_tokens_details") or usage.get("output_tokens_details") or {}
    )
    return {
        "input": usage.get("prompt_tokens", usage.get("input_tokens")),
        "output": usage.get("completion_tokens", usage.get("output_tokens")),
        "total": usage.get("total_tokens"),
        "cached": prompt_details.get("cached_tokens"),
        "reasoning": output_details.get("reasoning_tokens"),
    }


def actual_tokens(record: RecordLike) -> dict[str, int | None]:
    """The same five numbers from a Record."""
    return {
        "input": record.input_tokens,
        "output": record.output_tokens,
        "total": record.total_tokens,
        "cached": record.cached_input_tokens,
        "reasoning": record.reasoning_tokens,
    }


def request_json(case: Case) -> dict[str, Any]:
    """The request body as a JSON object, empty when it is not JSON."""
    body = case.request.get("body")
    if case.request.get("body_encoding") == "none" or not isinstance(body, str):
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# Objects whose usage shows only when polled, and the statuses that end them.
POLLED_OBJECTS = {"thread.run", "batch"}
FINAL_STATUSES = {"completed", "incomplete", "failed", "cancelled", "expired", "requires_action"}


def polled_object(case: Case) -> str | None:
    """The id of a run or batch this (non-billing) response shows finished with usage."""
    text = response_text(case)
    if case.response["is_stream"] or not text or not text.lstrip().startswith("{"):
        return None
    try:
        body = json.loads(text)
    except ValueError:  # JSON lines (file contents) are not an object
        return None
    if (
        body.get("object") in POLLED_OBJECTS
        and body.get("status") in FINAL_STATUSES
        and isinstance(body.get("usage"), dict)
    ):
        return str(body["id"])
    return None


def first_polls(cases: list[Case]) -> set[str]:
    """Names of the cases that are the first finished poll of their object, in replay order."""
    seen: set[str] = set()
    first: set[str] = set()
    for case in cases:
        object_id = polled_object(case)
        if object_id is not None and object_id not in seen:
            seen.add(object_id)
            first.add(case.name)
    return first


def assert_matches_case(record: RecordLike, case: Case, *, counts_polled: bool = False) -> None:
    """Status, headers, rate limits, usage, model, stream and route match the recording."""
    headers = case.response["headers"]
    content_type = headers.get("content-type", "")

    assert case.response["status"] == record.status_code
    assert True is record.complete
    assert record.operation != "unknown"
    assert "{id}" not in record.endpoint
    assert headers.get("x-request-id") == record.request_id
    assert expected_float(headers.get("openai-processing-ms")) == record.processing_ms
    assert headers.get("openai-version") == record.openai_version
    assert headers.get("openai-organization") == record.organization
    assert headers.get("openai-project") == record.project

    assert {
        "limit_requests": expected_int(headers.get("x-ratelimit-limit-requests")),
        "remaining_requests": expected_int(headers.get("x-ratelimit-remaining-requests")),
        "reset_requests": expected_duration(headers.get("x-ratelimit-reset-requests")),
        "limit_tokens": expected_int(headers.get("x-ratelimit-limit-tokens")),
        "remaining_tokens": expected_int(headers.get("x-ratelimit-remaining-tokens")),
        "reset_tokens": expected_duration(headers.get("x-ratelimit-reset-tokens")),
    } == {
        "limit_requests": record.ratelimit_limit_requests,
        "remaining_requests": record.ratelimit_remaining_requests,
        "reset_requests": pytest.approx(record.ratelimit_reset_requests_s),
        "limit_tokens": record.ratelimit_limit_tokens,
        "remaining_tokens": record.ratelimit_remaining_tokens,
        "reset_tokens": pytest.approx(record.ratelimit_reset_tokens_s),
    }

    usage, model = expected_usage_and_model(case)
    # A first finished poll of a run or batch counts its usage (oaitrace._policy).
    billed = usage if record.operation in BILLED or counts_polled else None
    assert expected_tokens(billed) == actual_tokens(record)
    assert model == record.response_model
    is_stream = request_json(case).get("stream") is True or "text/event-stream" in content_type
    assert is_stream == record.stream
