"""Every usage shape the API reports, turned into one `Usage`.

Shapes: chat and legacy completions and runs (`prompt_tokens`,
`completion_tokens`), Responses and gpt-image (`input_tokens`,
`output_tokens`), embeddings (`prompt_tokens` only), transcription
(`type: tokens` with input/output, or `type: duration` with `seconds`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._exchange import Usage
from ._headers import MAX_COUNT

__all__ = ["usage_from_json"]


def _count(value: Any) -> int | None:
    # bool is an int subclass; `"is_byok": false` is not a token count.
    if type(value) is float and value.is_integer() and abs(value) <= MAX_COUNT:
        value = int(value)
    if type(value) is int and -MAX_COUNT <= value <= MAX_COUNT:
        return value
    return None


def _flatten(prefix: str, value: Mapping[str, Any], into: dict[str, int | float]) -> None:
    for key, item in value.items():
        kind = type(item)
        if kind is int or kind is float:
            into[prefix + key] = item
        elif kind is dict:
            _flatten(f"{prefix}{key}.", item, into)


def usage_from_json(usage: Mapping[str, Any]) -> Usage:
    """The `Usage` of one JSON usage object; absent fields stay None.

    Numeric leaves that do not map to a named field (audio tokens,
    prediction tokens, transcription `seconds`, a compatible server's
    `cost`) are kept in `details` under dotted keys.
    """
    details: dict[str, int | float] = {}
    _flatten("", usage, details)
    # The first key present wins; what is taken leaves `details`.
    return Usage(
        input_tokens=_take(details, "prompt_tokens", "input_tokens"),
        output_tokens=_take(details, "completion_tokens", "output_tokens"),
        total_tokens=_take(details, "total_tokens"),
        cached_input_tokens=_take(
            details, "prompt_tokens_details.cached_tokens", "input_tokens_details.cached_tokens"
        ),
        reasoning_tokens=_take(
            details,
            "completion_tokens_details.reasoning_tokens",
            "output_tokens_details.reasoning_tokens",
        ),
        details=details,
    )


def _take(details: dict[str, int | float], first: str, second: str | None = None) -> int | None:
    value = details.pop(first, None)
    if value is None and second is not None:
        value = details.pop(second, None)
    return None if value is None else _count(value)
