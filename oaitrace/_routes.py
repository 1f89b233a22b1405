"""Which API operation a request is: the endpoint template and the operation name.

`ROUTES` is the whole story: one row per (method, path template) of the
OpenAI API, relative to the API base (`/v1`, an Azure deployment, or a
compatible server's prefix). Operation names follow the OpenTelemetry GenAI
conventions where they exist (`chat`, `text_completion`, `embeddings`) and
are dotted SDK-style names elsewhere. POST /responses is `chat`: it is the
Responses API's chat turn, and OTel instrumentations name it so.

A path no row matches gets operation `"unknown"` and an endpoint whose
id-like segments are replaced by `{id}`, so that unknown endpoints still
group sensibly in reports.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

__all__ = ["BILLED_OPERATIONS", "ROUTES", "UNKNOWN_OPERATION", "route"]

UNKNOWN_OPERATION: Final = "unknown"

# (method, path template below the API base, operation)
ROUTES: Final[tuple[tuple[str, str, str], ...]] = (
    # --- model calls -------------------------------------------------------
    ("POST", "/chat/completions", "chat"),
    ("GET", "/chat/completions", "chat.completions.list"),
    ("GET", "/chat/completions/{completion_id}", "chat.completions.retrieve"),
    ("POST", "/chat/completions/{completion_id}", "chat.completions.update"),
    ("DELETE", "/chat/completions/{completion_id}", "chat.completions.delete"),
    ("GET", "/chat/completions/{completion_id}/messages", "chat.completions.messages.list"),
    ("POST", "/completions", "text_completion"),
    ("POST", "/embeddings", "embeddings"),
    ("POST", "/responses", "chat"),
    ("POST", "/responses/compact", "responses.compact"),
    ("POST", "/responses/input_tokens", "responses.input_tokens.count"),
    ("GET", "/responses/{response_id}", "responses.retrieve"),
    ("DELETE", "/responses/{response_id}", "responses.delete"),
    ("POST", "/responses/{response_id}/cancel", "responses.cancel"),
    ("GET", "/responses/{response_id}/input_items", "responses.input_items.list"),
    ("POST", "/audio/speech", "audio.speech"),
    ("POST", "/audio/transcriptions", "audio.transcription"),
    ("POST", "/audio/translations", "audio.translation"),
    ("POST", "/images/generations", "images.generate"),
    ("POST", "/images/edits", "images.edit"),
    ("POST", "/images/variations", "images.variation"),
    ("POST", "/moderations", "moderations.create"),
    ("POST", "/videos", "videos.create"),
    ("GET", "/videos", "videos.list"),
    ("GET", "/videos/{video_id}", "videos.retrieve"),
    ("DELETE", "/videos/{video_id}", "videos.delete"),
    ("GET", "/videos/{video_id}/content", "videos.content"),
    ("POST", "/videos/{video_id}/remix", "videos.remix"),
    # --- files and uploads -------------------------------------------------
    ("POST", "/files", "files.create"),
    ("GET", "/files", "files.list"),
    ("GET", "/files/{file_id}", "files.retrieve"),
    ("DELETE", "/files/{file_id}", "files.delete"),
    ("GET", "/files/{file_id}/content", "files.content"),
    ("POST", "/uploads", "uploads.create"),
    ("POST", "/uploads/{upload_id}/parts", "uploads.parts.create"),
    ("POST", "/uploads/{upload_id}/complete", "uploads.complete"),
    ("POST", "/uploads/{upload_id}/cancel", "uploads.cancel"),
    # --- batches -----------------------------------------------------------
    ("POST", "/batches", "batches.create"),
    ("GET", "/batches", "batches.list"),
    ("GET", "/batches/{batch_id}", "batches.retrieve"),
    ("POST", "/batches/{batch_id}/cancel", "batches.cancel"),
    # --- fine-tuning -------------------------------------------------------
    ("POST", "/fine_tuning/jobs", "fine_tuning.jobs.create"),
    ("GET", "/fine_tuning/jobs", "fine_tuning.jobs.list"),
    ("GET", "/fine_tuning/jobs/{fine_tuning_job_id}", "fine_tuning.jobs.retrieve"),
    ("POST", "/fine_tuning/jobs/{fine_tuning_job_id}/cancel", "fine_tuning.jobs.cancel"),
    ("POST", "/fine_tuning/jobs/{fine_tuning_job_id}/pause", "fine_tuning.jobs.pause"),
    ("POST", "/fine_tuning/jobs/{fine_tuning_job_id}/resume", "fine_tuning.jobs.resume"),
    ("GET", "/fine_tuning/jobs/{fine_tuning_job_id}/events", "fine_tuning.jobs.events.list"),
    (
        "GET",
        "/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints",
        "fine_tuning.jobs.checkpoints.list",
    ),
    (
        "POST",
        "/fine_tuning/checkpoints/{checkpoint}/permissions",
        "fine_tuning.checkpoints.permissions.create",
    ),
    (
        "GET",
        "/fine_tuning/checkpoints/{checkpoint}/permissions",
        "fine_tuning.checkpoints.permissions.list",
    ),
    (
        "DELETE",
        "/fine_tuning/checkpoints/{checkpoint}/permissions/{permission_id}",
        "fine_tuning.checkpoints.permissions.delete",
    ),
    ("POST", "/fine_tuning/alpha/graders/run", "fine_tuning.alpha.graders.run"),
    ("POST", "/fine_tuning/alpha/graders/validate", "fine_tuning.alpha.graders.validate"),
    # --- models ------------------------------------------------------------
    ("GET", "/models", "models.list"),
    ("GET", "/models/{model}", "models.retrieve"),
    ("DELETE", "/models/{model}", "models.delete"),
    # --- assistants (beta) -------------------------------------------------
    ("POST", "/assistants", "assistants.create"),
    ("GET", "/assistants", "assistants.list"),
    ("GET", "/assistants/{assistant_id}", "assistants.retrieve"),
    ("POST", "/assistants/{assistant_id}", "assistants.update"),
    ("DELETE", "/assistants/{assistant_id}", "assistants.delete"),
    # --- threads, messages, runs, run steps (beta) -------------------------
    ("POST", "/threads", "threads.create"),
    ("POST", "/threads/runs", "threads.create_and_run"),
    ("GET", "/threads/{thread_id}", "threads.retrieve"),
    ("POST", "/threads/{thread_id}", "threads.update"),
    ("DELETE", "/threads/{thread_id}", "threads.delete"),
    ("POST", "/threads/{thread_id}/messages", "threads.messages.create"),
    ("GET", "/threads/{thread_id}/messages", "threads.messages.list"),
    ("GET", "/threads/{thread_id}/messages/{message_id}", "threads.messages.retrieve"),
    ("POST", "/threads/{thread_id}/messages/{message_id}", "threads.messages.update"),
    ("DELETE", "/threads/{thread_id}/messages/{message_id}", "threads.messages.delete"),
    ("POST", "/threads/{thread_id}/runs", "threads.runs.create"),
    ("GET", "/threads/{thread_id}/runs", "threads.runs.list"),
    ("GET", "/threads/{thread_id}/runs/{run_id}", "threads.runs.retrieve"),
    ("POST", "/threads/{thread_id}/runs/{run_id}", "threads.runs.update"),
    ("POST", "/threads/{thread_id}/runs/{run_id}/cancel", "threads.runs.cancel"),
    (
        "POST",
        "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs",
        "threads.runs.submit_tool_outputs",
    ),
    ("GET", "/threads/{thread_id}/runs/{run_id}/steps", "threads.runs.steps.list"),
    ("GET", "/threads/{thread_id}/runs/{run_id}/steps/{step_id}", "threads.runs.steps.retrieve"),
    # --- vector stores -----------------------------------------------------
    ("POST", "/vector_stores", "vector_stores.create"),
    ("GET", "/vector_stores", "vector_stores.list"),
    ("GET", "/vector_stores/{vector_store_id}", "vector_stores.retrieve"),
    ("POST", "/vector_stores/{vector_store_id}", "vector_stores.update"),
    ("DELETE", "/vector_stores/{vector_store_id}", "vector_stores.delete"),
    ("POST", "/vector_stores/{vector_store_id}/search", "vector_stores.search"),
    ("POST", "/vector_stores/{vector_store_id}/files", "vector_stores.files.create"),
    ("GET", "/vector_stores/{vector_store_id}/files", "vector_stores.files.list"),
    ("GET", "/vector_stores/{vector_store_id}/files/{file_id}", "vector_stores.files.retrieve"),
    ("POST", "/vector_stores/{vector_store_id}/files/{file_id}", "vector_stores.files.update"),
    ("DELETE", "/vector_stores/{vector_store_id}/files/{file_id}", "vector_stores.files.delete"),
    (
        "GET",
        "/vector_stores/{vector_store_id}/files/{file_id}/content",
        "vector_stores.files.content",
    ),
    ("POST", "/vector_stores/{vector_store_id}/file_batches", "vector_stores.file_batches.create"),
    (
        "GET",
        "/vector_stores/{vector_store_id}/file_batches/{file_batch_id}",
        "vector_stores.file_batches.retrieve",
    ),
    (
        "POST",
        "/vector_stores/{vector_store_id}/file_batches/{file_batch_id}/cancel",
        "vector_stores.file_batches.cancel",
    ),
    (
        "GET",
        "/vector_stores/{vector_store_id}/file_batches/{file_batch_id}/files",
        "vector_stores.file_batches.list_files",
    ),
    # --- conversations -----------------------------------------------------
    ("POST", "/conversations", "conversations.create"),
    ("GET", "/conversations/{conversation_id}", "conversations.retrieve"),
    ("POST", "/conversations/{conversation_id}", "conversations.update"),
    ("DELETE", "/conversations/{conversation_id}", "conversations.delete"),
    ("POST", "/conversations/{conversation_id}/items", "conversations.items.create"),
    ("GET", "/conversations/{conversation_id}/items", "conversations.items.list"),
    ("GET", "/conversations/{conversation_id}/items/{item_id}", "conversations.items.retrieve"),
    ("DELETE", "/conversations/{conversation_id}/items/{item_id}", "conversations.items.delete"),
    # --- containers --------------------------------------------------------
    ("POST", "/containers", "containers.create"),
    ("GET", "/containers", "containers.list"),
    ("GET", "/containers/{container_id}", "containers.retrieve"),
    ("DELETE", "/containers/{container_id}", "containers.delete"),
    ("POST", "/containers/{container_id}/files", "containers.files.create"),
    ("GET", "/containers/{container_id}/files", "containers.files.list"),
    ("GET", "/containers/{container_id}/files/{file_id}", "containers.files.retrieve"),
    ("DELETE", "/containers/{container_id}/files/{file_id}", "containers.files.delete"),
    ("GET", "/containers/{container_id}/files/{file_id}/content", "containers.files.content"),
    # --- evals -------------------------------------------------------------
    ("POST", "/evals", "evals.create"),
    ("GET", "/evals", "evals.list"),
    ("GET", "/evals/{eval_id}", "evals.retrieve"),
    ("POST", "/evals/{eval_id}", "evals.update"),
    ("DELETE", "/evals/{eval_id}", "evals.delete"),
    ("POST", "/evals/{eval_id}/runs", "evals.runs.create"),
    ("GET", "/evals/{eval_id}/runs", "evals.runs.list"),
    ("GET", "/evals/{eval_id}/runs/{eval_run_id}", "evals.runs.retrieve"),
    ("POST", "/evals/{eval_id}/runs/{eval_run_id}", "evals.runs.cancel"),
    ("DELETE", "/evals/{eval_id}/runs/{eval_run_id}", "evals.runs.delete"),
    ("GET", "/evals/{eval_id}/runs/{eval_run_id}/output_items", "evals.runs.output_items.list"),
    (
        "GET",
        "/evals/{eval_id}/runs/{eval_run_id}/output_items/{output_item_id}",
        "evals.runs.output_items.retrieve",
    ),
    # --- skills ------------------------------------------------------------
    ("POST", "/skills", "skills.create"),
    ("GET", "/skills", "skills.list"),
    ("GET", "/skills/{skill_id}", "skills.retrieve"),
    ("POST", "/skills/{skill_id}", "skills.update"),
    ("DELETE", "/skills/{skill_id}", "skills.delete"),
    ("GET", "/skills/{skill_id}/content", "skills.content"),
    ("POST", "/skills/{skill_id}/versions", "skills.versions.create"),
    ("GET", "/skills/{skill_id}/versions", "skills.versions.list"),
    ("GET", "/skills/{skill_id}/versions/{version}", "skills.versions.retrieve"),
    ("DELETE", "/skills/{skill_id}/versions/{version}", "skills.versions.delete"),
    ("GET", "/skills/{skill_id}/versions/{version}/content", "skills.versions.content"),
    # --- realtime ----------------------------------------------------------
    ("POST", "/realtime/sessions", "realtime.sessions.create"),
    ("POST", "/realtime/transcription_sessions", "realtime.transcription_sessions.create"),
    ("POST", "/realtime/client_secrets", "realtime.client_secrets.create"),
    ("POST", "/realtime/calls", "realtime.calls.create"),
    ("POST", "/realtime/calls/{call_id}/accept", "realtime.calls.accept"),
    ("POST", "/realtime/calls/{call_id}/hangup", "realtime.calls.hangup"),
    ("POST", "/realtime/calls/{call_id}/refer", "realtime.calls.refer"),
    ("POST", "/realtime/calls/{call_id}/reject", "realtime.calls.reject"),
    # --- organization administration (admin keys) --------------------------
    ("GET", "/organization/usage/completions", "organization.usage.completions"),
    ("GET", "/organization/usage/embeddings", "organization.usage.embeddings"),
    ("GET", "/organization/usage/moderations", "organization.usage.moderations"),
    ("GET", "/organization/usage/images", "organization.usage.images"),
    ("GET", "/organization/usage/audio_speeches", "organization.usage.audio_speeches"),
    ("GET", "/organization/usage/audio_transcriptions", "organization.usage.audio_transcriptions"),
    ("GET", "/organization/usage/vector_stores", "organization.usage.vector_stores"),
    (
        "GET",
        "/organization/usage/code_interpreter_sessions",
        "organization.usage.code_interpreter_sessions",
    ),
    ("GET", "/organization/costs", "organization.costs"),
    ("GET", "/organization/audit_logs", "organization.audit_logs.list"),
    ("GET", "/organization/admin_api_keys", "organization.admin_api_keys.list"),
    ("POST", "/organization/admin_api_keys", "organization.admin_api_keys.create"),
    ("GET", "/organization/admin_api_keys/{key_id}", "organization.admin_api_keys.retrieve"),
    ("DELETE", "/organization/admin_api_keys/{key_id}", "organization.admin_api_keys.delete"),
    ("GET", "/organization/invites", "organization.invites.list"),
    ("POST", "/organization/invites", "organization.invites.create"),
    ("GET", "/organization/invites/{invite_id}", "organization.invites.retrieve"),
    ("DELETE", "/organization/invites/{invite_id}", "organization.invites.delete"),
    ("GET", "/organization/users", "organization.users.list"),
    ("GET", "/organization/users/{user_id}", "organization.users.retrieve"),
    ("POST", "/organization/users/{user_id}", "organization.users.update"),
    ("DELETE", "/organization/users/{user_id}", "organization.users.delete"),
    ("GET", "/organization/projects", "organization.projects.list"),
    ("POST", "/organization/projects", "organization.projects.create"),
    ("GET", "/organization/projects/{project_id}", "organization.projects.retrieve"),
    ("POST", "/organization/projects/{project_id}", "organization.projects.update"),
    ("POST", "/organization/projects/{project_id}/archive", "organization.projects.archive"),
    ("GET", "/organization/projects/{project_id}/users", "organization.projects.users.list"),
    ("POST", "/organization/projects/{project_id}/users", "organization.projects.users.create"),
    (
        "GET",
        "/organization/projects/{project_id}/users/{user_id}",
        "organization.projects.users.retrieve",
    ),
    (
        "POST",
        "/organization/projects/{project_id}/users/{user_id}",
        "organization.projects.users.update",
    ),
    (
        "DELETE",
        "/organization/projects/{project_id}/users/{user_id}",
        "organization.projects.users.delete",
    ),
    (
        "GET",
        "/organization/projects/{project_id}/service_accounts",
        "organization.projects.service_accounts.list",
    ),
    (
        "POST",
        "/organization/projects/{project_id}/service_accounts",
        "organization.projects.service_accounts.create",
    ),
    (
        "GET",
        "/organization/projects/{project_id}/service_accounts/{service_account_id}",
        "organization.projects.service_accounts.retrieve",
    ),
    (
        "DELETE",
        "/organization/projects/{project_id}/service_accounts/{service_account_id}",
        "organization.projects.service_accounts.delete",
    ),
    ("GET", "/organization/projects/{project_id}/api_keys", "organization.projects.api_keys.list"),
    (
        "GET",
        "/organization/projects/{project_id}/api_keys/{key_id}",
        "organization.projects.api_keys.retrieve",
    ),
    (
        "DELETE",
        "/organization/projects/{project_id}/api_keys/{key_id}",
        "organization.projects.api_keys.delete",
    ),
    (
        "GET",
        "/organization/projects/{project_id}/rate_limits",
        "organization.projects.rate_limits.list",
    ),
    (
        "POST",
        "/organization/projects/{project_id}/rate_limits/{rate_limit_id}",
        "organization.projects.rate_limits.update",
    ),
)

# Operations whose response usage is consumption caused by this very request.
# Retrievals, lists and cancels also show usage (a stored response, a batch, a
# polled run) but counting it again there would double the totals; the parser
# keeps such usage in `extra["object_usage"]` instead.
BILLED_OPERATIONS: Final = frozenset(
    {
        "chat",
        "text_completion",
        "embeddings",
        "responses.compact",
        "audio.speech",
        "audio.transcription",
        "audio.translation",
        "images.generate",
        "images.edit",
        "images.variation",
        "moderations.create",
        "threads.create_and_run",
        "threads.runs.create",
        "threads.runs.submit_tool_outputs",
        UNKNOWN_OPERATION,
    }
)

_PLACEHOLDER: Final = re.compile(r"\{(\w+)\}")
# Id-like path segments of unknown endpoints: long with a digit, or all digits.
_ID_SEGMENT: Final = re.compile(r"(?=[^/]*\d)[^/]{8,}|\d+")


def _compile(template: str) -> re.Pattern[str]:
    pattern = _PLACEHOLDER.sub("[^/]+", template)
    return re.compile(pattern)


# Rows grouped by the template's first segment and method, so one request
# tries a handful of patterns rather than every row.
_INDEX: Final[dict[tuple[str, str], list[tuple[re.Pattern[str], str, str]]]] = {}
for _method, _template, _operation in ROUTES:
    _key = (_method, _template.split("/", 2)[1])
    _INDEX.setdefault(_key, []).append((_compile(_template), _template, _operation))


def _template_prefix(segments: list[str]) -> str:
    """The API base as a template: an Azure deployment name becomes `{deployment}`."""
    parts = list(segments)
    for index in range(1, len(parts)):
        if parts[index - 1] == "deployments":
            parts[index] = "{deployment}"
    return "".join(f"/{part}" for part in parts)


@lru_cache(maxsize=4096)
def route(method: str, path: str) -> tuple[str, str]:
    """The endpoint template and operation name of a request.

    `path` is the URL path without the query. The API base in front of the
    known part (`/v1`, `/openai/deployments/<name>`, a proxy prefix, nothing)
    is found by trying each suffix of the path, shortest base first.

    Example::

        >>> route("GET", "/v1/files/file-abc123")
        ('/v1/files/{file_id}', 'files.retrieve')
    """
    method = method.upper()
    segments = [segment for segment in path.split("/") if segment]
    for start in range(len(segments)):
        candidates = _INDEX.get((method, segments[start]))
        if not candidates:
            continue
        relative = "/" + "/".join(segments[start:])
        for pattern, template, operation in candidates:
            if pattern.fullmatch(relative):
                return _template_prefix(segments[:start]) + template, operation
    return _unknown_endpoint(segments), UNKNOWN_OPERATION


def _unknown_endpoint(segments: list[str]) -> str:
    templated = ["{id}" if _ID_SEGMENT.fullmatch(segment) else segment for segment in segments]
    return _template_prefix(templated) or "/"
