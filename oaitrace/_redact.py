"""Secrets out of headers, URLs and bodies before anything is stored.

Everything here runs on the writer thread for every record, so the common
case (no secret present) is kept to a few substring checks.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from typing import Final
from urllib.parse import unquote_plus

from ._exchange import RawHeaders, header_pairs

__all__ = [
    "REDACTED",
    "api_key_fingerprint",
    "redact_headers",
    "redact_message",
    "redact_text",
    "redact_url",
    "streamed_secret",
]

REDACTED: Final = "[redacted]"

_SENSITIVE_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "openai-api-key",
        "x-goog-api-key",
        "ocp-apim-subscription-key",
        "cookie",
        "set-cookie",
    }
)

_SENSITIVE_QUERY_PARAMS: Final = frozenset(
    {
        "api-key",
        "api_key",
        "apikey",
        "key",
        "token",
        "access_token",
        "id_token",
        "refresh_token",
        "client_secret",
        "secret",
        "password",
        "sig",
        "signature",
        "x-api-key",
    }
)

# Key-shaped strings: OpenAI secret keys (sk-, sk-proj-, sk-admin-,
# sk-svcacct-), browser session keys (sess-), Realtime ephemeral keys (ek_)
# and bearer tokens. The look-behind keeps "task-..." or "disk-..." words whole.
_SECRET_PATTERN: Final = re.compile(
    r"(?<![A-Za-z0-9_-])(?:sk-[A-Za-z0-9_-]{20,}|sess-[A-Za-z0-9]{20,}|ek_[A-Za-z0-9_-]{20,})"
    # A token may contain dots (JWTs) but a sentence's full stop is not part of it.
    r"|(?i:\bbearer\s+)[A-Za-z0-9._~+/=-]{7,}[A-Za-z0-9_~+/=-]"
)
# redact_text skips the regex when none of "sk-", "sess-", "ek_", "earer" or
# "EARER" occurs: the last two cover Bearer, bearer and BEARER without
# lower-casing the text.

_KEY_PREFIXES: Final = ("sk-proj-", "sk-admin-", "sk-svcacct-", "sk-", "sess-", "ek_")
# Below this length the last four characters are too large a share of the key.
_MIN_KEY_LENGTH_FOR_SUFFIX: Final = 16


def redact_headers(raw: RawHeaders) -> dict[str, str]:
    """Headers as a dict with lower-case names, secret values replaced.

    Repeated headers are joined with ", " as HTTP allows; `set-cookie` is
    redacted anyway, so its joining quirks do not matter.
    """
    lower_names = _LOWER_NAMES
    try:
        # The usual case, every name seen before and none repeated, in one comprehension.
        headers = {
            lower_names[raw_name]: raw_value.decode("latin-1")
            for raw_name, raw_value in header_pairs(raw)
        }
    except KeyError:
        headers = _joined_headers(raw)
    else:
        if len(headers) * 2 != len(raw):
            headers = _joined_headers(raw)
    for name in _SENSITIVE_HEADERS.intersection(headers):
        headers[name] = REDACTED
    return headers


def _joined_headers(raw: RawHeaders) -> dict[str, str]:
    """Headers with lower-case names, repeated ones joined; learns names it has not seen."""
    headers: dict[str, str] = {}
    known_name = _LOWER_NAMES.get
    for raw_name, raw_value in header_pairs(raw):
        name = known_name(raw_name) or _lower_name(raw_name)
        value = raw_value.decode("latin-1")
        previous = headers.get(name)
        headers[name] = value if previous is None else f"{previous}, {value}"
    return headers


# Header names repeat on every request: decode and lower-case each once. The
# bound keeps a client that invents names per request from growing it forever.
_LOWER_NAMES: Final[dict[bytes, str]] = {}
_LOWER_NAMES_MAX: Final = 4096


def _lower_name(raw_name: bytes) -> str:
    name = raw_name.decode("latin-1").lower()
    if len(_LOWER_NAMES) < _LOWER_NAMES_MAX:
        _LOWER_NAMES[raw_name] = name
    return name


def _raw_api_key(raw: RawHeaders) -> str | None:
    for raw_name, raw_value in header_pairs(raw):
        name = raw_name.lower()
        if name == b"authorization":
            scheme, _, credentials = raw_value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
        elif name in (b"api-key", b"x-api-key"):
            key = raw_value.decode("latin-1").strip()
            if key:
                return key
    return None


def api_key_fingerprint(raw: RawHeaders) -> str | None:
    """A short, stable label of the API key used, e.g. ``sk-proj-...AbCd#1a2b3c4d``.

    It keeps the key's public prefix, at most its last four characters (none
    for short keys) and 32 bits of its SHA-256: enough to tell keys apart in
    reports, far too little to rebuild one.
    """
    key = _raw_api_key(raw)
    return None if key is None else _fingerprint(key)


# One process uses a handful of keys; hashing each once keeps SHA-256 off the hot path.
@lru_cache(maxsize=64)
def _fingerprint(key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    prefix = next((p for p in _KEY_PREFIXES if key.startswith(p)), "")
    if len(key) < _MIN_KEY_LENGTH_FOR_SUFFIX:
        return f"{prefix}...#{digest}"
    return f"{prefix}...{key[-4:]}#{digest}"


def _redact_query(query: str) -> str:
    parts = query.split("&")
    for index, part in enumerate(parts):
        name = part.partition("=")[0]
        # Names are compared decoded so that "api%2Dkey" cannot slip through.
        if _unquote(name).lower() in _SENSITIVE_QUERY_PARAMS:
            parts[index] = f"{name}={REDACTED}"
    return "&".join(parts)


def _unquote(text: str) -> str:
    if "%" not in text and "+" not in text:
        return text
    return unquote_plus(text)


def redact_url(url: str) -> str:
    """The URL without user info and with secret query parameters replaced."""
    if "?" not in url and "@" not in url:
        return url
    base, question_mark, rest = url.partition("?")
    query, hash_sign, fragment = rest.partition("#")
    scheme, separator, after_scheme = base.partition("://")
    if separator:
        authority, slash, path = after_scheme.partition("/")
        if "@" in authority:
            authority = authority.rpartition("@")[2]
        base = f"{scheme}://{authority}{slash}{path}"
    if question_mark:
        return f"{base}?{_redact_query(query)}{hash_sign}{fragment}"
    return base


_decode_json_string: Final = json.JSONDecoder().decode

# The text-carrying string values of stream events: chat and completions
# deltas, Responses and transcription deltas, tool-call arguments.
_STREAMED_TEXT: Final = re.compile(
    r'"(?:content|delta|text|arguments|refusal|transcript)"\s*:\s*"((?:[^"\\]|\\.)*)"'
)


def streamed_secret(event_stream: str) -> bool:
    """True when the text a stream's deltas spell out, put together, holds a key.

    A key echoed by a model arrives split over many events ("sk", "-pro",
    "j-..."), so redacting event by event cannot see it.
    """
    # findall builds the pieces in C; a Python loop over match objects cost
    # twice as much, and only pieces with escapes need JSON's decoding.
    pieces: list[str] = _STREAMED_TEXT.findall(event_stream)
    if "\\" in event_stream:
        pieces = [_unescaped(piece) if "\\" in piece else piece for piece in pieces]
    text = "".join(pieces)
    return _has_secret_marker(text) and _SECRET_PATTERN.search(text) is not None


def _unescaped(piece: str) -> str:
    try:
        return str(_decode_json_string(f'"{piece}"'))
    except ValueError:
        return piece


def redact_text(text: str) -> str:
    """The text with API keys, session keys and bearer tokens replaced.

    Applied to whole bodies, so the regex runs only when a marker occurs.
    """
    if not _has_secret_marker(text):
        return text
    return _SECRET_PATTERN.sub(_replace_secret, text)


def _has_secret_marker(text: str) -> bool:
    """Whether `_SECRET_PATTERN` could match: a few substring checks, far cheaper than the regex."""
    # Spelled out rather than any(...) over a tuple: this runs on every body.
    return "sk-" in text or "sess-" in text or "ek_" in text or "earer" in text or "EARER" in text


# In free text (error messages): `api-key=...`-style pairs, as a URL's query
# or a header echoed in a message, and the user info of URLs.
_TEXT_CREDENTIAL_PATTERN: Final = re.compile(
    r"(?i)(?<![A-Za-z0-9_-])((?:"
    + "|".join(re.escape(name) for name in sorted(_SENSITIVE_QUERY_PARAMS, key=len, reverse=True))
    + r")['\"]?\s*(?:=|%3D|:)\s*['\"]?)[^\s&#'\",;)]+"
    r"|(?<=://)[^\s/@]+@"
)


def redact_message(text: str) -> str:
    """An error message without keys, tokens or URL credentials.

    Exceptions raised below the SDK can quote the URL they failed on, with
    `?api-key=...` (Azure keys have no `sk-` prefix) or `user:password@`.
    Messages are short and rare, so the extra pattern costs nothing.
    """
    return _TEXT_CREDENTIAL_PATTERN.sub(_replace_credential, redact_text(text))


def _replace_credential(match: re.Match[str]) -> str:
    name = match.group(1)
    return "" if name is None else f"{name}{REDACTED}"


def _replace_secret(match: re.Match[str]) -> str:
    found = match.group(0)
    if found[:1] in "bB":
        return f"{found.split(None, 1)[0]} {REDACTED}"
    return REDACTED
