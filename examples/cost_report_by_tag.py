"""Cost by tag: record calls tagged by team and feature, then a cost report grouped by tag.

Shows: `oaitrace.tags(...)` around the calls of each feature, and
`Query.costs(by="tag:feature")`, most expensive first, with exact Decimal
costs and the requests that could not be priced (and why). The same report
from the command line: `oaitrace costs --by tag:feature`.
"""

from __future__ import annotations

import openai

import oaitrace
from oaitrace.query import Query

WORK = {
    "search": ("text-embedding-3-small", 3),
    "answer": ("gpt-4o-mini", 2),
    "review": ("gpt-4o", 1),
}

with oaitrace.Recorder() as recorder:
    client = openai.OpenAI(http_client=recorder.client())
    for feature, (model, calls) in WORK.items():
        with oaitrace.tags(team="growth", feature=feature):
            for number in range(calls):
                if model.startswith("text-embedding"):
                    client.embeddings.create(model=model, input=f"document {number}")
                else:
                    client.chat.completions.create(
                        model=model, messages=[{"role": "user", "content": f"Question {number}"}]
                    )
    recorder.flush()

    with Query(recorder.database_url) as query:
        report = query.costs(by="tag:feature")
    print(f"{'feature':10} {'requests':>8} {'tokens':>8} {'cost (USD)':>16}")
    for row in report.rows:
        print(
            f"{row.group['tag:feature']!s:10} {row.requests:8} {row.total_tokens:8} "
            f"{row.cost_usd:16.10f}"
        )
    print(
        f"{'total':10} {report.total.requests:8} {report.total.total_tokens:8} "
        f"{report.total.cost_usd:16.10f}"
    )
    for reason, count in report.unpriced_reasons.items():
        print(f"unpriced: {count} ({reason})")
