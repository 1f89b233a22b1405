"""Content-encoding removal is incremental, layered and bounded."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest

from oaitrace._decode import BodyDecoder, DecodeError

TEXT = b'{"hello": "world"}' * 50


def decode_in_pieces(decoder: BodyDecoder, data: bytes, size: int) -> bytes:
    """Decode `data` fed `size` bytes at a time, then flush."""
    pieces = [decoder.decode(data[i : i + size]) for i in range(0, len(data), size)]
    return b"".join(pieces) + decoder.flush()


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [
        ("gzip", gzip.compress(TEXT)),
        ("x-gzip", gzip.compress(TEXT)),
        ("deflate", zlib.compress(TEXT)),
        ("br", brotli.compress(TEXT)),
        ("identity", TEXT),
        (None, TEXT),
    ],
)
def test_each_encoding_in_small_pieces(encoding: str | None, encoded: bytes) -> None:
    """Each supported encoding decodes the same whether fed whole or 3 bytes at a time."""
    assert decode_in_pieces(BodyDecoder(encoding), encoded, 3) == TEXT


def test_raw_deflate() -> None:
    """Deflate without the zlib header, as some servers send it, also decodes."""
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw = compressor.compress(TEXT) + compressor.flush()
    assert decode_in_pieces(BodyDecoder("deflate"), raw, 1000) == TEXT


def test_layered_encodings_are_undone_in_reverse() -> None:
    """`gzip, br` means gzip first, then br: decoding undoes br first."""
    encoded = brotli.compress(gzip.compress(TEXT))
    assert decode_in_pieces(BodyDecoder("gzip, br"), encoded, 7) == TEXT


def test_decompression_bomb_is_stopped() -> None:
    """Output beyond the cap raises instead of filling memory."""
    bomb = gzip.compress(b"\0" * 10_000_000)
    with pytest.raises(DecodeError, match="limit"):
        decode_in_pieces(BodyDecoder("gzip", max_bytes=1_000_000), bomb, 1_000_000)


def test_brotli_bomb_is_stopped() -> None:
    """The cap holds for brotli too."""
    bomb = brotli.compress(b"\0" * 10_000_000)
    with pytest.raises(DecodeError, match="limit"):
        decode_in_pieces(BodyDecoder("br", max_bytes=1_000_000), bomb, 1_000_000)


def test_unknown_encoding() -> None:
    """An encoding oaitrace cannot undo is an error, not garbage output."""
    with pytest.raises(DecodeError, match="zstd"):
        BodyDecoder("zstd")


def test_corrupt_data() -> None:
    """Corrupt compressed bytes raise DecodeError."""
    with pytest.raises(DecodeError):
        decode_in_pieces(BodyDecoder("br"), b"definitely not brotli", 100)
