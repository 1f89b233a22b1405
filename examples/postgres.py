"""PostgreSQL: record into a PostgreSQL database instead of SQLite.

Shows: the database URL (`postgresql://user:password@host/db`) given as the
first argument or as $OAITRACE_DATABASE_URL; the recorder creates the
tables on first use, and the same `Query` reports read them. Needs
`pip install 'oaitrace[postgres]'` (psycopg 3).

    python examples/postgres.py postgresql://oaitrace@localhost/oaitrace
"""

from __future__ import annotations

import os
import sys

import openai

import oaitrace
from oaitrace.query import Query

database_url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OAITRACE_DATABASE_URL", "")
if not database_url.startswith("postgresql"):
    sys.exit("usage: python examples/postgres.py postgresql://user@host/database")

with oaitrace.Recorder(database_url=database_url) as recorder:
    client = openai.OpenAI(http_client=recorder.client())
    for model in ("gpt-4o-mini", "gpt-4o"):
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Hello from PostgreSQL"}]
        )
    recorder.flush()

with Query(database_url) as query:
    for row in query.usage(by="model").rows:
        print(
            f"{row.group['model']}: {row.requests} requests, {row.total_tokens} tokens, "
            f"${row.cost_usd}"
        )
