"""Real `Exchange` objects, taken by oaitrace's own transport from real SDK calls."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
from edge import CHAT_REQUEST, chat_handler, stream_handler

from oaitrace.httpx2 import RecordingTransport

__all__ = ["sample_exchange"]


class _KeepingSink:
    capture_limit = 1 << 20

    def __init__(self) -> None:
        self.exchanges: list[Any] = []

    def emit(self, exchange: Any) -> None:
        self.exchanges.append(exchange)

    def report_internal_error(self, error: BaseException) -> None:
        raise error


def sample_exchange(kind: str) -> Any:
    """The Exchange of one non-streaming chat call ("chat") or one 20-chunk stream ("stream")."""
    sink = _KeepingSink()
    handler = chat_handler(httpx2) if kind == "chat" else stream_handler(httpx2)
    transport = RecordingTransport(recorder=sink, transport=httpx2.MockTransport(handler))  # type: ignore[arg-type]
    client = openai.OpenAI(
        api_key="sk-benchmark-000000000000000000000000",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )
    if kind == "chat":
        client.chat.completions.create(**CHAT_REQUEST)
    else:
        stream = client.chat.completions.create(
            **CHAT_REQUEST, stream=True, stream_options={"include_usage": True}
        )
        for _chunk in stream:
            pass
    (exchange,) = sink.exchanges
    return exchange
