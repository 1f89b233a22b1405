"""Requests map to endpoint templates and operation names."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from oaitrace._routes import ROUTES, UNKNOWN_OPERATION, route
from tests.corpus import Case, load_cases

SAMPLES = [
    ("POST", "/v1/chat/completions", "/v1/chat/completions", "chat"),
    ("POST", "/v1/completions", "/v1/completions", "text_completion"),
    ("POST", "/v1/embeddings", "/v1/embeddings", "embeddings"),
    ("POST", "/v1/responses", "/v1/responses", "chat"),
    ("GET", "/v1/responses/resp_1", "/v1/responses/{response_id}", "responses.retrieve"),
    (
        "GET",
        "/v1/responses/resp_1/input_items",
        "/v1/responses/{response_id}/input_items",
        "responses.input_items.list",
    ),
    ("POST", "/v1/responses/compact", "/v1/responses/compact", "responses.compact"),
    ("GET", "/v1/files/file-abc", "/v1/files/{file_id}", "files.retrieve"),
    ("DELETE", "/v1/files/file-abc", "/v1/files/{file_id}", "files.delete"),
    ("GET", "/v1/files/file-abc/content", "/v1/files/{file_id}/content", "files.content"),
    (
        "GET",
        "/v1/threads/thread_1/runs/run_1/steps/step_1",
        "/v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}",
        "threads.runs.steps.retrieve",
    ),
    ("POST", "/v1/threads/runs", "/v1/threads/runs", "threads.create_and_run"),
    (
        "POST",
        "/v1/threads/t/runs/r/submit_tool_outputs",
        "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs",
        "threads.runs.submit_tool_outputs",
    ),
    (
        "GET",
        "/v1/fine_tuning/jobs/ftjob-1/events",
        "/v1/fine_tuning/jobs/{fine_tuning_job_id}/events",
        "fine_tuning.jobs.events.list",
    ),
    ("GET", "/v1/models/gpt-4o-mini", "/v1/models/{model}", "models.retrieve"),
    (
        "POST",
        "/v1/vector_stores/vs_1/file_batches/vsfb_1/cancel",
        "/v1/vector_stores/{vector_store_id}/file_batches/{file_batch_id}/cancel",
        "vector_stores.file_batches.cancel",
    ),
    (
        "GET",
        "/v1/organization/usage/completions",
        "/v1/organization/usage/completions",
        "organization.usage.completions",
    ),
    # Azure deployments, Azure v1, compatible servers with and without a version prefix.
    (
        "POST",
        "/openai/deployments/gpt4o-prod/chat/completions",
        "/openai/deployments/{deployment}/chat/completions",
        "chat",
    ),
    ("POST", "/openai/v1/responses", "/openai/v1/responses", "chat"),
    ("POST", "/chat/completions", "/chat/completions", "chat"),
    ("POST", "/api/v1/embeddings", "/api/v1/embeddings", "embeddings"),
    ("POST", "/v1beta/openai/chat/completions", "/v1beta/openai/chat/completions", "chat"),
    ("post", "/v1/chat/completions/", "/v1/chat/completions", "chat"),
]


@pytest.mark.parametrize(("method", "path", "endpoint", "operation"), SAMPLES)
def test_samples(method: str, path: str, endpoint: str, operation: str) -> None:
    """Each sample path gets its template and operation."""
    assert (endpoint, operation) == route(method, path)


def test_unknown_path_templates_ids() -> None:
    """Unknown paths keep their words and replace id-like segments with {id}."""
    assert route("GET", "/v1/widgets/wdg_8f3a2b1c9d/parts/12") == (
        "/v1/widgets/{id}/parts/{id}",
        UNKNOWN_OPERATION,
    )


def test_method_matters() -> None:
    """The same path routes to different operations per method."""
    assert route("GET", "/v1/files")[1] == "files.list"
    assert route("POST", "/v1/files")[1] == "files.create"
    assert route("PATCH", "/v1/files")[1] == UNKNOWN_OPERATION


def test_table_has_no_duplicates() -> None:
    """No (method, template) row appears twice, and operations are unique per row."""
    keys = [(method, template) for method, template, _ in ROUTES]
    assert len(keys) == len(set(keys))
    operations = [operation for _, _, operation in ROUTES]
    assert len(operations) == len(set(operations)) + operations.count("chat") - 1


CASES = load_cases()


@pytest.mark.skipif(not CASES, reason="corpus not found (see tests/corpus.py)")
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_corpus_endpoint_is_known(case: Case) -> None:
    """Every endpoint the corpus recorded routes to a named operation."""
    endpoint, operation = route(case.request["method"], urlsplit(case.request["url"]).path)
    assert operation != UNKNOWN_OPERATION
    assert endpoint.startswith("/v1/")
