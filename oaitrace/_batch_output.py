"""Batch output files: the usage of every line, so that a downloaded file can be priced.

`GET /v1/files/{output_file_id}/content` of a finished batch returns JSON
Lines, one per request the batch ran::

    {"id": "batch_req_…", "custom_id": "0", "error": null,
     "response": {"status_code": 200, "request_id": "…", "body": {"model": "…", "usage": {…}}}}

Each line's usage is billed at Batch API rates. The parser keeps, in
`Record.extra["batch_output"]`, what pricing needs to price the file line by
line again later (`reprice`), because a per-request price may depend on the
request's size (long-context tiers) and so cannot be taken from the sums:

    {"lines": 120, "failed": 2, "unreadable": 0, "truncated": false, "usage": [[model, usage], …]}

`failed` lines (an error instead of a response, or a status of 400 or
more) are not billed; `unreadable` lines are not JSON. `truncated`: the
captured body was cut (it outgrew the capture limit, or the download broke
off), so the lines seen are not all of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from ._exchange import USAGE_TOKEN_FIELDS, Usage
from ._json import loads
from ._usage import usage_from_json

__all__ = ["BATCH_OUTPUT_KEY", "is_whole", "read_batch_output", "summed_usage"]

BATCH_OUTPUT_KEY: Final = "batch_output"


def read_batch_output(content: bytes, *, cut: bool) -> dict[str, Any] | None:
    """The `extra["batch_output"]` of a downloaded file; None when it is not batch output.

    `cut`: the body is known to be incomplete; its last line may be partial.
    """
    if not _starts_like_output(content):
        return None  # a PDF or image download is not split into "lines"
    usages: list[list[Any]] = []
    count = failed = unreadable = 0
    for line in _json_lines(content):
        count += 1
        if line is None:
            unreadable += 1
            continue
        usage = _billed_usage(line)
        if usage is None:
            failed += 1
        else:
            usages.append(usage)
    if cut and unreadable:
        unreadable -= 1  # the last line, cut in the middle: the file is truncated anyway
        count -= 1
    return {
        "lines": count,
        "failed": failed,
        "unreadable": unreadable,
        "truncated": cut,
        "usage": usages,
    }


def is_whole(output: Mapping[str, Any]) -> bool:
    """Whether every line of the file was read: only then do its sums and price hold."""
    return not output.get("truncated") and not output.get("unreadable")


def summed_usage(output: Mapping[str, Any]) -> Usage:
    """The usage of every billed line of a file, added up (what the usage reports count)."""
    totals: dict[str, int | None] = dict.fromkeys(USAGE_TOKEN_FIELDS)
    details: dict[str, int | float] = {}
    for _model, usage in output.get("usage") or ():
        line = usage_from_json(usage)
        for name in USAGE_TOKEN_FIELDS:
            value = getattr(line, name)
            if value is not None:
                totals[name] = (totals[name] or 0) + value
        for key, value in line.details.items():
            details[key] = details.get(key, 0) + value
    return Usage(**totals, details=details)


def _json_lines(content: bytes) -> Iterator[Any]:
    """Each non-blank line decoded; None for a line that is not JSON."""
    for raw in content.splitlines():
        if not raw.strip():
            continue
        try:
            yield loads(raw)
        except ValueError:
            yield None


def _starts_like_output(content: bytes) -> bool:
    """Whether the first line is a batch output line (its request's `custom_id` and `response`)."""
    first = content[:64].lstrip()[:1]
    if first != b"{":
        return False
    end = content.find(b"\n")
    try:
        line = loads(content if end < 0 else content[:end])
    except ValueError:
        return False
    return type(line) is dict and "custom_id" in line and "response" in line


def _billed_usage(line: Any) -> list[Any] | None:
    """[model, usage] of a line that was billed; None for a failed or unreadable one."""
    if type(line) is not dict:
        return None
    response = line.get("response")
    if type(response) is not dict or line.get("error"):
        return None
    status = response.get("status_code")
    body = response.get("body")
    if type(status) is not int or status >= 400 or type(body) is not dict:
        return None
    usage = body.get("usage")
    if type(usage) is not dict:
        return None
    model = body.get("model")
    return [model if type(model) is str else None, usage]
