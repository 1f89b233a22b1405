"""`Query.retries`: the logical calls that needed retries, their attempts and extra time.

The calls are assembled in Python from the period's failed first attempts
and retries, read as plain tuples through two partial indexes, with as few
objects per attempt and per call as will do: over 1,000,000 records (96,000
such attempts, 43,000 calls) 0.3 s. Assembling them in SQL instead (window
functions over each key's attempts, then over each call's) took 1.1 s on
SQLite and 0.55 s on PostgreSQL.
"""

from __future__ import annotations

import datetime
import heapq
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    cast,
    extract,
    func,
    null,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from oaitrace._report_scope import (
    REQUESTS,
    Scope,
    group_expression,
    group_sort_key,
    is_error,
    is_tag,
    select_requests,
)
from oaitrace._report_types import (
    GroupValue,
    RetriedCall,
    RetryGroup,
    RetryReport,
)
from oaitrace.storage._models import RETRIED_PREDICATE, RequestTagRow

__all__ = [
    "retries",
]

_C = REQUESTS.c
_TAGS = RequestTagRow.__table__

_DEFAULT_RETRY_WINDOW_S: Final = 600.0
_EPOCH_UTC: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
# Ids per statement when the attempts of the examples are looked up.
_IDS_PER_STATEMENT: Final = 500

# An attempt as read: its start (whole microseconds since the epoch) and id
# first, so attempts sort in time order, the id breaking ties, as plain tuples.
_START_US: Final = 0
_ID: Final = 1
# The key of a call without a call id: method, endpoint, requested model and
# API key fingerprint ("" for none).
_KEY: Final = slice(2, 6)
_METHOD: Final = 2
_ENDPOINT: Final = 3
_MODEL: Final = 4
_FINGERPRINT: Final = 5
_DURATION_MS: Final = 6
_RETRY_ATTEMPT: Final = 7
_STATUS: Final = 8
_CALL_ID: Final = 9
# Then the --by columns, tags aside (`_group_reader`).
_GROUPS: Final = 10

# The attempts of one call, in order; a list, so dictionaries share it.
_Call = list[Any]


def retries(
    scope: Scope,
    by: Sequence[str],
    window_s: float = _DEFAULT_RETRY_WINDOW_S,
    examples: int = 10,
) -> RetryReport:
    """Logical calls that needed retries, their attempts and the time the retries cost.

    Attempts recorded with a `call_id` (the recorder links the attempts of
    one SDK call) are grouped by it. Older records have none; for them the
    openai SDK's `x-stainless-retry-count` (`retry_attempt`) decides: an
    attempt with `retry_attempt > 0` belongs to the newest call with the
    same method, endpoint, requested model and API key fingerprint whose
    previous attempt ended less than `window_s` seconds before it started
    (two identical calls retried at the same moment can be mixed up).

    A call is in the period when its first attempt is: a retry whose first
    attempt came before it starts a call of its own. Its group is its first
    attempt's, its final status its last attempt's.
    """
    calls = _assemble_calls(*_attempts(scope, by), window_s)
    group_of = _group_reader(scope, by, calls)
    # Each call's extra time, added up in the order of the calls' first
    # attempts: the same floats in the same order whatever the database.
    extras = [_extra_ms(call) for call in calls]
    total = _Tally()
    tallies: dict[tuple[GroupValue, ...], _Tally] = {}
    for call, extra_ms in zip(calls, extras, strict=True):
        total.add(call, extra_ms)
        key = group_of(call[0])
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = _Tally()
        tally.add(call, extra_ms)
    rows = [tally.group(dict(zip(by, key, strict=True))) for key, tally in tallies.items()]
    rows.sort(key=lambda row: (-row.calls, group_sort_key(row.group)))
    # Most extra time first, then the earliest; ties keep the calls' order.
    slowest = heapq.nsmallest(
        examples, range(len(calls)), key=lambda index: (-extras[index], calls[index][0][_START_US])
    )
    summed = total.group({})
    return RetryReport(
        by=tuple(by),
        calls=summed.calls,
        attempts=summed.attempts,
        succeeded=summed.succeeded,
        extra_ms=summed.extra_ms,
        rows=rows,
        examples=_examples(scope, [(calls[index], extras[index]) for index in slowest]),
    )


class _Tally:
    """The retried calls of one group, counted as they come."""

    __slots__ = ("attempts", "calls", "extras", "succeeded")

    def __init__(self) -> None:
        self.calls = 0
        self.attempts = 0
        self.succeeded = 0
        self.extras: list[float] = []

    def add(self, call: _Call, extra_ms: float) -> None:
        self.calls += 1
        self.attempts += len(call)
        status = call[-1][_STATUS]
        if status is not None and status < 400:
            self.succeeded += 1
        self.extras.append(extra_ms)

    def group(self, group: Mapping[str, GroupValue]) -> RetryGroup:
        return RetryGroup(
            group=group,
            calls=self.calls,
            attempts=self.attempts,
            succeeded=self.succeeded,
            extra_ms=sum(self.extras, 0.0),
        )


def _extra_ms(call: _Call) -> float:
    """Milliseconds from the first attempt's start to the last one's, to the microsecond."""
    first_s = call[0][_START_US] / 1_000_000
    last_s = call[-1][_START_US] / 1_000_000
    extra_ms: float = round((last_s - first_s) * 1000.0, 3)
    return extra_ms


# --- reading the attempts ---------------------------------------------------


def _attempts(scope: Scope, by: Sequence[str]) -> tuple[list[Any], list[Any]]:
    """The failed first attempts of the period, and its retries.

    The SDK only retries after a failure, so a retried call is failed
    attempts followed by retries: both small sets, each behind a partial
    index that holds these columns. Successful first attempts are never
    read. Only retries need their call id (a first attempt's call id is its
    own id). Tags are not joined here: only the first attempts of retried
    calls need theirs (`_group_reader`).
    """
    columns = (
        _epoch_microseconds(scope.dialect),
        _C.id,
        _C.method,
        _C.endpoint,
        func.coalesce(_C.request_model, ""),
        func.coalesce(_C.api_key_fingerprint, ""),
        _C.duration_ms,
        _C.retry_attempt,
        _C.status_code,
    )
    groups = [group_expression(scope.dialect, key) for key in by if not is_tag(key)]
    first_attempts = select_requests(*columns, null(), *groups).where(
        *scope.where(),
        is_error(),
        # Not a retry: those are read with their call id below.
        _C.retry_attempt <= 0,
    )
    retried = select_requests(*columns, _C.call_id, *groups).where(
        *scope.where(), text(RETRIED_PREDICATE)
    )
    # Each in time order (the id does not break ties yet): cheap to merge.
    return (
        scope.fetch_raw(first_attempts.order_by(_C.started_at)),
        scope.fetch_raw(retried.order_by(_C.started_at)),
    )


def _epoch_microseconds(dialect: str) -> ColumnElement[int]:
    """`started_at` as whole microseconds since the epoch, exactly, on both databases.

    `microseconds / 1e6` in Python is then the very float `timestamp()` of
    the datetime gives, for a tenth of its cost (96,000 retried and failed
    attempts: 0.1 s instead of 0.25 s).
    """
    if dialect == "sqlite":
        # Naive UTC text, "2025-01-15 12:30:45.123456". Without its fraction:
        # strftime rounds to milliseconds first, so .9996 would add a second.
        seconds = cast(func.strftime("%s", func.substr(_C.started_at, 1, 19)), BigInteger)
        fraction = cast(func.substr(_C.started_at, 21, 6), BigInteger)
        return seconds * 1_000_000 + fraction
    # Whole seconds and the microseconds apart: EXTRACT(EPOCH) of the full
    # value is a double before PostgreSQL 14, not exact.
    whole = cast(extract("epoch", func.date_trunc("second", _C.started_at)), BigInteger)
    micro = cast(extract("microseconds", _C.started_at), BigInteger) % 1_000_000
    return whole * 1_000_000 + micro


# --- assembling the calls ---------------------------------------------------


def _assemble_calls(first_attempts: list[Any], retried: list[Any], window_s: float) -> list[_Call]:
    """The calls of more than one attempt, in the order of their first attempts.

    A retry joins the call its call id names (registered under its first
    attempt's id and call id) or, without a call id, the newest call of its
    key if that call's latest attempt ended at most `window_s` before it;
    otherwise, like a first attempt, it starts a call.
    """
    # Only the lookups some retry of the period uses are kept up: by key
    # for retries without a call id, by call id for the others.
    by_key = any(attempt[_CALL_ID] is None for attempt in retried)
    by_id = not all(attempt[_CALL_ID] is None for attempt in retried)
    attempts = first_attempts + retried
    # In time order, the id breaking ties.
    attempts.sort()
    started: list[_Call] = []
    newest: dict[tuple[Any, ...], _Call] = {}
    by_call_id: dict[str, _Call] = {}
    for attempt in attempts:
        call_id = attempt[_CALL_ID]
        call: _Call | None
        if attempt[_RETRY_ATTEMPT] > 0:
            if call_id is not None:
                # Recorded with a call id: the recorder already linked the attempts.
                call = by_call_id.get(call_id)
            else:
                call = newest.get(attempt[_KEY])
                # Unless the call's latest attempt ended too long before.
                if call is not None:
                    last = call[-1]
                    end_s = last[_START_US] / 1_000_000 + last[_DURATION_MS] / 1000.0
                    if attempt[_START_US] / 1_000_000 - end_s > window_s:
                        call = None
            if call is not None:
                call.append(attempt)
                if len(call) == 2 and by_id:
                    _register_again(call[0], call, by_call_id)
                continue
        # A first attempt, or a retry whose first attempt is outside the period.
        call = [attempt]
        started.append(call)
        if by_id:
            by_call_id[attempt[_ID]] = call
            if call_id is not None and call_id != attempt[_ID]:
                by_call_id[call_id] = call
        if by_key:
            newest[attempt[_KEY]] = call
    return [call for call in started if len(call) > 1]


def _register_again(first: Any, call: _Call, by_call_id: dict[str, _Call]) -> None:
    """Point a call's first attempt's id and call id at it again, at its first retry.

    A later call starting under the same call id took it over meanwhile;
    as the report always did, the call being retried takes it back. (The
    recorder never gives two calls one call id.)
    """
    by_call_id[first[_ID]] = call
    call_id = first[_CALL_ID]
    if call_id is not None and call_id != first[_ID]:
        by_call_id[call_id] = call


# --- groups and examples ------------------------------------------------------


def _group_reader(
    scope: Scope, by: Sequence[str], calls: Sequence[_Call]
) -> Callable[[Any], tuple[GroupValue, ...]]:
    """A function giving the group of a call from its first attempt.

    Columns come with each attempt; tags are looked up for the first
    attempts of the retried calls only (joining request_tags to every
    failed attempt read all of a tag's rows on PostgreSQL: 0.4 s).
    """
    width = len(by)
    if not any(is_tag(key) for key in by):
        return lambda first: first[_GROUPS : _GROUPS + width]
    sources: list[Mapping[str, Any] | int] = []
    column = _GROUPS
    for key in by:
        if is_tag(key):
            sources.append(_tag_values(scope, key[4:], [call[0][_ID] for call in calls]))
        else:
            sources.append(column)
            column += 1

    def group_of(first: Any) -> tuple[GroupValue, ...]:
        return tuple(
            first[source] if isinstance(source, int) else source.get(first[_ID])
            for source in sources
        )

    return group_of


def _tag_values(scope: Scope, name: str, ids: Sequence[str]) -> dict[str, Any]:
    """The value of tag `name` of each attempt in `ids` that has one."""
    if not ids:
        return {}
    # One statement whatever the number of ids: a JSON array of them.
    if scope.dialect == "sqlite":
        each = func.json_each(json.dumps(ids)).table_valued("value")
    else:
        each = func.jsonb_array_elements_text(cast(ids, JSONB)).table_valued("value")
    statement = (
        select(_TAGS.c.request_pk, _TAGS.c.value)
        .select_from(each.join(_TAGS, _TAGS.c.request_pk == each.c.value))
        .where(_TAGS.c.key == name)
    )
    return dict(scope.fetch_raw(statement))


def _examples(scope: Scope, slowest: Sequence[tuple[_Call, float]]) -> list[RetriedCall]:
    """The slowest calls as `RetriedCall`s, with the request id of each attempt."""
    ids = [attempt[_ID] for call, _ in slowest for attempt in call]
    request_ids: dict[str, str | None] = {}
    for start in range(0, len(ids), _IDS_PER_STATEMENT):
        chunk = ids[start : start + _IDS_PER_STATEMENT]
        statement = select(_C.id, _C.request_id).where(_C.id.in_(chunk))
        request_ids.update(scope.fetch_raw(statement))
    examples = []
    for call, extra_ms in slowest:
        first = call[0]
        examples.append(
            RetriedCall(
                started_at=_EPOCH_UTC + datetime.timedelta(microseconds=first[_START_US]),
                method=first[_METHOD],
                endpoint=first[_ENDPOINT],
                model=first[_MODEL] or None,
                api_key_fingerprint=first[_FINGERPRINT] or None,
                attempts=len(call),
                final_status=call[-1][_STATUS],
                extra_ms=extra_ms,
                request_ids=tuple(request_ids.get(attempt[_ID]) for attempt in call),
            )
        )
    return examples
