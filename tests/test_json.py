"""The writer's JSON decoding gives exactly what `json.loads` gives, fast path or not."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given

from oaitrace._json import loads
from tests.strategies import JSON_VALUES


@given(JSON_VALUES)
def test_same_objects_as_json(value: Any) -> None:
    """Any JSON document decodes to what the standard library gives, from text or bytes."""
    text = json.dumps(value)
    assert json.loads(text) == loads(text) == loads(text.encode())


@pytest.mark.parametrize(
    "document",
    [
        b"[NaN, Infinity, -Infinity]",  # the standard library's extensions
        b'"\\ud800"',  # a lone surrogate
        '{"a": 1}'.encode("utf-16"),  # not UTF-8: json detects the encoding
        b'{"a": 1, "a": 2}',  # a repeated key: the last one wins
    ],
)
def test_what_orjson_refuses_still_decodes(document: bytes) -> None:
    """Documents outside orjson's subset are decoded by `json`, with its result."""
    expected = json.loads(document)
    got = loads(document)
    if isinstance(expected, list):
        assert [math.isnan(v) or v for v in expected] == [math.isnan(v) or v for v in got]
    else:
        assert expected == got


def test_integer_beyond_64_bits_becomes_a_float() -> None:
    """The one documented difference: too large to be a token count, kept approximately."""
    assert 1.2345678901234568e29 == loads(b"123456789012345678901234567890")


@pytest.mark.parametrize("document", [b"", b"{", b"[1,]", b"\xff\xfe\xfd"])
def test_invalid_json_raises_value_error(document: bytes) -> None:
    """What neither decodes raises ValueError, as `json.loads` does."""
    with pytest.raises(ValueError, match=r"Expecting|Invalid|Unexpected|decode|Extra"):
        loads(document)
