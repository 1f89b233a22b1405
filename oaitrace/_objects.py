"""The API objects a request created or touched: their ids and the facts worth keeping.

Ids come from two places: the path (`/v1/batches/{batch_id}` names the batch
it acts on) and the response object (`{"object": "file", "id": "file-abc"}`
is the file a `POST /v1/files` created, and a run names its thread and
assistant). The path wins when both name the same kind of id.

Facts go into `Record.extra` under one key per family (see `object_facts`):
image settings, file and upload metadata, batch and fine-tuning progress,
audio formats and durations, and for every object the API returned its
`object` type and `status`, so that polled objects (runs, batches, jobs)
can be counted once per id when first seen in a final state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

__all__ = ["ResponseView", "object_facts", "path_ids"]

# Response `object` type -> the object_ids key of its `id`.
_ID_KEY_BY_OBJECT: Final = {
    "assistant": "assistant_id",
    "batch": "batch_id",
    "checkpoint.permission": "permission_id",
    "container": "container_id",
    "container.file": "file_id",
    "conversation": "conversation_id",
    "eval": "eval_id",
    "eval.run": "eval_run_id",
    "file": "file_id",
    "fine_tuning.job": "fine_tuning_job_id",
    "fine_tuning.job.checkpoint": "checkpoint_id",
    "model": "model",
    "organization.admin_api_key": "key_id",
    "organization.invite": "invite_id",
    "organization.project": "project_id",
    "organization.project.api_key": "key_id",
    "organization.project.service_account": "service_account_id",
    "organization.project.user": "user_id",
    "organization.user": "user_id",
    "project.rate_limit": "rate_limit_id",
    "response": "response_id",
    "skill": "skill_id",
    "thread": "thread_id",
    "thread.message": "message_id",
    "thread.run": "run_id",
    "thread.run.step": "step_id",
    "upload": "upload_id",
    "upload.part": "upload_part_id",
    "vector_store": "vector_store_id",
    "vector_store.file": "file_id",
    "vector_store.file_batch": "file_batch_id",
    "video": "video_id",
}
# Fields of a response object that name another object: field -> object_ids key.
_LINKED_ID_FIELDS: Final = {
    "assistant_id": "assistant_id",
    "thread_id": "thread_id",
    "run_id": "run_id",
    "upload_id": "upload_id",
    "vector_store_id": "vector_store_id",
    "fine_tuning_job_id": "fine_tuning_job_id",
    "input_file_id": "input_file_id",
    "output_file_id": "output_file_id",
    "error_file_id": "error_file_id",
    "training_file": "training_file_id",
    "validation_file": "validation_file_id",
    "previous_response_id": "previous_response_id",
}
# Path placeholders that are not object ids.
_NOT_IDS: Final = frozenset({"id", "version"})


def path_ids(endpoint: str, path: str) -> dict[str, str]:
    """The ids a path names, by the placeholder names of its endpoint template.

    Example::

        >>> path_ids("/v1/threads/{thread_id}/runs/{run_id}", "/v1/threads/th_1/runs/run_2")
        {'thread_id': 'th_1', 'run_id': 'run_2'}
    """
    if "{" not in endpoint:
        return {}
    template = [segment for segment in endpoint.split("/") if segment]
    segments = [segment for segment in path.split("/") if segment]
    if len(template) != len(segments):
        return {}
    ids: dict[str, str] = {}
    for placeholder, segment in zip(template, segments, strict=True):
        if placeholder[:1] == "{" and placeholder[1:-1] not in _NOT_IDS:
            ids[placeholder[1:-1]] = unquote(segment)
    return ids


@dataclass(frozen=True, slots=True)
class ResponseView:
    """What the family functions may look at in a response."""

    obj: Mapping[str, Any]
    content_type: str | None = None
    # The decoded body's first bytes (formats such as srt and vtt show there).
    head: bytes = b""
    size: int = 0


def object_facts(
    operation: str,
    ids: dict[str, str],
    request: Mapping[str, Any] | None,
    response: ResponseView,
) -> dict[str, Any]:
    """Fill `ids` from the response object; return the facts for `Record.extra`.

    `request` holds the request's JSON fields or multipart text fields (with
    a file part's filename as `filename`); `response.obj` is the response's
    JSON object (for a stream: its final Response or Run object), empty when
    there is none.
    """
    extra: dict[str, Any] = {}
    if response.obj:
        _take_response_ids(response.obj, ids, extra)
    entry = _FAMILIES.get(operation.partition(".")[0])
    if entry is not None:
        key, family = entry
        facts = family(operation, request or {}, response)
        if facts:
            extra[key] = facts
    return extra


def _take_response_ids(
    response: Mapping[str, Any], ids: dict[str, str], extra: dict[str, Any]
) -> None:
    kind = response.get("object")
    if type(kind) is not str:
        return
    kind = kind.removesuffix(".deleted")
    key = _ID_KEY_BY_OBJECT.get(kind)
    if key is None:
        return
    extra["object_type"] = kind
    _set_id(ids, key, response.get("id"))
    status = response.get("status")
    if type(status) is str:
        extra["object_status"] = status
    for field, linked_key in _LINKED_ID_FIELDS.items():
        if field in response:
            _set_id(ids, linked_key, response[field])
    # A completed upload carries its file; a Response may belong to a conversation.
    for nested, nested_key in (("file", "file_id"), ("conversation", "conversation_id")):
        value = response.get(nested)
        if type(value) is dict:
            _set_id(ids, nested_key, value.get("id"))


def _set_id(ids: dict[str, str], key: str, value: Any) -> None:
    if type(value) is str and value and key not in ids:
        ids[key] = value


def _pick(source: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: source[key] for key in keys if source.get(key) is not None}


_IMAGE_REQUEST_KEYS: Final = (
    "n",
    "size",
    "quality",
    "style",
    "response_format",
    "background",
    "output_format",
    "input_fidelity",
    "filename",
)
_IMAGE_RESPONSE_KEYS: Final = ("size", "quality", "background", "output_format")


def _image_facts(operation: str, request: Mapping[str, Any], view: ResponseView) -> dict[str, Any]:
    response = view.obj
    facts = _pick(request, _IMAGE_REQUEST_KEYS)
    if type(facts.get("n")) is str and facts["n"].isdigit():
        facts["n"] = int(facts["n"])  # multipart fields are text
    # gpt-image says what it produced ("auto" in the request, "1024x1024" here).
    facts.update(_pick(response, _IMAGE_RESPONSE_KEYS))
    data = response.get("data")
    if type(data) is list:
        facts["count"] = len(data)
    return facts


_FILE_KEYS: Final = ("purpose", "filename", "bytes", "status", "expires_at")


def _file_facts(operation: str, request: Mapping[str, Any], view: ResponseView) -> dict[str, Any]:
    response = view.obj
    if response.get("object") not in ("file", "file.deleted"):
        return _pick(request, ("purpose", "filename")) if operation == "files.create" else {}
    # The server's word beats the form's.
    return {**_pick(request, ("purpose", "filename")), **_pick(response, _FILE_KEYS)}


def _upload_facts(operation: str, request: Mapping[str, Any], view: ResponseView) -> dict[str, Any]:
    response = view.obj
    keys = ("purpose", "filename", "bytes", "mime_type")
    return {**_pick(request, keys), **_pick(response, (*keys, "status"))}


def _batch_facts(operation: str, request: Mapping[str, Any], view: ResponseView) -> dict[str, Any]:
    response = view.obj
    if response.get("object") != "batch":
        return {}
    return _pick(response, ("status", "endpoint", "completion_window", "request_counts"))


def _fine_tuning_facts(
    operation: str, request: Mapping[str, Any], view: ResponseView
) -> dict[str, Any]:
    response = view.obj
    if response.get("object") != "fine_tuning.job":
        return {}
    facts = _pick(response, ("status", "trained_tokens", "fine_tuned_model", "estimated_finish"))
    method = response.get("method")
    if type(method) is dict and type(method.get("type")) is str:
        facts["method"] = method["type"]
    return facts


# How a transcription answered in a non-JSON format begins.
_TEXT_FORMATS: Final = ((b"WEBVTT", "vtt"), (b"1\n", "srt"), (b"1\r\n", "srt"))


def _audio_facts(operation: str, request: Mapping[str, Any], view: ResponseView) -> dict[str, Any]:
    if operation == "audio.speech":
        facts = _pick(request, ("voice", "response_format", "speed", "stream_format"))
        # The audio itself is never stored: its type and size say enough.
        if view.content_type is not None:
            facts["content_type"] = view.content_type
        facts["bytes"] = view.size
        return facts
    response = view.obj
    facts = _pick(request, ("response_format", "language", "filename", "chunking_strategy"))
    if "response_format" not in facts:
        response_format = _transcript_format(view)
        if response_format is not None:
            facts["response_format"] = response_format
    duration = response.get("duration")
    if type(duration) in (int, float):
        facts["duration_s"] = duration
    usage = response.get("usage")
    if type(usage) is dict and usage.get("type") == "duration":
        seconds = usage.get("seconds")
        if type(seconds) in (int, float):
            facts["duration_s"] = seconds
    if type(response.get("language")) is str:
        facts["language"] = response["language"]
    return facts


def _transcript_format(view: ResponseView) -> str | None:
    """The response format a transcription answered in, when the request is unknown."""
    if view.obj:
        return "verbose_json" if "segments" in view.obj or "words" in view.obj else "json"
    content_type = (view.content_type or "").lower()
    if "event-stream" in content_type:
        return None
    if "text/plain" not in content_type:
        return None
    head = view.head.lstrip()
    for start, name in _TEXT_FORMATS:
        if head.startswith(start):
            return name
    return "text"


_VECTOR_STORE_OBJECTS: Final = ("vector_store", "vector_store.file", "vector_store.file_batch")


def _vector_store_facts(
    operation: str, request: Mapping[str, Any], view: ResponseView
) -> dict[str, Any]:
    response = view.obj
    if response.get("object") not in _VECTOR_STORE_OBJECTS:
        return {}
    return _pick(response, ("usage_bytes", "file_counts", "last_error"))


def _moderation_facts(
    operation: str, request: Mapping[str, Any], view: ResponseView
) -> dict[str, Any]:
    response = view.obj
    results = response.get("results")
    if type(results) is not list:
        return {}
    flagged = [result.get("flagged") is True for result in results if type(result) is dict]
    return {"results": len(flagged), "flagged": sum(flagged)}


def _embedding_facts(
    operation: str, request: Mapping[str, Any], view: ResponseView
) -> dict[str, Any]:
    response = view.obj
    facts = _pick(request, ("encoding_format", "dimensions"))
    data = response.get("data")
    if type(data) is list:
        facts["count"] = len(data)
    return facts


def _response_facts(
    operation: str, request: Mapping[str, Any], view: ResponseView
) -> dict[str, Any]:
    """What a Responses API response produced: the output item types in order.

    A Response that called tools still ends `completed`; its output types
    (`reasoning`, `function_call`, `web_search_call`, `message` ...) say
    what happened.
    """
    response = view.obj
    if response.get("object") != "response":
        return {}
    output = response.get("output")
    if type(output) is not list:
        return {}
    types = [
        item["type"] for item in output if type(item) is dict and type(item.get("type")) is str
    ]
    return {"output_types": types} if types else {}


_Family = Callable[[str, Mapping[str, Any], ResponseView], dict[str, Any]]
# First segment of the operation name -> (extra key, facts function).
_FAMILIES: Final[dict[str, tuple[str, _Family]]] = {
    "chat": ("responses", _response_facts),
    "responses": ("responses", _response_facts),
    "images": ("image", _image_facts),
    "files": ("file", _file_facts),
    "uploads": ("upload", _upload_facts),
    "batches": ("batch", _batch_facts),
    "fine_tuning": ("fine_tuning", _fine_tuning_facts),
    "audio": ("audio", _audio_facts),
    "vector_stores": ("vector_store", _vector_store_facts),
    "moderations": ("moderation", _moderation_facts),
    "embeddings": ("embedding", _embedding_facts),
}
