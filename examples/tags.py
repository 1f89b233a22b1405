"""Tags per user and feature: label requests so usage can be split by them later.

Shows: `oaitrace.tags(...)` as a context manager (nestable; inner tags win),
and finding the tagged records again.
"""

from __future__ import annotations

import openai

import oaitrace
from oaitrace.query import Query

with oaitrace.Recorder() as recorder:
    client = openai.OpenAI(http_client=recorder.client())

    for user in ("u-1", "u-2"):
        with oaitrace.tags(user=user, feature="search"):
            client.embeddings.create(model="text-embedding-3-small", input=f"query from {user}")
            with oaitrace.tags(feature="answer"):
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
                )
    recorder.flush()

    with Query(recorder.database_url) as query:
        for record in reversed(query.requests(limit=4)):
            print(f"{record.operation:12} {record.tags}")
