"""Every usage shape maps onto one `Usage`, absent values staying None."""

from __future__ import annotations

from oaitrace._exchange import Usage
from oaitrace._usage import usage_from_json


def test_chat_usage() -> None:
    """Chat usage maps prompt/completion tokens and keeps the other details."""
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 2, "audio_tokens": 1},
        "completion_tokens_details": {"reasoning_tokens": 3, "accepted_prediction_tokens": 0},
    }
    assert Usage(
        input_tokens=10,
        output_tokens=5,
        total_tokens=15,
        cached_input_tokens=2,
        reasoning_tokens=3,
        details={
            "prompt_tokens_details.audio_tokens": 1,
            "completion_tokens_details.accepted_prediction_tokens": 0,
        },
    ) == usage_from_json(usage)


def test_responses_usage() -> None:
    """Responses usage maps input/output tokens and their details."""
    usage = {
        "input_tokens": 8,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 4,
        "output_tokens_details": {"reasoning_tokens": 1},
        "total_tokens": 12,
    }
    assert Usage(8, 4, 12, 0, 1, {}) == usage_from_json(usage)


def test_embeddings_usage() -> None:
    """Embeddings usage has no output tokens: None, not 0."""
    assert Usage(input_tokens=3, total_tokens=3) == usage_from_json(
        {"prompt_tokens": 3, "total_tokens": 3}
    )


def test_duration_usage() -> None:
    """Whisper's duration usage keeps seconds and drops the type string."""
    assert Usage(details={"seconds": 4.5}) == usage_from_json({"type": "duration", "seconds": 4.5})


def test_compatible_server_extras() -> None:
    """Booleans and nulls are not counts; a float cost is kept as a detail."""
    usage = {
        "prompt_tokens": 57,
        "completion_tokens": 17,
        "total_tokens": 74,
        "cost": 7.159e-05,
        "is_byok": False,
        "cost_details": {"upstream_inference_cost": None},
    }
    assert Usage(57, 17, 74, None, None, {"cost": 7.159e-05}) == usage_from_json(usage)


def test_non_numeric_named_value_is_none() -> None:
    """A named field that is not a whole number is None rather than invented."""
    assert Usage(input_tokens=None) == usage_from_json({"prompt_tokens": "12"})
