"""Keeping a large response body within the capture cap, copying it once.

The request path keeps a small body as the chunks the network produced, with
no copy at all. A large one would cost twice: the chunks, then the joined
copy that parsing needs. So past `LIST_LIMIT` the chunks are gathered into
one buffer as they arrive (`GatheredBody`), which parsing later reads as it
is. A body that outgrows the cap keeps a head and a tail (`BodyTail`) whose
sum, even at the moment they are put together, stays within the cap:

    head_limit(cap) + 3 * tail_limit(cap) == cap

(the tail holds up to twice its size while it slides, and its final join
one size more).
"""

from __future__ import annotations

import io
from bisect import bisect_left
from collections import deque
from typing import TYPE_CHECKING, Final

from ._exchange import JoinedChunks

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["LIST_LIMIT", "BodyTail", "GatheredBody", "head_limit", "tail_limit"]

# Bodies up to this size stay a list of the network's chunks: most OpenAI
# responses, and parsing them joins a copy small enough not to matter.
LIST_LIMIT: Final = 64 * 1024

# Bytes kept from the end of a body that outgrew the cap: large JSON bodies
# (base64 images, embeddings) put `usage` last.
_TAIL_LIMIT: Final = 64 * 1024


def tail_limit(capture_limit: int) -> int:
    """Bytes of tail kept for a body cut at this cap: 64 KiB, less for small caps."""
    return min(_TAIL_LIMIT, capture_limit // 16)


def head_limit(capture_limit: int) -> int:
    """Bytes of head kept for a body cut at this cap (see the module docstring)."""
    return capture_limit - 3 * tail_limit(capture_limit)


class GatheredBody:
    """Chunks written one after another into a buffer that never outgrows `limit`.

    The buffer grows by doubling, in exact steps (`io.BytesIO` grows a write
    past its end by only an eighth, and would end up to an eighth over the
    limit), and `take` hands over the buffer itself: `BytesIO.getvalue()`
    returns its internal bytes object without copying once it is shrunk to
    the size written.
    """

    __slots__ = ("_buffer", "_capacity", "_ends", "_limit")

    def __init__(self, chunks: Iterable[bytes], limit: int) -> None:
        self._buffer = io.BytesIO()
        self._capacity = 0
        self._limit = limit
        # The offset just past each chunk.
        self._ends: list[int] = []
        for chunk in chunks:
            self.add(chunk)

    @property
    def size(self) -> int:
        """Bytes gathered so far."""
        return self._buffer.tell()

    def add(self, chunk: bytes) -> None:
        """Append a chunk; the caller keeps the total within the limit."""
        buffer = self._buffer
        end = buffer.tell() + len(chunk)
        if end > self._capacity:
            self._reserve(end)
        buffer.write(chunk)
        self._ends.append(end)

    def read(self, start: int, end: int) -> bytes:
        """A copy of the bytes gathered in [start, end)."""
        buffer = self._buffer
        written = buffer.tell()
        buffer.seek(start)
        piece = buffer.read(end - start)
        buffer.seek(written)
        return piece

    def take(self, size: int | None = None) -> JoinedChunks:
        """The first `size` bytes (all by default) and their chunks; the gatherer is spent.

        A chunk that straddles `size` is cut there.
        """
        buffer = self._buffer
        ends = self._ends
        if size is not None and size < buffer.tell():
            buffer.seek(size)
            if size:
                kept = bisect_left(ends, size) + 1
                del ends[kept:]
                ends[-1] = size
            else:
                ends.clear()
        buffer.truncate()
        content = buffer.getvalue()  # the buffer itself, shrunk in place
        buffer.close()
        return JoinedChunks(content, tuple(ends))

    def _reserve(self, needed: int) -> None:
        """Grow the buffer to hold `needed` bytes, doubling, never past the limit."""
        limit = self._limit
        half = limit // 2
        capacity = (
            max(needed, limit) if needed > half else min(half, max(needed, 2 * self._capacity))
        )
        buffer = self._buffer
        written = buffer.tell()
        # Writing the last byte sizes the buffer exactly (BytesIO resizes to
        # the exact size when it grows by more than an eighth).
        buffer.seek(capacity - 1)
        buffer.write(b"\0")
        buffer.seek(written)
        self._capacity = capacity


class BodyTail:
    """The last `limit` bytes of a stream of chunks, holding less than twice that meanwhile."""

    __slots__ = ("_chunks", "_size", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._chunks: deque[bytes] = deque()
        self._size = 0

    def add(self, chunk: bytes) -> None:
        """Slide the tail over a chunk."""
        limit = self.limit
        chunks = self._chunks
        if len(chunk) >= limit:
            # The common case for a big download: a network chunk at least
            # the tail's size replaces it whole (the slice of an exactly
            # sized chunk is the chunk itself, not a copy).
            chunks.clear()
            chunk = chunk[len(chunk) - limit :]
            chunks.append(chunk)
            self._size = len(chunk)
            return
        chunks.append(chunk)
        self._size += len(chunk)
        # Drop whole chunks while the rest still covers the limit; each is
        # shorter than the limit, so what stays is under twice the limit.
        while self._size - len(chunks[0]) >= limit:
            self._size -= len(chunks.popleft())

    def take(self) -> bytes:
        """The last `limit` bytes (fewer if fewer came); the tail is emptied."""
        chunks = self._chunks
        excess = self._size - self.limit
        pieces: list[bytes | memoryview] = list(chunks)
        if excess > 0:
            # A view, so the oldest chunk is not copied before the join.
            pieces[0] = memoryview(chunks[0])[excess:]
        chunks.clear()
        self._size = 0
        return b"".join(pieces)
