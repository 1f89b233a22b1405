"""Recording transports for httpx: the HTTP library of openai-python 2.x and many other SDKs.

openai 3.x accepts an `httpx.Client` too.

Example::

    import httpx
    import openai
    import oaitrace
    from oaitrace.httpx import RecordingTransport

    recorder = oaitrace.Recorder()
    transport = RecordingTransport(recorder=recorder)
    client = openai.OpenAI(http_client=httpx.Client(transport=transport))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from ._transport import (
    AsyncRecordingCore,
    AsyncTeeStreamCore,
    SyncRecordingCore,
    SyncTeeStreamCore,
)

if TYPE_CHECKING:
    from ._recorder import Recorder

__all__ = ["AsyncRecordingTransport", "RecordingTransport"]


class _TeeStream(SyncTeeStreamCore, httpx.SyncByteStream):
    __slots__ = ()


class _AsyncTeeStream(AsyncTeeStreamCore, httpx.AsyncByteStream):
    __slots__ = ()


class RecordingTransport(httpx.BaseTransport):
    """A httpx transport that records every exchange into a `Recorder`.

    Wraps `transport` (default: `httpx.HTTPTransport()`). What the caller
    receives is exactly what the inner transport returned: same status,
    headers, bytes, extensions and exceptions.
    """

    def __init__(self, *, recorder: Recorder, transport: httpx.BaseTransport | None = None) -> None:
        self._core = SyncRecordingCore(
            recorder=recorder,
            transport=httpx.HTTPTransport() if transport is None else transport,
            tee_class=_TeeStream,
            byte_stream_class=httpx.ByteStream,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response: httpx.Response = self._core.handle_request(request)
        return response

    def close(self) -> None:
        self._core.close()


class AsyncRecordingTransport(httpx.AsyncBaseTransport):
    """The asyncio twin of `RecordingTransport` (default inner: `httpx.AsyncHTTPTransport()`)."""

    def __init__(
        self, *, recorder: Recorder, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._core = AsyncRecordingCore(
            recorder=recorder,
            transport=httpx.AsyncHTTPTransport() if transport is None else transport,
            tee_class=_AsyncTeeStream,
            byte_stream_class=httpx.ByteStream,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response: httpx.Response = await self._core.handle_async_request(request)
        return response

    async def aclose(self) -> None:
        await self._core.aclose()
