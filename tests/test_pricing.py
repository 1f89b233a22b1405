"""Costs from oaitrace.pricing, checked against genai-prices' own calculation."""

from __future__ import annotations

import datetime
import json
import random
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import genai_prices
import openai
import pytest
from genai_prices import Usage, data_snapshot
from genai_prices.data import providers

import oaitrace
from oaitrace._demo_server import DemoServer
from oaitrace._parse import parse
from oaitrace.exceptions import ConfigurationError
from oaitrace.pricing import (
    PRICE_FILE_ENV,
    Cost,
    CostReason,
    Pricer,
    load_price_file,
    price_batch_output,
)
from oaitrace.query import Query
from tests.corpus import build_exchange
from tests.factories import make_record

UTC = datetime.timezone.utc
# After every price variant in genai-prices 0.2.3 took effect (flex/priority
# 2026-10-12, batch 2026-10-14).
NOW = datetime.datetime(2026, 11, 1, 12, tzinfo=UTC)
CENT = Decimal("0.01")
SNAPSHOT = data_snapshot.DataSnapshot(providers=providers, from_auto_update=False)
SOURCE = f"genai-prices {genai_prices.__version__}"


def expected_price(
    model: str,
    at: datetime.datetime = NOW,
    context: dict[str, str] | None = None,
    provider: str = "openai",
    **usage: int | float,
) -> Decimal:
    """What genai-prices itself charges, to 12 decimal places."""
    return price_of(model, usage, at=at, context=context, provider=provider)


def price_of(
    model: str,
    usage: Mapping[str, int | float],
    *,
    at: datetime.datetime = NOW,
    context: dict[str, str] | None = None,
    provider: str = "openai",
) -> Decimal:
    """`expected_price` with the usage as a mapping."""
    calculation = genai_prices.calc_price(
        Usage(**usage),
        model,
        provider_id=provider,
        genai_request_timestamp=at,
        price_context=context,
    )
    return calculation.total_price.quantize(Decimal("1e-12"))


def chat_record(**fields: Any) -> Any:
    defaults: dict[str, Any] = {
        "started_at": NOW,
        "request_model": "gpt-4o-mini",
        "response_model": "gpt-4o-mini-2024-07-18",
        "input_tokens": 1200,
        "output_tokens": 300,
        "cached_input_tokens": 1000,
        "reasoning_tokens": 0,
        "usage_details": {},
        "cost_usd": None,
    }
    return make_record(**{**defaults, **fields})


@pytest.fixture
def pricer() -> Pricer:
    return Pricer()


class TestAgainstGenaiPrices:
    def test_chat_with_cached_input(self, pricer: Pricer) -> None:
        """Cached input tokens are charged at the cache-read rate, the rest at input rates."""
        expected = Cost(
            usd=expected_price(
                "gpt-4o-mini-2024-07-18",
                input_tokens=1200,
                cache_read_tokens=1000,
                output_tokens=300,
            ),
            source=SOURCE,
            model="gpt-4o-mini",
            provider="openai",
        )

        assert expected == pricer.price(chat_record())

    def test_reasoning_tokens(self, pricer: Pricer) -> None:
        """Reasoning tokens are part of output and priced as genai-prices prices them."""
        record = chat_record(
            request_model="o4-mini", response_model="o4-mini-2025-04-16", reasoning_tokens=200
        )

        expected = expected_price(
            "o4-mini-2025-04-16",
            input_tokens=1200,
            cache_read_tokens=1000,
            output_tokens=300,
            output_reasoning_tokens=200,
        )

        assert expected == pricer.price(record).usd

    @pytest.mark.parametrize("tier", ["flex", "priority", "default"])
    def test_service_tier(self, pricer: Pricer, tier: str) -> None:
        """The tier that served the request selects the price variant."""
        record = chat_record(
            request_model="gpt-5", response_model="gpt-5-2025-08-07", service_tier=tier
        )

        expected = expected_price(
            "gpt-5-2025-08-07",
            context={"service_tier": tier},
            input_tokens=1200,
            cache_read_tokens=1000,
            output_tokens=300,
        )

        assert expected == pricer.price(record).usd

    def test_flex_is_cheaper_than_priority(self, pricer: Pricer) -> None:
        """A sanity check on the data: flex < default < priority for gpt-5."""
        costs = [
            pricer.price(
                chat_record(request_model="gpt-5", response_model=None, service_tier=tier)
            ).usd
            for tier in ("flex", "default", "priority")
        ]

        known = [cost for cost in costs if cost is not None]
        assert (3, known) == (len(set(known)), sorted(known))

    def test_batch_rates(self, pricer: Pricer) -> None:
        """Batch API prices where genai-prices has them (half price for gpt-5)."""
        counts = {"input_tokens": 10_000, "output_tokens": 2_000}

        expected = price_of("gpt-5", counts, context={"processing": "batch"})

        assert expected == pricer.price_usage("gpt-5", counts, at=NOW, batch=True).usd

    def test_price_at_request_time(self, pricer: Pricer) -> None:
        """The price in force when the request was made: o3 cost less after 2025-06-10."""
        before = datetime.datetime(2025, 5, 1, tzinfo=UTC)
        after = datetime.datetime(2025, 7, 1, tzinfo=UTC)
        counts = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}

        expected = (
            price_of("o3", counts, at=before),
            price_of("o3", counts, at=after),
        )

        actual = (
            pricer.price_usage("o3", counts, at=before).usd,
            pricer.price_usage("o3", counts, at=after).usd,
        )
        assert expected == actual
        assert actual[0] != actual[1]

    def test_transcription_by_seconds(self, pricer: Pricer) -> None:
        """whisper-1 reports `seconds`; it is priced per second of audio."""
        record = make_record(
            started_at=NOW,
            endpoint="/v1/audio/transcriptions",
            operation="audio.transcription",
            request_model="whisper-1",
            response_model=None,
            input_tokens=None,
            output_tokens=None,
            cached_input_tokens=None,
            reasoning_tokens=None,
            usage_details={"seconds": 95},
        )

        expected = expected_price("whisper-1", audio_seconds=95)

        assert (expected, Decimal("0.0095")) == (pricer.price(record).usd, expected)

    def test_speech_by_characters(self, pricer: Pricer) -> None:
        """tts-1 is priced per character of the request's input text."""
        text = "Hello from oaitrace, read aloud."
        record = make_record(
            started_at=NOW,
            endpoint="/v1/audio/speech",
            operation="audio.speech",
            request_model="tts-1",
            response_model=None,
            input_tokens=None,
            output_tokens=None,
            cached_input_tokens=None,
            reasoning_tokens=None,
            usage_details={},
            request_body=json.dumps({"model": "tts-1", "input": text, "voice": "alloy"}),
        )

        expected = expected_price("tts-1", input_characters=len(text))

        assert expected == pricer.price(record).usd

    def test_image_tokens(self, pricer: Pricer) -> None:
        """gpt-image-1: text and image input tokens at their own rates."""
        record = make_record(
            started_at=NOW,
            endpoint="/v1/images/generations",
            operation="images.generate",
            request_model="gpt-image-1",
            response_model=None,
            input_tokens=50,
            output_tokens=4160,
            cached_input_tokens=None,
            reasoning_tokens=None,
            usage_details={
                "input_tokens_details.text_tokens": 40,
                "input_tokens_details.image_tokens": 10,
            },
        )

        expected = expected_price(
            "gpt-image-1",
            input_tokens=50,
            input_text_tokens=40,
            input_image_tokens=10,
            output_tokens=4160,
        )

        assert expected == pricer.price(record).usd

    def test_audio_tokens(self, pricer: Pricer) -> None:
        """Audio input and output tokens (chat with audio) are split out from the details."""
        record = chat_record(
            request_model="gpt-audio",
            response_model="gpt-audio",
            cached_input_tokens=0,
            usage_details={
                "prompt_tokens_details.audio_tokens": 800,
                "completion_tokens_details.audio_tokens": 200,
            },
        )

        expected = expected_price(
            "gpt-audio",
            input_tokens=1200,
            cache_read_tokens=0,
            input_audio_tokens=800,
            output_tokens=300,
            output_audio_tokens=200,
        )

        assert expected == pricer.price(record).usd

    def test_fine_tuned_model(self, pricer: Pricer) -> None:
        """ft:BASE:org::id is priced at the base model's fine-tuned rates."""
        model = "ft:gpt-4o-mini-2024-07-18:my-org::9abel2Tx"
        record = chat_record(request_model=model, response_model=model)

        expected = Cost(
            usd=expected_price(model, input_tokens=1200, cache_read_tokens=1000, output_tokens=300),
            source=SOURCE,
            model="ft:gpt-4o-mini",
            provider="openai",
        )

        assert expected == pricer.price(record)

    def test_parsed_exchange_matches_genai_extract_usage(self, pricer: Pricer) -> None:
        """A parsed Responses body costs what genai-prices computes from the raw JSON."""
        body = {
            "id": "resp_1",
            "object": "response",
            "status": "completed",
            "model": "gpt-5-mini-2025-08-07",
            "service_tier": "flex",
            "output": [],
            "usage": {
                "input_tokens": 5000,
                "input_tokens_details": {"cached_tokens": 4096},
                "output_tokens": 900,
                "output_tokens_details": {"reasoning_tokens": 640},
                "total_tokens": 5900,
            },
        }
        exchange = build_exchange(
            url="https://api.openai.com/v1/responses",
            request_body=json.dumps({"model": "gpt-5-mini", "input": "Hi"}).encode(),
            chunks=[json.dumps(body).encode()],
        )
        record = parse(exchange, record_id="0" * 32)
        extracted = genai_prices.extract_usage(body, provider_id="openai", api_flavor="responses")

        expected = extracted.calc_price(
            genai_request_timestamp=record.started_at, price_context={"service_tier": "flex"}
        ).total_price.quantize(Decimal("1e-12"))

        assert ("flex", expected) == (record.service_tier, pricer.price(record).usd)

    def test_random_usages_match_exactly(self, pricer: Pricer) -> None:
        """Across OpenAI models, tiers, dates and usage shapes, the fast path equals calc_price."""
        rng = random.Random(5)  # noqa: S311 - test data
        openai_provider = next(provider for provider in providers if provider.id == "openai")
        models = [model.id for model in openai_provider.models]
        keys = (
            "cache_read_tokens",
            "output_reasoning_tokens",
            "input_audio_tokens",
            "output_audio_tokens",
            "cache_write_tokens",
            "input_image_tokens",
            "input_text_tokens",
        )
        mismatches = []
        for _ in range(1500):
            model = rng.choice(models)
            at = datetime.datetime(
                rng.choice((2024, 2025, 2026)), rng.randint(1, 12), rng.randint(1, 28), tzinfo=UTC
            )
            counts: dict[str, int] = {
                "input_tokens": rng.randint(0, 300_000),
                "output_tokens": rng.randint(0, 5_000),
            }
            for key in rng.sample(keys, rng.randint(0, 3)):
                limit = counts["output_tokens" if key.startswith("output") else "input_tokens"]
                counts[key] = rng.randint(0, max(limit, 1))
            context = rng.choice(
                (
                    None,
                    {"service_tier": "flex"},
                    {"service_tier": "priority"},
                    {"processing": "batch"},
                )
            )
            try:
                expected: Decimal | None = SNAPSHOT.calc(
                    Usage(**counts), model, "openai", None, at, context
                ).total_price.quantize(Decimal("1e-12"))
            except (ValueError, LookupError):
                expected = None
            actual = pricer.price_usage(
                model,
                counts,
                at=at,
                service_tier=(context or {}).get("service_tier"),
                batch=context == {"processing": "batch"},
            ).usd
            if expected != actual:
                mismatches.append((model, counts, context, at, expected, actual))

        assert [] == mismatches


class TestUnknown:
    @pytest.mark.parametrize(
        ("fields", "reason"),
        [
            ({"request_model": "my-own-model", "response_model": None}, CostReason.UNKNOWN_MODEL),
            ({"status_code": 429}, CostReason.ERROR_RESPONSE),
            ({"status_code": None}, CostReason.NO_RESPONSE),
            (
                {
                    "input_tokens": None,
                    "output_tokens": None,
                    "cached_input_tokens": None,
                    "reasoning_tokens": None,
                },
                CostReason.NO_USAGE,
            ),
            ({"request_model": None, "response_model": None}, CostReason.NO_MODEL),
            ({"cached_input_tokens": 5000}, CostReason.INVALID_USAGE),
            ({"input_tokens": 10**30, "cached_input_tokens": 0}, CostReason.INVALID_USAGE),
            ({"output_tokens": -5}, CostReason.INVALID_USAGE),
        ],
    )
    def test_unknown_cost_is_none_with_reason(
        self, pricer: Pricer, fields: dict[str, Any], reason: str
    ) -> None:
        """An unknown cost is None (never 0) and says why."""
        expected = Cost(usd=None, reason=reason)

        assert expected == pricer.price(chat_record(**fields))

    def test_not_billed_operation_costs_zero(self, pricer: Pricer) -> None:
        """Listing files is free: exactly 0, marked "not billed"."""
        record = chat_record(operation="files.list", endpoint="/v1/files", method="GET")

        expected = Cost(usd=Decimal(0), source="not billed")

        assert expected == pricer.price(record)

    def test_pricing_failure_is_pricing_error(
        self, pricer: Pricer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A bug while pricing never raises: the cost is None with reason pricing_error."""

        def broken(*args: object, **kwargs: object) -> Cost:
            msg = "boom"
            raise RuntimeError(msg)

        monkeypatch.setattr(Pricer, "price_usage", broken)

        assert Cost(usd=None, reason="pricing_error") == pricer.price(chat_record())


class TestNoNetwork:
    def test_global_snapshot_does_not_change_prices(self, pricer: Pricer) -> None:
        """Prices fetched by someone's genai_prices.UpdatePrices do not change oaitrace's."""
        before = pricer.price(chat_record()).usd
        data_snapshot.set_custom_snapshot(data_snapshot.DataSnapshot([], from_auto_update=True))
        try:
            after = Pricer().price(chat_record()).usd
        finally:
            data_snapshot.set_custom_snapshot(None)

        assert before == after

    def test_no_update_thread_is_started(self, pricer: Pricer) -> None:
        """Pricing never starts genai-prices' background updater."""
        from genai_prices import update_prices  # noqa: PLC0415

        pricer.price(chat_record())

        assert update_prices._shared_updater.thread is None


PRICE_FILE = """
[[price]]
model = "llama-3.1-*"
host = "localhost:8000"
provider = "self-hosted"
input_mtok = 0.10
output_mtok = 0.20

[[price]]
model = "gpt-4o-mini"
input_mtok = 0.10
cached_input_mtok = 0.05
output_mtok = 0.40
reasoning_mtok = 0.80
"""


class TestPriceFile:
    def write(self, tmp_path: Path, text: str = PRICE_FILE) -> Path:
        path = tmp_path / "prices.toml"
        path.write_text(text)
        return path

    def test_negotiated_rate_overrides_genai_prices(self, tmp_path: Path) -> None:
        """A price file rule wins over genai-prices for the models it matches (prefix match)."""
        pricer = Pricer(price_file=self.write(tmp_path))
        record = chat_record(reasoning_tokens=100)

        # 200 uncached * 0.10 + 1000 cached * 0.05 + 200 output * 0.40 + 100 reasoning * 0.80
        expected = Cost(
            usd=Decimal("0.000230000000"),
            source="price file prices.toml",
            model="gpt-4o-mini-2024-07-18",
            provider="price-file",
        )

        assert expected == pricer.price(record)

    def test_self_hosted_by_host_and_glob(self, tmp_path: Path) -> None:
        """A host-specific glob rule prices a self-hosted model genai-prices does not know."""
        pricer = Pricer(price_file=self.write(tmp_path))
        record = chat_record(
            host="localhost:8000",
            request_model="llama-3.1-70b-instruct",
            response_model=None,
            input_tokens=1_000_000,
            cached_input_tokens=0,
            output_tokens=500_000,
        )

        expected = (Decimal("0.200000000000"), "self-hosted")

        cost = pricer.price(record)
        assert expected == (cost.usd, cost.provider)

    def test_host_rule_does_not_apply_elsewhere(self, tmp_path: Path) -> None:
        """A rule for one host leaves the same model on another host unknown."""
        pricer = Pricer(price_file=self.write(tmp_path))
        record = chat_record(host="gpu-box:9000", request_model="llama-3.1-8b", response_model=None)

        assert CostReason.UNKNOWN_MODEL == pricer.price(record).reason

    def test_environment_variable(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """$OAITRACE_PRICE_FILE is read when no price file is given."""
        monkeypatch.setenv(PRICE_FILE_ENV, str(self.write(tmp_path)))

        assert "price file prices.toml" == Pricer().price(chat_record()).source

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("[[price]\n", "not valid TOML"),
            ("[[price]]\nmodel = 'x'\ninput_mtok = 1\n", "needs input_mtok and output_mtok"),
            ("[[price]]\ninput_mtok = 1\noutput_mtok = 1\n", "needs model"),
            ("[[price]]\nmodel='x'\ninput_mtok=-1\noutput_mtok=1\n", "zero or more"),
            (
                "[[price]]\nmodel='x'\ninput_mtok=1\noutput_mtok=1\ncolour=1\n",
                "unknown keys colour",
            ),
            ("title = 'no prices'\n", r"no \[\[price\]\] entries"),
        ],
    )
    def test_bad_price_file(self, tmp_path: Path, text: str, message: str) -> None:
        """A wrong price file is a ConfigurationError saying what is wrong."""
        with pytest.raises(ConfigurationError, match=message):
            load_price_file(self.write(tmp_path, text))


class TestBatchOutput:
    def test_batch_output_file(self, pricer: Pricer) -> None:
        """Lines of a batch output file are priced at batch rates; failed lines are counted."""
        usage = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}
        ok = {
            "custom_id": "1",
            "response": {"status_code": 200, "body": {"model": "gpt-5", "usage": usage}},
        }
        failed = {
            "custom_id": "2",
            "response": {"status_code": 500, "body": {"error": {"message": "x"}}},
        }
        content = "\n".join(json.dumps(line) for line in (ok, ok, failed)).encode()

        expected = (
            2
            * expected_price(
                "gpt-5", context={"processing": "batch"}, input_tokens=1000, output_tokens=100
            ),
            1,
        )

        assert expected == price_batch_output(content, pricer=pricer, at=NOW)

    def test_not_a_batch_output_file(self, pricer: Pricer) -> None:
        """Another file is refused with a clear error; an empty one costs nothing."""
        with pytest.raises(ValueError, match="not a batch output file"):
            price_batch_output(b'{"messages": []}\n', pricer=pricer, at=NOW)
        assert (Decimal(0), 0) == price_batch_output(b"", pricer=pricer, at=NOW)


class TestRecorder:
    def test_recorded_requests_are_priced(self, tmp_path: Path) -> None:
        """The writer prices every record before storing it, with provenance."""
        database = tmp_path / "traces.db"
        recorder = oaitrace.Recorder(database_url=str(database))
        try:
            with DemoServer() as server:
                client = openai.OpenAI(
                    base_url=server.base_url, api_key="sk-test", http_client=recorder.client()
                )
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
                )
                client.close()
            assert recorder.flush(timeout=10.0)
        finally:
            recorder.close()
        with Query(str(database)) as query:
            [record] = query.requests()
            detail = query.detail(record.id)

        assert detail is not None
        expected = (True, None, SOURCE, "gpt-4o-mini", "openai")
        actual = (
            record.cost_usd is not None and record.cost_usd > 0,
            record.cost_reason,
            detail.price_source,
            detail.price_model,
            detail.price_provider,
        )
        assert expected == actual
        assert record.cost_usd is not None
        assert record.cost_usd < CENT

    def test_bad_price_file_fails_at_construction(self, tmp_path: Path) -> None:
        """A broken price file is reported when the Recorder is made, not on the writer."""
        path = tmp_path / "prices.toml"
        path.write_text("[[price]\n")

        with pytest.raises(ConfigurationError, match="not valid TOML"):
            oaitrace.Recorder(database_url=str(tmp_path / "t.db"), price_file=path)
