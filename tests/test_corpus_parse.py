"""Every real recorded exchange of the corpus parses to what the exchange carries.

Expected values are read from the case here, independently of the parser's
helpers: headers with plain `int`/`float`, durations with a separate small
parser, usage straight from the response JSON or SSE `data:` lines.
"""

from __future__ import annotations

import pytest

from oaitrace._parse import parse
from tests.corpus import Case, case_to_exchange, load_cases
from tests.corpus_expectations import assert_matches_case

CASES = load_cases()

pytestmark = pytest.mark.skipif(
    not CASES, reason="corpus not found: set OAITRACE_CORPUS or place it at <repo>/../shared/corpus"
)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case_parses_to_what_it_carries(case: Case) -> None:
    """Status, headers, rate limits, usage, model and route match the recording."""
    record = parse(case_to_exchange(case), record_id="corpus")
    assert None is record.parse_error
    assert_matches_case(record, case)


STREAMS_WITH_OUTPUT = [
    case for case in CASES if case.response["is_stream"] and case.response["status"] == 200
]


@pytest.mark.parametrize("case", STREAMS_WITH_OUTPUT, ids=[c.name for c in STREAMS_WITH_OUTPUT])
def test_stream_has_time_to_first_token(case: Case) -> None:
    """A successful stream yields a time to first token within the stream's chunks."""
    exchange = case_to_exchange(case)
    record = parse(exchange, record_id="corpus")
    assert record.ttft_ms is not None
    assert exchange.chunk_arrival_ns[0] / 1e6 <= record.ttft_ms <= exchange.duration_ns / 1e6
