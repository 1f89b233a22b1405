"""Canned OpenAI API answers for every endpoint family, served at the network edge.

Shapes follow the OpenAI API reference (and, where the corpus has one, a real
recorded exchange): response objects, SSE event sequences (`data:` only for
chat, completions and transcription; `event:` + `data:` for Responses and
Assistants runs) and OpenAI's response headers. `EndpointServer` is a
MockTransport handler that answers by (method, path pattern) and keeps what
it received, so a test can check the server got the whole upload.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from tests.openai_edge import OPENAI_HEADERS, iterator_stream

__all__ = [
    "AZURE_HEADERS",
    "EndpointServer",
    "Received",
    "Reply",
    "binary_reply",
    "json_reply",
    "sse_reply",
    "text_reply",
]

CREATED = 1730000000

AZURE_HEADERS: dict[str, Any] = {
    "x-request-id": "5b0c4e1e-1d0e-4d9b-9a38-2f3c1c6d7e8f",
    "apim-request-id": "9f2a6c71-3b0e-4a51-8d3f-0e2b7a4c9d11",
    "x-ms-region": "Sweden Central",
    "azureml-model-session": "d089-20250417143218",
    "x-ms-rai-invoked": "true",
    "x-ratelimit-limit-requests": "60",
    "x-ratelimit-remaining-requests": "59",
    "x-ratelimit-limit-tokens": "60000",
    "x-ratelimit-remaining-tokens": "59952",
    "strict-transport-security": "max-age=31536000; includeSubDomains; preload",
}


# --- replies -----------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One canned answer: status, content type, body chunks and extra headers."""

    status: int
    content_type: str | None
    chunks: Sequence[bytes]
    headers: Mapping[str, str] = field(default_factory=dict)


def json_reply(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    """A JSON body, split in two network chunks like a socket would deliver it."""
    content = json.dumps(payload).encode()
    return Reply(status, "application/json", [content[:40], content[40:]], headers or {})


def sse_reply(
    events: Sequence[tuple[str | None, Any]],
    *,
    done: bool = False,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """An event stream, one event per network chunk; `(name, payload)`, name None: data only."""
    frames = []
    for name, payload in events:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        prefix = f"event: {name}\n" if name is not None else ""
        frames.append(f"{prefix}data: {data}\n\n".encode())
    if done:
        frames.append(b"data: [DONE]\n\n")
    return Reply(200, "text/event-stream; charset=utf-8", frames, headers or {})


def binary_reply(content: bytes, content_type: str) -> Reply:
    """A binary body (audio), in 4 KiB chunks."""
    chunks = [content[start : start + 4096] for start in range(0, len(content), 4096)]
    return Reply(200, content_type, chunks)


def text_reply(text: str, content_type: str = "text/plain; charset=utf-8") -> Reply:
    """A plain text body (transcripts as text, srt or vtt)."""
    return Reply(200, content_type, [text.encode()])


# --- the server --------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request as the server got it (the body read in full)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


class EndpointServer:
    """A MockTransport handler answering registered (method, path pattern) routes.

    Example::

        server = EndpointServer(httpx2)
        server.on("POST", "/v1/files", json_reply(FILE))
        transport = httpx2.MockTransport(server)
    """

    def __init__(self, lib: ModuleType, headers: Mapping[str, str] = OPENAI_HEADERS) -> None:
        self._lib = lib
        self._headers = dict(headers)
        self._routes: list[tuple[str, re.Pattern[str], Callable[[Received], Reply]]] = []
        self.received: list[Received] = []

    def on(self, method: str, path: str, reply: Reply | Callable[[Received], Reply]) -> None:
        """Answer `method` on paths matching `path` (a regex, `[^/]+` for ids) with `reply`."""
        answer = reply if callable(reply) else (lambda _request, fixed=reply: fixed)
        self._routes.append((method, re.compile(path), answer))

    def __call__(self, request: Any) -> Any:
        received = Received(
            request.method,
            request.url.path,
            {name.lower(): value for name, value in request.headers.items()},
            request.read(),
        )
        self.received.append(received)
        for method, pattern, answer in self._routes:
            if method == request.method and pattern.fullmatch(request.url.path):
                reply = answer(received)
                break
        else:
            error = {"error": {"message": "Unknown path", "type": "invalid_request_error"}}
            reply = json_reply(error, status=404)
        headers = {**self._headers, **reply.headers}
        if reply.content_type is not None:
            headers["content-type"] = reply.content_type
        stream = iterator_stream(self._lib, list(reply.chunks))
        return self._lib.Response(reply.status, headers=headers, stream=stream)


# --- chat completions --------------------------------------------------------


def chat_completion(
    choices: list[dict[str, Any]], usage: dict[str, Any], model: str = "gpt-4o-2024-08-06"
) -> dict[str, Any]:
    """A chat.completion object."""
    return {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": choices,
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": "fp_f33640a400",
    }


def chat_usage(prompt: int, completion: int, **details: int) -> dict[str, Any]:
    """Chat usage with the detail objects OpenAI always sends."""
    completion_details = {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    }
    prompt_details = {"cached_tokens": 0, "audio_tokens": 0}
    for key, value in details.items():
        target = prompt_details if key.startswith("prompt_") else completion_details
        target[key.removeprefix("prompt_")] = value
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": completion_details,
    }


CHAT_TOOL_CALLS = chat_completion(
    [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {
                            "name": "get_current_weather",
                            "arguments": '{\n"location": "Boston, MA"\n}',
                        },
                    }
                ],
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    chat_usage(82, 17),
)

CHAT_TWO_CHOICES_LOGPROBS = chat_completion(
    [
        {
            "index": index,
            "message": {"role": "assistant", "content": text, "refusal": None},
            "logprobs": {
                "content": [
                    {
                        "token": text,
                        "logprob": -0.31725305,
                        "bytes": list(text.encode()),
                        "top_logprobs": [],
                    }
                ],
                "refusal": None,
            },
            "finish_reason": reason,
        }
        for index, (text, reason) in enumerate((("Hello", "stop"), ("Hi there, how", "length")))
    ],
    chat_usage(9, 6),
    model="gpt-4o-mini-2024-07-18",
)

CHAT_PREDICTED = chat_completion(
    [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "class User {\n  username: string;\n}"},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    chat_usage(312, 168, accepted_prediction_tokens=124, rejected_prediction_tokens=21),
)

CHAT_AUDIO = chat_completion(
    [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "audio": {
                    "id": "audio_6729f2f0c8b88190a8d09b7b3b0cd4a8",
                    "data": base64.b64encode(b"RIFF....WAVEfmt ").decode(),
                    "expires_at": CREATED + 3600,
                    "transcript": "Golden retrievers are friendly.",
                },
            },
            "finish_reason": "stop",
        }
    ],
    chat_usage(17, 151, audio_tokens=128, prompt_audio_tokens=0),
    model="gpt-4o-audio-preview-2024-12-17",
)


# --- legacy completions ------------------------------------------------------


def completion_stream() -> Reply:
    """A legacy completions stream with `text` choices and a usage chunk."""
    base = {
        "id": "cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe",
        "object": "text_completion",
        "created": CREATED,
        "model": "gpt-3.5-turbo-instruct",
    }
    events: list[tuple[str | None, Any]] = [
        (
            None,
            {
                **base,
                "choices": [{"text": word, "index": 0, "logprobs": None, "finish_reason": None}],
            },
        )
        for word in ("Once", " upon", " a", " time")
    ]
    events.append(
        (
            None,
            {
                **base,
                "choices": [{"text": "", "index": 0, "logprobs": None, "finish_reason": "length"}],
            },
        )
    )
    usage = {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    events.append((None, {**base, "choices": [], "usage": usage}))
    return sse_reply(events, done=True)


# --- embeddings and moderations ----------------------------------------------


def embeddings(vectors: list[list[float]], *, as_base64: bool) -> dict[str, Any]:
    """An embeddings list; base64 vectors are little-endian float32, as the API sends them."""
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": (
                base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                if as_base64
                else vector
            ),
        }
        for index, vector in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }


def moderation(flags: Sequence[bool]) -> dict[str, Any]:
    """A moderation result per input."""
    categories = {"harassment": False, "hate": False, "violence": False, "self-harm": False}
    return {
        "id": "modr-970d409ef3bef3b70c73d8232df86e7d",
        "model": "omni-moderation-latest",
        "results": [
            {
                "flagged": flagged,
                "categories": {**categories, "violence": flagged},
                "category_scores": dict.fromkeys(categories, 0.9 if flagged else 0.001),
                "category_applied_input_types": {name: ["text"] for name in categories},
            }
            for flagged in flags
        ],
    }


# --- Responses API -----------------------------------------------------------

RESPONSE_ID = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"
REASONING_USAGE: dict[str, Any] = {
    "input_tokens": 75,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 1186,
    "output_tokens_details": {"reasoning_tokens": 1024},
    "total_tokens": 1261,
}


def response_object(status: str, output: list[dict[str, Any]], usage: Any) -> dict[str, Any]:
    """A Response object (POST /responses, GET /responses/{id}, stream lifecycle events)."""
    return {
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": "o4-mini-2025-04-16",
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "conversation": {"id": "conv_689667905b048191b4740501625afd940c7533ace33a2dab"},
        "reasoning": {"effort": "medium", "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [{"type": "function", "name": "get_weather", "parameters": {}, "strict": True}],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


REASONING_ITEM = {"id": "rs_6820f383d7c08191846711c5df8233bc", "type": "reasoning", "summary": []}
FUNCTION_CALL_ITEM: dict[str, Any] = {
    "id": "fc_67ca09c6bedc8190a7abfec07b1a1332",
    "type": "function_call",
    "status": "completed",
    "call_id": "call_unLAR8MvFNptuiZK6K6HCy5k",
    "name": "get_weather",
    "arguments": '{"location":"Paris, France"}',
}
RESPONSE_WITH_TOOL_CALL = response_object(
    "completed", [REASONING_ITEM, FUNCTION_CALL_ITEM], REASONING_USAGE
)


def response_stream() -> Reply:
    """A streamed Response with reasoning and a function call, `event:` lines included."""
    created = response_object("in_progress", [], None)
    events: list[tuple[str | None, Any]] = [
        (
            "response.created",
            {"type": "response.created", "sequence_number": 0, "response": created},
        ),
        (
            "response.in_progress",
            {"type": "response.in_progress", "sequence_number": 1, "response": created},
        ),
        (
            "response.output_item.added",
            {
                "type": "response.output_item.added",
                "sequence_number": 2,
                "output_index": 0,
                "item": REASONING_ITEM,
            },
        ),
        (
            "response.output_item.added",
            {
                "type": "response.output_item.added",
                "sequence_number": 3,
                "output_index": 1,
                "item": {**FUNCTION_CALL_ITEM, "status": "in_progress", "arguments": ""},
            },
        ),
    ]
    for number, piece in enumerate(('{"location":', '"Paris, France"}'), start=4):
        events.append(
            (
                "response.function_call_arguments.delta",
                {
                    "type": "response.function_call_arguments.delta",
                    "sequence_number": number,
                    "item_id": FUNCTION_CALL_ITEM["id"],
                    "output_index": 1,
                    "delta": piece,
                    "obfuscation": "x1Yz",
                },
            )
        )
    events += [
        (
            "response.function_call_arguments.done",
            {
                "type": "response.function_call_arguments.done",
                "sequence_number": 6,
                "item_id": FUNCTION_CALL_ITEM["id"],
                "output_index": 1,
                "arguments": FUNCTION_CALL_ITEM["arguments"],
            },
        ),
        (
            "response.output_item.done",
            {
                "type": "response.output_item.done",
                "sequence_number": 7,
                "output_index": 1,
                "item": FUNCTION_CALL_ITEM,
            },
        ),
        (
            "response.completed",
            {
                "type": "response.completed",
                "sequence_number": 8,
                "response": RESPONSE_WITH_TOOL_CALL,
            },
        ),
    ]
    return sse_reply(events)


INPUT_ITEMS: dict[str, Any] = {
    "object": "list",
    "data": [
        {
            "id": "msg_abc123",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_text", "text": "What is the weather in Paris?"}],
        }
    ],
    "first_id": "msg_abc123",
    "last_id": "msg_abc123",
    "has_more": False,
}

CONVERSATION: dict[str, Any] = {
    "id": "conv_689667905b048191b4740501625afd940c7533ace33a2dab",
    "object": "conversation",
    "created_at": CREATED,
    "metadata": {"topic": "demo"},
}
CONVERSATION_ITEMS: dict[str, Any] = {
    "object": "list",
    "data": [
        {
            "type": "message",
            "id": "msg_abc",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_text", "text": "Hello!"}],
        }
    ],
    "first_id": "msg_abc",
    "last_id": "msg_abc",
    "has_more": False,
}


# --- audio -------------------------------------------------------------------

SPEECH_MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x23" + bytes(range(256)) * 40
TRANSCRIPT_JSON: dict[str, Any] = {
    "text": "Imagine the wildest idea that you've ever had.",
    "usage": {
        "type": "tokens",
        "input_tokens": 14,
        "input_token_details": {"text_tokens": 0, "audio_tokens": 14},
        "output_tokens": 45,
        "total_tokens": 59,
    },
}
TRANSLATION_VERBOSE: dict[str, Any] = {
    "task": "translate",
    "language": "english",
    "duration": 8.47,
    "text": "Hello, my name is Wolfgang.",
    "segments": [
        {
            "id": 0,
            "seek": 0,
            "start": 0.0,
            "end": 3.32,
            "text": " Hello, my name is Wolfgang.",
            "tokens": [50364, 2425, 11, 452, 1315, 307, 41935, 13, 50530],
            "temperature": 0.0,
            "avg_logprob": -0.27,
            "compression_ratio": 0.86,
            "no_speech_prob": 0.001,
        }
    ],
    "usage": {"type": "duration", "seconds": 9},
}
TRANSCRIPT_SRT = (
    "1\n00:00:00,000 --> 00:00:03,320\nImagine the wildest idea that you've ever had.\n\n"
)
TRANSCRIPT_VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:03.320\nImagine the wildest idea.\n\n"


def transcription_stream() -> Reply:
    """A streamed gpt-4o transcription: text deltas, then `transcript.text.done` with usage."""
    events: list[tuple[str | None, Any]] = [
        (None, {"type": "transcript.text.delta", "delta": piece, "logprobs": []})
        for piece in ("I", " see", " skies", " of", " blue.")
    ]
    usage = {
        "type": "tokens",
        "input_tokens": 14,
        "input_token_details": {"text_tokens": 0, "audio_tokens": 14},
        "output_tokens": 5,
        "total_tokens": 19,
    }
    events.append(
        (
            None,
            {
                "type": "transcript.text.done",
                "text": "I see skies of blue.",
                "logprobs": [],
                "usage": usage,
            },
        )
    )
    return sse_reply(events)


# --- images ------------------------------------------------------------------

PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()
GPT_IMAGE_EDIT: dict[str, Any] = {
    "created": CREATED,
    "background": "opaque",
    "data": [{"b64_json": PNG_B64}],
    "output_format": "png",
    "quality": "medium",
    "size": "1024x1024",
    "usage": {
        "input_tokens": 323,
        "input_tokens_details": {"image_tokens": 194, "text_tokens": 129},
        "output_tokens": 1056,
        "total_tokens": 1379,
    },
}
DALLE3_GENERATION: dict[str, Any] = {
    "created": CREATED,
    "data": [
        {
            "url": "https://oaidalleapiprodscus.blob.core.windows.net/private/img-1.png",
            "revised_prompt": "A lion cooking pasta wearing a chef's hat.",
        }
    ],
}
DALLE2_VARIATIONS: dict[str, Any] = {
    "created": CREATED,
    "data": [
        {"url": f"https://oaidalleapiprodscus.blob.core.windows.net/private/v{i}.png"}
        for i in range(2)
    ],
}


# --- files, uploads, batches -------------------------------------------------


def file_object(file_id: str, filename: str, purpose: str, size: int) -> dict[str, Any]:
    """A File object."""
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": CREATED,
        "expires_at": None,
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
        "status_details": None,
    }


UPLOAD_ID = "upload_68cb2ab4b6cc8191b75b2ce214482d40"


def upload_object(status: str, file: dict[str, Any] | None = None) -> dict[str, Any]:
    """An Upload object; a completed one carries its File."""
    return {
        "id": UPLOAD_ID,
        "object": "upload",
        "bytes": 2_147_483_648,
        "created_at": CREATED,
        "filename": "training_examples.jsonl",
        "purpose": "fine-tune",
        "status": status,
        "expires_at": CREATED + 3600,
        "file": file,
    }


UPLOAD_PART: dict[str, Any] = {
    "id": "part_68cb2ab53be881918156a0ace62994b2",
    "object": "upload.part",
    "created_at": CREATED,
    "upload_id": UPLOAD_ID,
}

BATCH_ID = "batch_abc123"


def batch_object(status: str, *, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Batch object at some point of its life."""
    done = status == "completed"
    return {
        "id": BATCH_ID,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "model": "gpt-4o-mini-2024-07-18",
        "errors": None,
        "input_file_id": "file-abc123",
        "completion_window": "24h",
        "status": status,
        "output_file_id": "file-cvaTdG" if done else None,
        "error_file_id": None,
        "created_at": CREATED,
        "in_progress_at": CREATED + 1,
        "expires_at": CREATED + 86400,
        "completed_at": CREATED + 60 if done else None,
        "request_counts": {
            "total": 100,
            "completed": 95 if done else 0,
            "failed": 5 if done else 0,
        },
        "usage": usage,
        "metadata": {"customer_id": "user_123456789"},
    }


BATCH_USAGE: dict[str, Any] = {
    "input_tokens": 1500,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 500,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 2000,
}


# --- fine-tuning and models --------------------------------------------------

JOB_ID = "ftjob-abc123"


def fine_tuning_job(status: str, trained_tokens: int | None = None) -> dict[str, Any]:
    """A fine_tuning.job object."""
    return {
        "object": "fine_tuning.job",
        "id": JOB_ID,
        "model": "gpt-4o-mini-2024-07-18",
        "created_at": CREATED,
        "finished_at": CREATED + 600 if status == "succeeded" else None,
        "fine_tuned_model": "ft:gpt-4o-mini:my-org:custom_suffix:9abel2Tx"
        if trained_tokens
        else None,
        "organization_id": "org-123",
        "result_files": ["file-abc123"] if trained_tokens else [],
        "status": status,
        "validation_file": None,
        "training_file": "file-abc123",
        "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8},
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
        "trained_tokens": trained_tokens,
        "error": None,
        "estimated_finish": None,
        "integrations": [],
        "seed": 683058546,
        "user_provided_suffix": "custom_suffix",
        "metadata": None,
    }


JOB_EVENTS: dict[str, Any] = {
    "object": "list",
    "data": [
        {
            "object": "fine_tuning.job.event",
            "id": "ftevent-abc123",
            "created_at": CREATED,
            "level": "info",
            "message": "Fine tuning job successfully completed",
            "type": "message",
            "data": {},
        }
    ],
    "has_more": False,
}
JOB_CHECKPOINTS: dict[str, Any] = {
    "object": "list",
    "data": [
        {
            "object": "fine_tuning.job.checkpoint",
            "id": "ftckpt_zc4Q7MP6XxulcVzj4MZdwsAB",
            "created_at": CREATED,
            "fine_tuned_model_checkpoint": (
                "ft:gpt-4o-mini:my-org:custom-suffix:96olL566:ckpt-step-2000"
            ),
            "metrics": {"full_valid_loss": 0.134, "full_valid_mean_token_accuracy": 0.874},
            "fine_tuning_job_id": JOB_ID,
            "step_number": 2000,
        }
    ],
    "first_id": "ftckpt_zc4Q7MP6XxulcVzj4MZdwsAB",
    "last_id": "ftckpt_zc4Q7MP6XxulcVzj4MZdwsAB",
    "has_more": False,
}
MODELS: dict[str, Any] = {
    "object": "list",
    "data": [
        {"id": name, "object": "model", "created": CREATED, "owned_by": "system"}
        for name in ("gpt-4o-mini", "text-embedding-3-small")
    ],
}
FINE_TUNED_MODEL = "ft:gpt-4o-mini:acemeco:suffix:abc123"


# --- assistants, threads, runs, vector stores --------------------------------

ASSISTANT: dict[str, Any] = {
    "id": "asst_abc123",
    "object": "assistant",
    "created_at": CREATED,
    "name": "Math Tutor",
    "description": None,
    "model": "gpt-4o",
    "instructions": "You are a personal math tutor.",
    "tools": [{"type": "code_interpreter"}],
    "metadata": {},
    "top_p": 1.0,
    "temperature": 1.0,
    "response_format": "auto",
}
THREAD: dict[str, Any] = {
    "id": "thread_abc123",
    "object": "thread",
    "created_at": CREATED,
    "metadata": {},
    "tool_resources": {},
}
MESSAGE: dict[str, Any] = {
    "id": "msg_abc123",
    "object": "thread.message",
    "created_at": CREATED,
    "assistant_id": None,
    "thread_id": "thread_abc123",
    "run_id": None,
    "role": "user",
    "content": [{"type": "text", "text": {"value": "Solve 3x + 11 = 14", "annotations": []}}],
    "attachments": [],
    "metadata": {},
}
RUN_USAGE = {"prompt_tokens": 123, "completion_tokens": 456, "total_tokens": 579}


def run_object(status: str, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """A thread.run object."""
    return {
        "id": "run_abc123",
        "object": "thread.run",
        "created_at": CREATED,
        "assistant_id": "asst_abc123",
        "thread_id": "thread_abc123",
        "status": status,
        "started_at": CREATED + 1 if status != "queued" else None,
        "expires_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": CREATED + 5 if status == "completed" else None,
        "last_error": None,
        "model": "gpt-4o-2024-08-06",
        "instructions": None,
        "tools": [{"type": "code_interpreter"}],
        "metadata": {},
        "incomplete_details": None,
        "usage": usage,
        "temperature": 1.0,
        "top_p": 1.0,
        "max_prompt_tokens": 1000,
        "max_completion_tokens": 1000,
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "response_format": "auto",
        "tool_choice": "auto",
        "parallel_tool_calls": True,
    }


def run_stream() -> Reply:
    """An Assistants run stream: `event:` lines, message deltas, usage in thread.run.completed."""
    message = {
        **MESSAGE,
        "id": "msg_def456",
        "role": "assistant",
        "run_id": "run_abc123",
        "content": [],
    }
    events: list[tuple[str | None, Any]] = [
        ("thread.run.created", run_object("queued")),
        ("thread.run.queued", run_object("queued")),
        ("thread.run.in_progress", run_object("in_progress")),
        (
            "thread.run.step.created",
            {
                "id": "step_001",
                "object": "thread.run.step",
                "run_id": "run_abc123",
                "type": "message_creation",
                "status": "in_progress",
            },
        ),
        ("thread.message.created", {**message, "status": "in_progress"}),
        ("thread.message.in_progress", {**message, "status": "in_progress"}),
    ]
    for piece in ("x", " = 1"):
        events.append(
            (
                "thread.message.delta",
                {
                    "id": "msg_def456",
                    "object": "thread.message.delta",
                    "delta": {
                        "content": [
                            {
                                "index": 0,
                                "type": "text",
                                "text": {"value": piece, "annotations": []},
                            }
                        ]
                    },
                },
            )
        )
    events += [
        ("thread.message.completed", {**message, "status": "completed"}),
        (
            "thread.run.step.completed",
            {
                "id": "step_001",
                "object": "thread.run.step",
                "run_id": "run_abc123",
                "type": "message_creation",
                "status": "completed",
                "usage": RUN_USAGE,
            },
        ),
        ("thread.run.completed", run_object("completed", RUN_USAGE)),
        ("done", "[DONE]"),
    ]
    return sse_reply(events)


RUN_STEPS: dict[str, Any] = {
    "object": "list",
    "data": [
        {
            "id": "step_abc123",
            "object": "thread.run.step",
            "created_at": CREATED,
            "run_id": "run_abc123",
            "assistant_id": "asst_abc123",
            "thread_id": "thread_abc123",
            "type": "message_creation",
            "status": "completed",
            "step_details": {
                "type": "message_creation",
                "message_creation": {"message_id": "msg_def456"},
            },
            "usage": RUN_USAGE,
        }
    ],
    "first_id": "step_abc123",
    "last_id": "step_abc123",
    "has_more": False,
}

VECTOR_STORE: dict[str, Any] = {
    "id": "vs_abc123",
    "object": "vector_store",
    "created_at": CREATED,
    "name": "Support FAQ",
    "usage_bytes": 0,
    "file_counts": {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0},
    "status": "completed",
    "expires_after": None,
    "expires_at": None,
    "last_active_at": CREATED,
    "metadata": {},
}
VECTOR_STORE_FILE: dict[str, Any] = {
    "id": "file-abc123",
    "object": "vector_store.file",
    "created_at": CREATED,
    "usage_bytes": 1234,
    "vector_store_id": "vs_abc123",
    "status": "in_progress",
    "last_error": None,
    "chunking_strategy": {
        "type": "static",
        "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
    },
}
VECTOR_STORE_FILE_BATCH: dict[str, Any] = {
    "id": "vsfb_abc123",
    "object": "vector_store.file_batch",
    "created_at": CREATED,
    "vector_store_id": "vs_abc123",
    "status": "in_progress",
    "file_counts": {"in_progress": 2, "completed": 0, "failed": 0, "cancelled": 0, "total": 2},
}
VECTOR_STORE_SEARCH: dict[str, Any] = {
    "object": "vector_store.search_results.page",
    "search_query": "What is the return policy?",
    "data": [
        {
            "file_id": "file-abc123",
            "filename": "faq.md",
            "score": 0.93,
            "attributes": {},
            "content": [{"type": "text", "text": "Returns within 30 days."}],
        }
    ],
    "has_more": False,
    "next_page": None,
}


# --- administration ----------------------------------------------------------

INVITE: dict[str, Any] = {
    "object": "organization.invite",
    "id": "invite-def",
    "email": "anotheruser@example.com",
    "role": "reader",
    "status": "pending",
    "invited_at": CREATED,
    "expires_at": CREATED + 86400,
    "accepted_at": None,
    "projects": [],
}
USERS: dict[str, Any] = {
    "object": "list",
    "data": [
        {
            "object": "organization.user",
            "id": "user_abc",
            "name": "First Last",
            "email": "user@example.com",
            "role": "owner",
            "added_at": CREATED,
        }
    ],
    "first_id": "user-abc",
    "last_id": "user-xyz",
    "has_more": False,
}
PROJECT: dict[str, Any] = {
    "id": "proj_abc",
    "object": "organization.project",
    "name": "Project ABC",
    "created_at": CREATED,
    "archived_at": None,
    "status": "active",
}
PROJECT_USER: dict[str, Any] = {
    "object": "organization.project.user",
    "id": "user_abc",
    "email": "user@example.com",
    "role": "owner",
    "added_at": CREATED,
}
SERVICE_ACCOUNT: dict[str, Any] = {
    "object": "organization.project.service_account",
    "id": "svc_acct_abc",
    "name": "Production App",
    "role": "member",
    "created_at": CREATED,
    "api_key": {
        "object": "organization.project.service_account.api_key",
        "value": "sk-svcacct-Qm9yVGVzdGluZ09ubHkAAAABBBBCCCCDDDDEEEEFFFF0123456789",
        "name": "Secret Key",
        "created_at": CREATED,
        "id": "key_abc",
    },
}
PROJECT_API_KEYS: dict[str, Any] = {
    "object": "list",
    "data": [
        {
            "object": "organization.project.api_key",
            "redacted_value": "sk-abc...def",
            "name": "My API Key",
            "created_at": CREATED,
            "last_used_at": CREATED,
            "id": "key_abc",
            "owner": {
                "type": "user",
                "user": {
                    "object": "organization.project.user",
                    "id": "user_abc",
                    "name": "First Last",
                    "email": "user@example.com",
                    "role": "owner",
                    "added_at": CREATED,
                },
            },
        }
    ],
    "first_id": "key_abc",
    "last_id": "key_xyz",
    "has_more": False,
}
RATE_LIMITS: dict[str, Any] = {
    "object": "list",
    "data": [
        {
            "object": "project.rate_limit",
            "id": "rl-ada",
            "model": "ada",
            "max_requests_per_1_minute": 600,
            "max_tokens_per_1_minute": 150000,
            "max_images_per_1_minute": 10,
        }
    ],
    "first_id": "rl-ada",
    "last_id": "rl-ada",
    "has_more": False,
}
AUDIT_LOGS: dict[str, Any] = {
    "object": "list",
    "data": [
        {
            "id": "audit_log-xxx_yyyymmdd",
            "type": "project.archived",
            "effective_at": CREATED,
            "actor": {
                "type": "api_key",
                "api_key": {
                    "type": "user",
                    "user": {"id": "user-xxx", "email": "user@example.com"},
                },
            },
            "project.archived": {"id": "proj_abc"},
        }
    ],
    "first_id": "audit_log-xxx__20240101",
    "last_id": "audit_log_yyy__20240101",
    "has_more": True,
}
USAGE_COMPLETIONS: dict[str, Any] = {
    "object": "page",
    "data": [
        {
            "object": "bucket",
            "start_time": CREATED,
            "end_time": CREATED + 86400,
            "results": [
                {
                    "object": "organization.usage.completions.result",
                    "input_tokens": 1000,
                    "output_tokens": 500,
                    "input_cached_tokens": 800,
                    "input_audio_tokens": 0,
                    "output_audio_tokens": 0,
                    "num_model_requests": 5,
                    "project_id": None,
                    "user_id": None,
                    "api_key_id": None,
                    "model": None,
                    "batch": None,
                }
            ],
        }
    ],
    "has_more": False,
    "next_page": None,
}
COSTS: dict[str, Any] = {
    "object": "page",
    "data": [
        {
            "object": "bucket",
            "start_time": CREATED,
            "end_time": CREATED + 86400,
            "results": [
                {
                    "object": "organization.costs.result",
                    "amount": {"value": 0.06, "currency": "usd"},
                    "line_item": None,
                    "project_id": None,
                }
            ],
        }
    ],
    "has_more": False,
    "next_page": None,
}


# --- Azure OpenAI ------------------------------------------------------------

_AZURE_FILTERS: dict[str, Any] = {
    name: {"filtered": False, "severity": "safe"}
    for name in ("hate", "self_harm", "sexual", "violence")
}


def azure_chat_stream() -> Reply:
    """An Azure chat stream: an empty first chunk with prompt_filter_results and model ""."""
    first = {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _AZURE_FILTERS}],
    }
    base = {
        "id": "chatcmpl-AzureABC123",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "gpt-4o-2024-11-20",
        "system_fingerprint": "fp_ee1d74bde0",
    }
    events: list[tuple[str | None, Any]] = [(None, first)]
    events.append(
        (
            None,
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                        "content_filter_results": {},
                    }
                ],
            },
        )
    )
    for word in ("Hello", " from", " Azure"):
        events.append(
            (
                None,
                {
                    **base,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"content": word},
                            "finish_reason": None,
                            "content_filter_results": _AZURE_FILTERS,
                        }
                    ],
                },
            )
        )
    events.append(
        (
            None,
            {
                **base,
                "choices": [
                    {"index": 0, "delta": {}, "finish_reason": "stop", "content_filter_results": {}}
                ],
            },
        )
    )
    usage = {
        "prompt_tokens": 11,
        "completion_tokens": 3,
        "total_tokens": 14,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }
    events.append((None, {**base, "choices": [], "usage": usage}))
    return sse_reply(events, done=True)


def compatible_chat(model: str) -> dict[str, Any]:
    """A chat completion as an OpenAI-compatible server answers it."""
    return chat_completion(
        [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
        model=model,
    )
