"""Attempts of one logical SDK call share a call_id; different calls never do."""

from __future__ import annotations

from oaitrace._calls import CallTracker, retry_count
from oaitrace._exchange import Exchange, flat_headers
from tests.corpus import build_exchange

SECOND_NS = 1_000_000_000


def attempt(
    retry: int | None, *, body: bytes = b'{"model":"gpt-4o"}', key: str = "sk-a", at_s: float = 0
) -> Exchange:
    headers = [("authorization", f"Bearer {key}"), ("content-type", "application/json")]
    if retry is not None:
        headers.append(("x-stainless-retry-count", str(retry)))
    exchange = build_exchange(request_headers=headers, request_body=body)
    return Exchange(
        **{
            **{name: getattr(exchange, name) for name in Exchange.__dataclass_fields__},
            "started_at_ns": exchange.started_at_ns + int(at_s * SECOND_NS),
        }
    )


class TestRetryCount:
    def test_reads_the_sdk_header(self) -> None:
        """The retry count comes from x-stainless-retry-count, None when absent or garbled."""
        assert [2, None, None] == [
            retry_count(flat_headers([(b"X-Stainless-Retry-Count", b"2")])),
            retry_count(flat_headers([(b"x-stainless-retry-count", b"two")])),
            retry_count(flat_headers([])),
        ]


class TestCallTracker:
    def test_retries_join_the_first_attempt(self) -> None:
        """Attempts 0, 1 and 2 of the same request share the first attempt's id."""
        tracker = CallTracker()
        ids = [tracker.call_id(attempt(n, at_s=n), f"rec{n}") for n in range(3)]
        assert ["rec0", "rec0", "rec0"] == ids

    def test_a_new_first_attempt_starts_a_new_call(self) -> None:
        """The same request sent again by the application (retry count 0) is a new call."""
        tracker = CallTracker()
        ids = [tracker.call_id(attempt(0, at_s=n), f"rec{n}") for n in range(2)]
        assert ["rec0", "rec1"] == ids

    def test_different_body_or_key_is_a_different_call(self) -> None:
        """A retry of a different body or under another API key does not join."""
        tracker = CallTracker()
        tracker.call_id(attempt(0), "first")
        assert "other-body" == tracker.call_id(attempt(1, body=b"{}"), "other-body")
        assert "other-key" == tracker.call_id(attempt(1, key="sk-b"), "other-key")

    def test_retry_after_the_window_starts_its_own_call(self) -> None:
        """A retry long after its first attempt is not joined to it."""
        tracker = CallTracker(window_s=10)
        tracker.call_id(attempt(0), "first")
        assert "late" == tracker.call_id(attempt(1, at_s=60), "late")

    def test_memory_is_bounded(self) -> None:
        """At most max_open calls are remembered."""
        tracker = CallTracker(max_open=5)
        for n in range(50):
            tracker.call_id(attempt(0, body=str(n).encode()), f"rec{n}")
        assert 5 == len(tracker)
