"""JSON decoding on the writer thread: orjson where it can, the standard library for the rest.

orjson decodes a body in a quarter of the time. It accepts a strict subset
of what `json` does (UTF-8 only, no NaN or Infinity, no lone surrogates)
and gives the same objects for it, so whatever it refuses goes to `json`.
One difference remains: an integer beyond 64 bits becomes a float, where
`json` keeps it exact. No API field carries such a number, and a token
count that large is refused as a count either way (`_usage._count`).
"""

from __future__ import annotations

import json
from typing import Any, Final

__all__ = ["loads"]

_json_loads: Final = json.loads

try:
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - a dependency; only a stripped install lacks it
    _fast_loads = json.loads  # type: ignore[assignment]


def loads(data: bytes | str) -> Any:
    """`json.loads(data)`, faster; raises ValueError (or RecursionError) as it does."""
    try:
        return _fast_loads(data)
    except ValueError:  # orjson.JSONDecodeError is a json.JSONDecodeError
        return _json_loads(data)
