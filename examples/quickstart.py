"""Quick start: record one chat call with the openai SDK (3.x, httpx2) into SQLite.

Shows: the one line that turns recording on (`http_client=recorder.client()`),
and reading the stored record back with `oaitrace.query`.

Run against OpenAI (OPENAI_API_KEY set) or any OpenAI-compatible server
(OPENAI_BASE_URL, e.g. `oaitrace demo-server`). Records go to
$OAITRACE_DATABASE_URL, else ./oaitrace.db.
"""

from __future__ import annotations

import openai

import oaitrace
from oaitrace.query import Query

with oaitrace.Recorder() as recorder:
    client = openai.OpenAI(http_client=recorder.client())
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say hello in five words."}],
    )
    print("answer:", completion.choices[0].message.content)
    recorder.flush()

    with Query(recorder.database_url) as query:
        record = query.requests(limit=1)[0]
    print(
        f"stored: {record.operation} {record.response_model} status={record.status_code} "
        f"x-request-id={record.request_id} tokens={record.input_tokens}+{record.output_tokens} "
        f"server={record.processing_ms} ms total={record.duration_ms:.1f} ms "
        f"remaining requests={record.ratelimit_remaining_requests}"
    )
