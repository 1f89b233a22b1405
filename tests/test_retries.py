"""Retries through the real openai SDK: each attempt a record, one call_id per logical call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

import oaitrace
from oaitrace.query import Query, RequestDetail
from tests.openai_edge import CHAT_COMPLETION, OPENAI_HEADERS

CHAT_ARGS: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Hi"}],
}


class FailFirst:
    """A network edge that fails the first attempt of every request in a chosen way."""

    def __init__(self, failure: str) -> None:
        self.failure = failure
        self.attempts = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.attempts += 1
        if self.attempts == 1:
            if self.failure == "timeout":
                message = "read timed out"
                raise httpx2.ReadTimeout(message, request=request)
            error = {
                "error": {
                    "message": "Rate limit reached",
                    "type": "requests",
                    "code": "rate_limit_exceeded",
                }
            }
            headers = {**OPENAI_HEADERS, "retry-after-ms": "10", "retry-after": "0"}
            return httpx2.Response(429, headers=headers, json=error)
        return httpx2.Response(200, headers=OPENAI_HEADERS, content=json.dumps(CHAT_COMPLETION))


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[oaitrace.Recorder]:
    with oaitrace.Recorder(str(tmp_path / "retries.db")) as recorder:
        yield recorder


def attempts(recorder: oaitrace.Recorder) -> list[RequestDetail]:
    assert recorder.flush(timeout=10)
    with Query(recorder.database_url) as query:
        details = [query.detail(record.id) for record in reversed(query.requests())]
    return [detail for detail in details if detail is not None]


@pytest.mark.parametrize(
    ("failure", "first_status", "first_error"),
    [("rate_limit", 429, "requests"), ("timeout", None, "ReadTimeout")],
)
def test_retried_call_is_two_attempts_of_one_call(
    recorder: oaitrace.Recorder, failure: str, first_status: int | None, first_error: str
) -> None:
    """A failed first attempt and the SDK's successful retry are two records sharing a call_id."""
    client = openai.OpenAI(
        api_key="sk-test",
        http_client=recorder.client(transport=httpx2.MockTransport(FailFirst(failure))),
    )
    completion = client.chat.completions.create(**CHAT_ARGS)
    assert "Hello there" == completion.choices[0].message.content
    first, second = attempts(recorder)
    assert (first_status, first_error, 0) == (
        first.record.status_code,
        first.record.error_type,
        first.record.retry_attempt,
    )
    assert (200, None, 1) == (
        second.record.status_code,
        second.record.error_type,
        second.record.retry_attempt,
    )
    assert first.call_id == second.call_id == first.record.id
    if failure == "rate_limit":
        assert 0.01 == first.retry_after_s


def test_separate_calls_have_separate_call_ids(recorder: oaitrace.Recorder) -> None:
    """Identical calls made one after another by the application are separate calls."""
    client = openai.OpenAI(
        api_key="sk-test",
        http_client=recorder.client(transport=httpx2.MockTransport(FailFirst("rate_limit"))),
    )
    for _ in range(3):
        client.chat.completions.create(**CHAT_ARGS)
    details = attempts(recorder)
    # The first call needed a retry: four attempts, three calls.
    assert (4, 3) == (len(details), len({detail.call_id for detail in details}))
