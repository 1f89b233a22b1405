"""Recording transports for httpx2, the HTTP library of openai-python 3.x.

Example::

    import httpx2
    import openai
    import oaitrace
    from oaitrace.httpx2 import RecordingTransport

    recorder = oaitrace.Recorder()
    transport = RecordingTransport(recorder=recorder)
    client = openai.OpenAI(http_client=httpx2.Client(transport=transport))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx2

from ._transport import (
    AsyncRecordingCore,
    AsyncTeeStreamCore,
    SyncRecordingCore,
    SyncTeeStreamCore,
)

if TYPE_CHECKING:
    from ._recorder import Recorder

__all__ = ["AsyncRecordingTransport", "RecordingTransport"]


class _TeeStream(SyncTeeStreamCore, httpx2.SyncByteStream):
    __slots__ = ()


class _AsyncTeeStream(AsyncTeeStreamCore, httpx2.AsyncByteStream):
    __slots__ = ()


class RecordingTransport(httpx2.BaseTransport):
    """A httpx2 transport that records every exchange into a `Recorder`.

    Wraps `transport` (default: `httpx2.HTTPTransport()`). What the caller
    receives is exactly what the inner transport returned: same status,
    headers, bytes, extensions and exceptions.
    """

    def __init__(
        self, *, recorder: Recorder, transport: httpx2.BaseTransport | None = None
    ) -> None:
        self._core = SyncRecordingCore(
            recorder=recorder,
            transport=httpx2.HTTPTransport() if transport is None else transport,
            tee_class=_TeeStream,
            byte_stream_class=httpx2.ByteStream,
        )

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response: httpx2.Response = self._core.handle_request(request)
        return response

    def close(self) -> None:
        self._core.close()


class AsyncRecordingTransport(httpx2.AsyncBaseTransport):
    """The asyncio twin of `RecordingTransport` (default inner: `httpx2.AsyncHTTPTransport()`)."""

    def __init__(
        self, *, recorder: Recorder, transport: httpx2.AsyncBaseTransport | None = None
    ) -> None:
        self._core = AsyncRecordingCore(
            recorder=recorder,
            transport=httpx2.AsyncHTTPTransport() if transport is None else transport,
            tee_class=_AsyncTeeStream,
            byte_stream_class=httpx2.ByteStream,
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response: httpx2.Response = await self._core.handle_async_request(request)
        return response

    async def aclose(self) -> None:
        await self._core.aclose()
