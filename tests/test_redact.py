"""Secrets never leave `oaitrace._redact` in headers, URLs or text."""

from __future__ import annotations

import pytest

from oaitrace._exchange import flat_headers
from oaitrace._redact import (
    REDACTED,
    api_key_fingerprint,
    redact_headers,
    redact_text,
    redact_url,
    streamed_secret,
)

KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789wxyz"


def redacted(pairs: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return redact_headers(flat_headers(pairs))


def fingerprint_of(pairs: list[tuple[bytes, bytes]]) -> str | None:
    return api_key_fingerprint(flat_headers(pairs))


class TestRedactHeaders:
    @pytest.mark.parametrize(
        "name",
        [
            b"Authorization",
            b"api-key",
            b"OpenAI-Api-Key",
            b"cookie",
            b"Set-Cookie",
            b"proxy-authorization",
            b"x-api-key",
        ],
    )
    def test_secret_header_values_are_replaced(self, name: bytes) -> None:
        """Every credential-carrying header keeps its name and loses its value."""
        assert {name.decode().lower(): REDACTED} == redacted([(name, b"secret-value")])

    def test_names_are_lower_cased_and_repeats_joined(self) -> None:
        """Repeated headers join with a comma, names come out lower case."""
        raw = [(b"X-Thing", b"a"), (b"x-thing", b"b"), (b"Content-Type", b"application/json")]
        assert redacted(raw) == {"x-thing": "a, b", "content-type": "application/json"}

    def test_known_names_give_the_same_result(self) -> None:
        """Once every name was seen (the fast path), repeats still join and secrets still go."""
        raw = [
            (b"X-Seen-Twice", b"a"),
            (b"x-seen-twice", b"b"),
            (b"Authorization", b"Bearer sk-secret"),
        ]
        expected = {"x-seen-twice": "a, b", "authorization": REDACTED}
        assert [expected, expected] == [redacted(raw), redacted(raw)]
        unique = [(b"X-Seen-Twice", b"c"), (b"Authorization", b"Bearer sk-secret")]
        assert {"x-seen-twice": "c", "authorization": REDACTED} == redacted(unique)

    def test_values_decode_as_latin1(self) -> None:
        """Header bytes outside ASCII decode as latin-1, as HTTP defines."""
        assert redacted([(b"x-name", b"caf\xe9")]) == {"x-name": "caf\u00e9"}


class TestApiKeyFingerprint:
    def test_bearer_key_keeps_prefix_last_four_and_hash(self) -> None:
        """The fingerprint shows the key kind and last four characters, never the body."""
        fingerprint = fingerprint_of([(b"authorization", f"Bearer {KEY}".encode())])
        assert fingerprint is not None
        assert fingerprint.startswith("sk-proj-...wxyz#")
        assert len(fingerprint.rpartition("#")[2]) == 8
        assert KEY[8:-4] not in fingerprint

    def test_same_key_same_fingerprint_other_key_other(self) -> None:
        """Fingerprints are stable per key and differ between keys."""
        first = fingerprint_of([(b"Authorization", f"Bearer {KEY}".encode())])
        again = fingerprint_of([(b"authorization", f"bearer {KEY}".encode())])
        other = fingerprint_of([(b"authorization", f"Bearer {KEY}x".encode())])
        assert first == again
        assert first != other

    def test_azure_api_key_header(self) -> None:
        """Azure's `api-key` header is fingerprinted without a prefix."""
        fingerprint = fingerprint_of([(b"api-key", b"0123456789abcdef0123456789abcdef")])
        assert fingerprint is not None
        assert fingerprint.startswith("...cdef#")

    def test_short_key_shows_no_characters(self) -> None:
        """A short key shows none of its characters, only the hash."""
        fingerprint = fingerprint_of([(b"authorization", b"Bearer abc123")])
        assert fingerprint is not None
        assert fingerprint.startswith("...#")

    def test_no_key_gives_none(self) -> None:
        """Without credentials, or with a non-bearer scheme, there is no fingerprint."""
        assert None is fingerprint_of([(b"content-type", b"application/json")])
        assert None is fingerprint_of([(b"authorization", b"Basic dXNlcjpwYXNz")])


class TestRedactUrl:
    def test_plain_url_is_unchanged(self) -> None:
        """A URL without query or user info comes back as it was."""
        url = "https://api.openai.com/v1/chat/completions"
        assert url == redact_url(url)

    def test_secret_query_parameters_are_replaced(self) -> None:
        """Key-like query parameters lose their values; others stay untouched."""
        url = "https://x.example/v1/files?api-key=abc&limit=2&Token=t&sig=s&access_token=a"
        expected = (
            "https://x.example/v1/files?api-key=[redacted]&limit=2&Token=[redacted]"
            "&sig=[redacted]&access_token=[redacted]"
        )
        assert expected == redact_url(url)

    def test_azure_api_version_is_kept(self) -> None:
        """Azure's api-version is not a secret."""
        url = "https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"
        assert url == redact_url(url)

    def test_user_info_is_removed(self) -> None:
        """Credentials in the authority part are dropped."""
        assert (
            redact_url("https://user:pass@proxy.example:8080/v1/models")
            == "https://proxy.example:8080/v1/models"
        )

    def test_percent_encoded_name_is_caught(self) -> None:
        """An encoded parameter name is compared decoded."""
        assert (
            redact_url("https://x.example/?api%2Dkey=abc")
            == "https://x.example/?api%2Dkey=[redacted]"
        )


class TestRedactText:
    @pytest.mark.parametrize(
        "secret",
        [
            KEY,
            "sk-AbCdEfGhIjKlMnOpQrStUvWxYz012345",
            "sk-admin-AbCdEfGhIjKlMnOpQrStUvWxYz012345",
            "sess-AbCdEfGhIjKlMnOpQrStUvWxYz012345",
            "ek_68c9dde6b288819096a5f7d5f57f33d8",
        ],
    )
    def test_key_shaped_strings_are_replaced(self, secret: str) -> None:
        """OpenAI secret, admin, session and ephemeral keys are removed from text."""
        assert f'{{"key": "{REDACTED}"}}' == redact_text(f'{{"key": "{secret}"}}')

    def test_bearer_token_keeps_the_scheme(self) -> None:
        """A bearer token is replaced while the word Bearer stays readable."""
        assert f"Authorization: Bearer {REDACTED}." == redact_text(
            "Authorization: Bearer abcdefghijklmnop."
        )

    def test_short_and_embedded_lookalikes_stay(self) -> None:
        """Words that merely contain sk- or short sk- strings are not secrets."""
        text = "task-AbCdEfGhIjKlMnOpQrStUvWxYz012345 and sk-short"
        assert text == redact_text(text)

    def test_text_without_markers_is_returned_as_is(self) -> None:
        """Text with no marker is the very same object: the regex never ran."""
        text = '{"choices": [{"message": {"content": "hello"}}]}'
        assert text is redact_text(text)


class TestStreamedSecret:
    KEY = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8t"

    @staticmethod
    def stream(*deltas: str) -> str:
        """An event stream whose deltas carry the given JSON string bodies (escapes as written)."""
        return "".join(
            f'data: {{"choices":[{{"index":0,"delta":{{"content":"{delta}"}}}}]}}\n\n'
            for delta in deltas
        )

    def test_key_spelled_over_deltas(self) -> None:
        """Four characters per delta still make the key."""
        pieces = [self.KEY[i : i + 4] for i in range(0, len(self.KEY), 4)]
        assert streamed_secret(self.stream(*pieces))

    def test_key_with_escaped_characters(self) -> None:
        """A JSON escape (\\u002d for "-") inside a delta is decoded before looking."""
        escaped = self.KEY.replace("-", "\\u002d")
        pieces = [escaped[:9], escaped[9:20], escaped[20:]]
        assert streamed_secret(self.stream(*pieces))

    def test_ordinary_text(self) -> None:
        """Text that only talks about keys, with escapes and quotes, is not a secret."""
        assert not streamed_secret(self.stream(r"the \"sk\" prefix", " names a key-", r"\n"))
