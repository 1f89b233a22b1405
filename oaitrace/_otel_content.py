"""Message content in the GenAI semantic conventions' shape, from stored (redacted) bodies.

Only used when the user opted in to content capture. Input messages look
like ``[{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]``,
output messages add ``finish_reason``, system instructions are a list of
parts. Chat completions and the Responses API are understood, streamed or
not; for a streamed chat the text is put together from the deltas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

from . import _otel_names as names

__all__ = ["message_content"]

_Part = dict[str, Any]
_Message = dict[str, Any]

_COMPACT: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def message_content(
    endpoint: str,
    request_body: str | None,
    response_body: str | None,
    finish_reasons: tuple[str, ...] | None,
) -> dict[str, str]:
    """The `gen_ai.input.messages` / `output.messages` / `system_instructions` JSON strings.

    Empty when the endpoint is neither chat completions nor Responses or the
    bodies were not captured. Never raises on odd bodies.
    """
    request = _json_object(request_body)
    if endpoint.endswith("/chat/completions"):
        inputs, system = _chat_input(request), None
        outputs = _chat_output(response_body, finish_reasons)
    elif endpoint.endswith("/responses"):
        inputs, system = _responses_input(request)
        outputs = _responses_output(response_body, finish_reasons)
    else:
        return {}
    content: dict[str, str] = {}
    if inputs:
        content[names.GEN_AI_INPUT_MESSAGES] = _COMPACT.encode(inputs)
    if outputs:
        content[names.GEN_AI_OUTPUT_MESSAGES] = _COMPACT.encode(outputs)
    if system:
        content[names.GEN_AI_SYSTEM_INSTRUCTIONS] = _COMPACT.encode(system)
    return content


def _json_object(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if type(value) is dict else None


def _text_part(text: str) -> _Part:
    return {"type": "text", "content": text}


def _content_parts(content: Any) -> list[_Part]:
    """Parts of a chat message `content` or a Responses message `content`."""
    if type(content) is str:
        return [_text_part(content)] if content else []
    if type(content) is not list:
        return []
    parts: list[_Part] = []
    for item in content:
        if type(item) is not dict:
            continue
        kind = item.get("type")
        if kind in ("text", "input_text", "output_text") and type(item.get("text")) is str:
            parts.append(_text_part(item["text"]))
        elif kind == "refusal" and type(item.get("refusal")) is str:
            parts.append(_text_part(item["refusal"]))
        elif kind in ("image_url", "input_image"):
            url = item.get("image_url")
            url = url.get("url") if type(url) is dict else url
            parts.append({"type": "uri", "modality": "image", "uri": url})
        elif type(kind) is str:
            # Audio, files ...: the kind is said, the payload is not copied.
            parts.append({"type": kind})
    return parts


# --- chat completions ---------------------------------------------------------


def _chat_input(request: dict[str, Any] | None) -> list[_Message]:
    messages = request.get("messages") if request else None
    if type(messages) is not list:
        return []
    result: list[_Message] = []
    for message in messages:
        if type(message) is not dict:
            continue
        role = message.get("role")
        if role == "tool":
            parts: list[_Part] = [
                {
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": message.get("content"),
                }
            ]
        else:
            parts = _content_parts(message.get("content")) + _tool_calls(message)
        result.append({"role": role, "parts": parts})
    return result


def _tool_calls(message: dict[str, Any]) -> list[_Part]:
    calls = message.get("tool_calls")
    if type(calls) is not list:
        return []
    parts: list[_Part] = []
    for call in calls:
        function = call.get("function") if type(call) is dict else None
        if type(function) is dict:
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments"),
                }
            )
    return parts


def _chat_output(body: str | None, finish_reasons: tuple[str, ...] | None) -> list[_Message]:
    response = _json_object(body)
    if response is not None:
        choices = response.get("choices")
        if type(choices) is not list:
            return []
        return [
            {
                "role": "assistant",
                "parts": _content_parts(message.get("content")) + _tool_calls(message),
                "finish_reason": choice.get("finish_reason"),
            }
            for choice in choices
            if type(choice) is dict and type(message := choice.get("message")) is dict
        ]
    return _chat_stream_output(body, finish_reasons)


def _sse_payloads(body: str | None) -> Iterator[dict[str, Any]]:
    for line in (body or "").splitlines():
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            payload = _json_object(line[5:].strip())
            if payload is not None:
                yield payload


def _chat_stream_output(body: str | None, finish_reasons: tuple[str, ...] | None) -> list[_Message]:
    """The assistant text of a streamed chat, joined from its deltas, per choice."""
    texts: dict[int, list[str]] = {}
    reasons: dict[int, Any] = {}
    for payload in _sse_payloads(body):
        choices = payload.get("choices")
        for choice in choices if type(choices) is list else ():
            if type(choice) is not dict:
                continue
            index = choice.get("index")
            if type(index) is not int:
                index = 0
            delta = choice.get("delta")
            text = delta.get("content") if type(delta) is dict else None
            pieces = texts.setdefault(index, [])
            if type(text) is str:
                pieces.append(text)
            if choice.get("finish_reason") is not None:
                reasons[index] = choice["finish_reason"]
    return [
        {
            "role": "assistant",
            "parts": [_text_part("".join(texts[index]))] if texts[index] else [],
            "finish_reason": reasons.get(index),
        }
        for index in sorted(texts)
    ]


# --- Responses API ------------------------------------------------------------


def _responses_input(
    request: dict[str, Any] | None,
) -> tuple[list[_Message], list[_Part] | None]:
    if request is None:
        return [], None
    instructions = request.get("instructions")
    system = [_text_part(instructions)] if type(instructions) is str and instructions else None
    items = request.get("input")
    if type(items) is str:
        return [{"role": "user", "parts": [_text_part(items)]}], system
    messages: list[_Message] = []
    for item in items if type(items) is list else ():
        if type(item) is not dict:
            continue
        kind = item.get("type")
        if kind == "function_call_output":
            part = {"type": "tool_call_response", "id": item.get("call_id")}
            messages.append({"role": "tool", "parts": [{**part, "response": item.get("output")}]})
        elif kind == "function_call":
            messages.append({"role": "assistant", "parts": [_function_call(item)]})
        elif "role" in item:
            messages.append({"role": item["role"], "parts": _content_parts(item.get("content"))})
    return messages, system


def _function_call(item: dict[str, Any]) -> _Part:
    return {
        "type": "tool_call",
        "id": item.get("call_id"),
        "name": item.get("name"),
        "arguments": item.get("arguments"),
    }


def _responses_output(body: str | None, finish_reasons: tuple[str, ...] | None) -> list[_Message]:
    response = _json_object(body)
    if response is None:
        # A stream: the final `response.completed` (or failed, incomplete)
        # event carries the whole Response object.
        for payload in _sse_payloads(body):
            final = payload.get("response")
            if type(final) is dict and type(final.get("output")) is list:
                response = final
    output = response.get("output") if response else None
    if type(output) is not list:
        return []
    parts: list[_Part] = []
    for item in output:
        if type(item) is not dict:
            continue
        if item.get("type") == "message":
            parts += _content_parts(item.get("content"))
        elif item.get("type") == "function_call":
            parts.append(_function_call(item))
    finish_reason = finish_reasons[0] if finish_reasons else None
    return [{"role": "assistant", "parts": parts, "finish_reason": finish_reason}]
