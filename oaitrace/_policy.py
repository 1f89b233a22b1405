"""What the writer does to a freshly parsed Record before pricing and storing it.

Two policies that need state or user code, so they live outside the pure
parser:

- `ContentPolicy`: the user's `redact=` hook over JSON bodies, and the cap on
  stored request bodies.
- `PolledUsage`: usage that only shows when an object is polled is counted
  once per object id, when it is first seen in a final status: runs and
  batches always; a Response only when this process saw it created in the
  background (its usage otherwise came with its creation). A batch's usage
  shows twice, on the finished batch and line by line in its output file:
  whichever of the two this process sees first counts it.

Both fill the record in place (`fill_in`): it was made on this thread a
moment ago and nobody else holds it yet.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

from ._batch_output import BATCH_OUTPUT_KEY, is_whole, summed_usage
from ._exchange import USAGE_TOKEN_FIELDS, Record, Usage, fill_in
from ._routes import BILLED_OPERATIONS
from ._sse import FINAL_STATUSES
from ._usage import usage_from_json

__all__ = ["ContentPolicy", "PolledUsage", "RedactHook"]

# A hook gets the direction ("request" or "response") and the parsed JSON
# body, and returns the body to store (or None to store none).
RedactHook = Callable[[str, Any], Any]

_ABSENT: Final = object()
# Object ids remembered for counting usage once; the oldest are forgotten first.
_MAX_REMEMBERED: Final = 100_000
# The objects whose usage shows when they are polled, and the key of their id.
_POLLED_OBJECTS: Final = {"response": "response_id", "thread.run": "run_id", "batch": "batch_id"}


class ContentPolicy:
    """Applies the user's redact hook and the request body cap to stored bodies."""

    __slots__ = ("_limit", "_redact")

    def __init__(self, redact: RedactHook | None, body_limit: int) -> None:
        self._redact = redact
        self._limit = body_limit

    def apply(self, record: Record) -> None:
        """Rewrite the record's stored bodies as configured."""
        hook = self._redact
        if hook is not None:
            _apply_hook(hook, record, "request", "request_body")
            _apply_hook(hook, record, "response", "response_body")
        body = record.request_body
        if body is not None and len(body) > self._limit:
            fill_in(record, "request_body", body[: self._limit])
            _extra(record)["request_truncated"] = True


class PolledUsage:
    """Counts the usage of polled objects once per object id."""

    def __init__(self, max_remembered: int = _MAX_REMEMBERED) -> None:
        self._counted: OrderedDict[str, None] = OrderedDict()
        self._pending: OrderedDict[str, None] = OrderedDict()
        # Batch output file id -> where its usage was counted.
        self._counted_files: OrderedDict[str, str] = OrderedDict()
        self._max = max_remembered

    def account(self, record: Record) -> None:
        """Fill a poll's token fields the first time its object is seen finished."""
        if BATCH_OUTPUT_KEY in record.extra:
            self._account_batch_output(record)
            return
        key = _POLLED_OBJECTS.get(record.extra.get("object_type", ""))
        object_id = None if key is None else record.object_ids.get(key)
        if not object_id:
            return
        status = record.extra.get("object_status")
        if record.operation in BILLED_OPERATIONS:
            if record.input_tokens is not None or record.output_tokens is not None:
                # The creating call counted its own usage: a later retrieval
                # of the same object must not add it again.
                self._remember(self._counted, object_id)
            elif key == "response_id" and status not in FINAL_STATUSES:
                # A background Response: its usage will show when polled.
                self._remember(self._pending, object_id)
            return
        usage = record.extra.get("object_usage")
        if type(usage) is not dict or status not in FINAL_STATUSES or object_id in self._counted:
            return
        # A Response's usage normally comes with its creation, possibly seen
        # by another process; only a background one seen queued here is owed.
        if key == "response_id" and self._pending.pop(object_id, _ABSENT) is _ABSENT:
            return
        output_file = record.object_ids.get("output_file_id") if key == "batch_id" else None
        if output_file and output_file in self._counted_files:
            return  # its output file, downloaded first, counted it line by line
        self._remember(self._counted, object_id)
        if output_file:
            self._remember(self._counted_files, output_file, "batch")
        _fill_usage(record, usage_from_json(usage))
        _extra(record)["usage_counted_from_poll"] = True

    def _account_batch_output(self, record: Record) -> None:
        """Count a downloaded batch output file's usage unless its batch (or a download) did."""
        file_id = record.object_ids.get("file_id")
        counted_with = self._counted_files.get(file_id) if file_id else None
        extra = _extra(record)
        if counted_with is not None:
            extra["usage_counted_with"] = counted_with
            return
        if file_id:
            self._remember(self._counted_files, file_id, "batch_output")
        extra["usage_counted_from_batch_output"] = True
        output = extra[BATCH_OUTPUT_KEY]
        if not is_whole(output):
            return  # partial sums would understate it: priced as unknown, tokens left out
        _fill_usage(record, summed_usage(output))
        models = {model for model, _usage in output.get("usage") or ()}
        if len(models) == 1:
            fill_in(record, "response_model", models.pop())

    def _remember(self, ids: OrderedDict[str, Any], object_id: str, value: Any = None) -> None:
        ids[object_id] = value
        ids.move_to_end(object_id)
        while len(ids) > self._max:
            ids.popitem(last=False)


def _apply_hook(hook: RedactHook, record: Record, direction: str, field: str) -> None:
    text = getattr(record, field)
    if not text or text[:1] not in ("{", "["):
        return  # only JSON bodies are offered to the hook; streams are kept as redacted
    try:
        rewritten = hook(direction, json.loads(text))
        new_text = None if rewritten is None else json.dumps(rewritten, ensure_ascii=False)
    except Exception as exc:
        new_text = None
        _extra(record)["redact_error"] = f"{type(exc).__name__}: {exc}"
    fill_in(record, field, new_text)


def _fill_usage(record: Record, usage: Usage) -> None:
    for name in USAGE_TOKEN_FIELDS:
        fill_in(record, name, getattr(usage, name))
    fill_in(record, "usage_details", usage.details)


def _extra(record: Record) -> dict[str, Any]:
    extra = record.extra
    if type(extra) is not dict:
        extra = dict(extra)
        fill_in(record, "extra", extra)
    return extra
