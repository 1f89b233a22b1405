"""Every OpenTelemetry name oaitrace emits: span attributes, metrics, the schema URL.

The `gen_ai.*`, `openai.api.type`, `openai.request.service_tier`,
`openai.response.*`, `server.*`, `http.*` and `error.type` names are the
OpenTelemetry semantic conventions (GenAI and OpenAI client spans and
metrics) as of `SCHEMA_URL`. The other `openai.*` names carry OpenAI's
response headers; they are oaitrace's own, chosen so that they do not
collide with any semantic-convention name. `oaitrace.*` names are oaitrace's.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DURATION_BUCKETS",
    "ERROR_TYPE",
    "ERROR_TYPE_OTHER",
    "GEN_AI_INPUT_MESSAGES",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_OUTPUT_MESSAGES",
    "GEN_AI_OUTPUT_TYPE",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_CHOICE_COUNT",
    "GEN_AI_REQUEST_FREQUENCY_PENALTY",
    "GEN_AI_REQUEST_MAX_TOKENS",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_REQUEST_PRESENCE_PENALTY",
    "GEN_AI_REQUEST_SEED",
    "GEN_AI_REQUEST_STOP_SEQUENCES",
    "GEN_AI_REQUEST_STREAM",
    "GEN_AI_REQUEST_TEMPERATURE",
    "GEN_AI_REQUEST_TOP_P",
    "GEN_AI_RESPONSE_FINISH_REASONS",
    "GEN_AI_RESPONSE_ID",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK",
    "GEN_AI_SYSTEM_INSTRUCTIONS",
    "GEN_AI_TOKEN_TYPE",
    "GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS",
    "GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "GEN_AI_USAGE_REASONING_OUTPUT_TOKENS",
    "HTTP_REQUEST_METHOD",
    "HTTP_RESPONSE_STATUS_CODE",
    "INSTRUMENTATION_NAME",
    "METRIC_OPERATION_DURATION",
    "METRIC_RATELIMIT_REMAINING_REQUESTS",
    "METRIC_RATELIMIT_REMAINING_TOKENS",
    "METRIC_RECORDS_DROPPED",
    "METRIC_TIME_PER_OUTPUT_CHUNK",
    "METRIC_TIME_TO_FIRST_CHUNK",
    "METRIC_TOKEN_USAGE",
    "OAITRACE_COST_USD",
    "OAITRACE_DROP_REASON",
    "OAITRACE_RECORD_ID",
    "OPENAI_API_TYPE",
    "OPENAI_API_VERSION",
    "OPENAI_ORGANIZATION",
    "OPENAI_PROJECT",
    "OPENAI_RATELIMIT_LIMIT_REQUESTS",
    "OPENAI_RATELIMIT_LIMIT_TOKENS",
    "OPENAI_RATELIMIT_REMAINING_REQUESTS",
    "OPENAI_RATELIMIT_REMAINING_TOKENS",
    "OPENAI_RATELIMIT_RESET_REQUESTS_S",
    "OPENAI_RATELIMIT_RESET_TOKENS_S",
    "OPENAI_REQUEST_ID",
    "OPENAI_REQUEST_RETRY_ATTEMPT",
    "OPENAI_REQUEST_SERVICE_TIER",
    "OPENAI_RESPONSE_PROCESSING_MS",
    "OPENAI_RESPONSE_SERVICE_TIER",
    "OPENAI_RESPONSE_SYSTEM_FINGERPRINT",
    "SCHEMA_URL",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "TOKEN_BUCKETS",
]

# The newest schema the opentelemetry-semantic-conventions package of the
# test environment knows (1.44.0); every `gen_ai.*` name below is in it.
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.44.0"
INSTRUMENTATION_NAME: Final = "oaitrace"

# --- GenAI semantic conventions --------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"  # noqa: S105 - a name, not a secret
# Message content: opt-in only.
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"

# --- OpenAI semantic conventions ---------------------------------------------
OPENAI_API_TYPE: Final = "openai.api.type"
OPENAI_REQUEST_SERVICE_TIER: Final = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "openai.response.system_fingerprint"

# --- general semantic conventions ------------------------------------------
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
ERROR_TYPE: Final = "error.type"
# The semantic conventions' value when no better error type is known.
ERROR_TYPE_OTHER: Final = "_OTHER"

# --- OpenAI's headers (oaitrace's own names) --------------------------------
OPENAI_REQUEST_ID: Final = "openai.request.id"  # x-request-id
OPENAI_RESPONSE_PROCESSING_MS: Final = "openai.response.processing_ms"
OPENAI_API_VERSION: Final = "openai.api.version"  # openai-version
OPENAI_ORGANIZATION: Final = "openai.organization"
OPENAI_PROJECT: Final = "openai.project"
OPENAI_RATELIMIT_LIMIT_REQUESTS: Final = "openai.ratelimit.limit_requests"
OPENAI_RATELIMIT_REMAINING_REQUESTS: Final = "openai.ratelimit.remaining_requests"
OPENAI_RATELIMIT_RESET_REQUESTS_S: Final = "openai.ratelimit.reset_requests_s"
OPENAI_RATELIMIT_LIMIT_TOKENS: Final = "openai.ratelimit.limit_tokens"
OPENAI_RATELIMIT_REMAINING_TOKENS: Final = "openai.ratelimit.remaining_tokens"
OPENAI_RATELIMIT_RESET_TOKENS_S: Final = "openai.ratelimit.reset_tokens_s"
OPENAI_REQUEST_RETRY_ATTEMPT: Final = "openai.request.retry_attempt"  # x-stainless-retry-count

# --- oaitrace's own -----------------------------------------------------------
OAITRACE_COST_USD: Final = "oaitrace.cost_usd"
OAITRACE_RECORD_ID: Final = "oaitrace.record_id"
OAITRACE_DROP_REASON: Final = "oaitrace.drop.reason"

# --- metrics ------------------------------------------------------------------
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"  # noqa: S105 - a name, not a secret
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
METRIC_TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"
METRIC_RATELIMIT_REMAINING_REQUESTS: Final = "openai.ratelimit.remaining_requests"
METRIC_RATELIMIT_REMAINING_TOKENS: Final = "openai.ratelimit.remaining_tokens"
METRIC_RECORDS_DROPPED: Final = "oaitrace.records.dropped"

# The semantic conventions' advisory bucket boundaries.
TOKEN_BUCKETS: Final = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)
DURATION_BUCKETS: Final = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)

# gen_ai.provider.name values.
