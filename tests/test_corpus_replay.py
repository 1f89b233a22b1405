"""Every corpus case served through the real recording transport and read back from SQLite.

Each recorded response is served by a mock inner transport (the network
edge) as a stream of several chunks, read by an httpx2 client the way the
openai SDK reads it, stored by a real Recorder, and compared field by field
with what the recording carries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

import oaitrace
from oaitrace.httpx2 import RecordingTransport
from oaitrace.query import Query, RequestRecord
from tests.corpus import (
    Case,
    load_cases,
    request_body,
    response_body_to_serve,
    response_headers_to_serve,
    split_chunks,
)
from tests.corpus_expectations import assert_matches_case, first_polls
from tests.openai_edge import iterator_stream

CASES = load_cases()
FIRST_POLLS = first_polls(CASES)

pytestmark = pytest.mark.skipif(
    not CASES, reason="corpus not found: set OAITRACE_CORPUS or place it at <repo>/../shared/corpus"
)


def serve(case: Case) -> Any:
    """A MockTransport handler answering with this case's recorded response."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = response_body_to_serve(case)
        return httpx2.Response(
            case.response["status"],
            headers=response_headers_to_serve(case),
            stream=iterator_stream(httpx2, split_chunks(body, 5)),
        )

    return handler


def replay(case: Case, recorder: oaitrace.Recorder) -> bytes:
    """Send the case's request through oaitrace and read the response as a client would."""
    transport = RecordingTransport(recorder=recorder, transport=httpx2.MockTransport(serve(case)))
    headers = {
        name: value
        for name, value in case.request["headers"].items()
        if name not in {"content-length", "host", "transfer-encoding"}
    }
    with httpx2.Client(transport=transport) as client, oaitrace.tags(case=case.name):
        response = client.request(
            case.request["method"],
            case.request["url"],
            headers=headers,
            content=request_body(case),
        )
        return response.content


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RequestRecord]:
    """All cases replayed into one database, by case name."""
    database = Path(tmp_path_factory.mktemp("replay")) / "corpus.db"
    with oaitrace.Recorder(database_url=str(database)) as recorder:
        for case in CASES:
            replay(case, recorder)
        assert recorder.flush(timeout=30)
    with Query(str(database)) as query:
        records = query.requests(limit=10 * len(CASES))
    return {record.tags["case"]: record for record in records}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_replayed_case_is_stored_as_recorded(
    case: Case, replayed: dict[str, RequestRecord]
) -> None:
    """The stored record carries exactly the recorded status, headers, usage, model and route."""
    record = replayed[case.name]
    assert_matches_case(record, case, counts_polled=case.name in FIRST_POLLS)
    assert case.request["method"] == record.method


def test_every_case_is_stored_once(replayed: dict[str, RequestRecord]) -> None:
    """One replay of each case gives one stored record each, none lost."""
    assert sorted(case.name for case in CASES) == sorted(replayed)
