"""Bounded, incremental removal of HTTP content encodings (gzip, deflate, br).

The body is decoded chunk by chunk so that a decoded SSE event can still be
traced back to the raw chunk (and so the arrival time) that completed it.
Output is capped: a small compressed body must not be able to fill memory.
"""

from __future__ import annotations

import zlib
from typing import Final, Protocol

import brotli

__all__ = [
    "MAX_DECODED_BYTES",
    "BodyDecoder",
    "DecodeError",
]

MAX_DECODED_BYTES: Final = 64 * 1024 * 1024

_IDENTITY: Final = frozenset({"", "identity"})


class DecodeError(Exception):
    """The body could not be decoded: corrupt data, unknown encoding or too large."""


class _Decoder(Protocol):
    def decode(self, data: bytes, budget: int) -> bytes: ...

    def flush(self, budget: int) -> bytes: ...


def _check_budget(output: bytes, budget: int) -> bytes:
    if len(output) > budget:
        msg = "decoded body exceeds the decoding limit"
        raise DecodeError(msg)
    return output


class _ZlibDecoder:
    """gzip, or deflate with or without its zlib header (servers send both)."""

    def __init__(self, *, gzip: bool) -> None:
        self._gzip = gzip
        self._started = False
        self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)

    def decode(self, data: bytes, budget: int) -> bytes:
        # Asking for one byte more than allowed tells "exactly full" from "too much".
        try:
            output = self._decompressor.decompress(data, budget + 1)
        except zlib.error as exc:
            if self._gzip or self._started:
                raise DecodeError(str(exc)) from exc
            self._decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
            self._started = True
            return self.decode(data, budget)
        self._started = True
        return _check_budget(output, budget)

    def flush(self, budget: int) -> bytes:
        try:
            output = self._decompressor.flush()
        except zlib.error as exc:
            raise DecodeError(str(exc)) from exc
        return _check_budget(output, budget)


class _BrotliDecoder:
    def __init__(self) -> None:
        self._decompressor = brotli.Decompressor()

    def decode(self, data: bytes, budget: int) -> bytes:
        try:
            output = self._process(data, budget)
        except brotli.error as exc:
            raise DecodeError(str(exc)) from exc
        return _check_budget(output, budget)

    def flush(self, budget: int) -> bytes:
        return b""

    def _process(self, data: bytes, budget: int) -> bytes:
        try:
            output: bytes = self._decompressor.process(data, output_buffer_limit=budget + 1)
        except TypeError:
            # brotli < 1.2 has no output limit: the cap is then checked only afterwards.
            output = self._decompressor.process(data)
        return output


def _make_decoder(encoding: str) -> _Decoder:
    if encoding in ("gzip", "x-gzip"):
        return _ZlibDecoder(gzip=True)
    if encoding == "deflate":
        return _ZlibDecoder(gzip=False)
    if encoding == "br":
        return _BrotliDecoder()
    msg = f"unsupported content-encoding {encoding!r}"
    raise DecodeError(msg)


class BodyDecoder:
    """Decodes a body that arrives in pieces, for one `content-encoding` header value.

    Raises `DecodeError` on corrupt input, unknown encodings, or when the
    decoded output would pass `max_bytes`.
    """

    def __init__(self, content_encoding: str | None, max_bytes: int = MAX_DECODED_BYTES) -> None:
        names = [part.strip().lower() for part in (content_encoding or "").split(",")]
        # Encodings are listed in the order they were applied; undo them backwards.
        self._decoders = [_make_decoder(name) for name in reversed(names) if name not in _IDENTITY]
        self._remaining = max_bytes

    @property
    def is_identity(self) -> bool:
        """True when no decoding is needed at all."""
        return not self._decoders

    def decode(self, data: bytes) -> bytes:
        """The decoded bytes that `data` makes available."""
        for decoder in self._decoders:
            data = decoder.decode(data, self._remaining)
        return self._spend(data)

    def flush(self) -> bytes:
        """Whatever the decoders still hold once the body has ended."""
        data = b""
        for decoder in self._decoders:
            if data:
                data = decoder.decode(data, self._remaining)
            data += decoder.flush(self._remaining)
        return self._spend(data)

    def _spend(self, data: bytes) -> bytes:
        self._remaining -= len(data)
        if self._remaining < 0:
            msg = "decoded body exceeds the decoding limit"
            raise DecodeError(msg)
        return data
