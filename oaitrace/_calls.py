"""Grouping the attempts of one logical SDK call under one `call_id`.

The openai SDK retries a failed request (429, 5xx, timeouts, dropped
connections) by sending it again with `x-stainless-retry-count` raised by
one. Nothing else on the wire links the attempts, so oaitrace links them by
what must be equal: the credentials, method, URL and body, within the SDK's
backoff window. This runs on the writer thread, in the order exchanges
finished, which is the order the SDK made its attempts.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Final

from ._exchange import Exchange, RawHeaders, header_pairs

__all__ = ["CallTracker", "retry_count"]

# The SDK waits at most 60 s between attempts (a server's retry-after above
# that is not honoured), and a timed-out attempt may itself take minutes; a
# generous window costs nothing but a little memory.
DEFAULT_WINDOW_S: Final = 15 * 60.0
# Calls remembered at most; the oldest are forgotten first.
MAX_OPEN_CALLS: Final = 50_000

_RETRY_HEADER: Final = b"x-stainless-retry-count"
_KEY_HEADERS: Final = (b"authorization", b"api-key")

CallKey = tuple[str, str, bytes]


def retry_count(headers: RawHeaders) -> int | None:
    """The SDK's retry count of this attempt, None when the header is absent or not a number."""
    for name, value in header_pairs(headers):
        if name.lower() == _RETRY_HEADER:
            return int(value) if value.isdigit() else None
    return None


def _call_key(exchange: Exchange) -> CallKey:
    digest = hashlib.blake2b(digest_size=16)
    for name, value in header_pairs(exchange.request_headers):
        if name.lower() in _KEY_HEADERS:
            digest.update(value)
    digest.update(b"\0")
    digest.update(exchange.request_body or b"")
    return exchange.method, exchange.url, digest.digest()


class CallTracker:
    """Gives every attempt the `call_id` of the logical call it belongs to.

    The first attempt of a call (retry count 0 or absent) opens a call whose
    id is that attempt's record id; a later attempt with the same key within
    the window joins it. A retry whose first attempt was never seen (the
    process started in between) opens a call of its own.
    """

    def __init__(self, window_s: float = DEFAULT_WINDOW_S, max_open: int = MAX_OPEN_CALLS) -> None:
        self._window_ns = int(window_s * 1e9)
        self._max_open = max_open
        # key -> (call id, when its latest attempt ended, wall-clock ns)
        self._open: OrderedDict[CallKey, tuple[str, int]] = OrderedDict()

    def call_id(self, exchange: Exchange, record_id: str) -> str:
        """The call id for this attempt, remembering it for the attempts that follow."""
        key = _call_key(exchange)
        ended_ns = exchange.started_at_ns + exchange.duration_ns
        attempt = retry_count(exchange.request_headers)
        known = self._open.get(key)
        if attempt and known is not None and exchange.started_at_ns - known[1] <= self._window_ns:
            call_id = known[0]
        else:
            call_id = record_id
        self._open[key] = (call_id, ended_ns)
        self._open.move_to_end(key)
        self._forget_old(ended_ns)
        return call_id

    def __len__(self) -> int:
        """How many calls are remembered for retries to join."""
        return len(self._open)

    def _forget_old(self, now_ns: int) -> None:
        open_calls = self._open
        while open_calls:
            _, (_, ended_ns) = next(iter(open_calls.items()))
            if len(open_calls) <= self._max_open and now_ns - ended_ns <= self._window_ns:
                return
            open_calls.popitem(last=False)
