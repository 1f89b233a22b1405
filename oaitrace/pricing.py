"""What each recorded request cost, in US dollars, with the provenance to audit it.

Prices come from **genai-prices** (its data ships inside the package; oaitrace
never asks it to fetch newer prices from the network) and, before it, from an
optional user price file for self-hosted servers, compatible APIs and
negotiated rates. The price used is the one in force when the request was
made, for the service tier that served it (`flex`, `priority` ...).

A cost is `None` when it is not known, never 0, and `Cost.reason` says why:

========================  ===========================================================
``no_response``           no HTTP response arrived (network error, timeout)
``error_response``        the API answered with an error status (not billed)
``no_model``              neither the request nor the response named a model
``no_usage``              the response carried no usage to price (streams without
                          ``include_usage``, ``dall-e`` images, ``whisper`` without
                          ``seconds``, speech without a captured request body)
``unknown_model``         genai-prices and the price file do not know the model
``invalid_usage``         the usage numbers contradict each other
``pricing_error``         pricing failed unexpectedly (a bug; logged by the writer)
``pricing_unavailable``   genai-prices is not installed (Python 3.10)
========================  ===========================================================

Calls that OpenAI does not bill per call (listing models, file uploads,
retrieving a batch ...) cost exactly 0, with `source="not billed"`.

Speed: genai-prices' own calculation takes about 130 µs; the writer prices
every record, so oaitrace resolves each (provider, model, tier, day) to a rate
card once, caches it, and applies it with genai-prices' own rules (usage
split into the most specific priced units, tiered prices by input tokens).
The tests compare the result with genai-prices' `calc_price` across models.

Example:
    >>> from oaitrace.pricing import Pricer
    >>> pricer = Pricer()  # doctest: +SKIP
    >>> usage = {"input_tokens": 1000, "output_tokens": 200}
    >>> pricer.price_usage("gpt-4o-mini", usage)  # doctest: +SKIP
    Cost(usd=Decimal('0.000270000000'), reason=None, source='genai-prices 0.2.3', ...)
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import os
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final, Protocol

from oaitrace._batch_output import BATCH_OUTPUT_KEY, is_whole, read_batch_output
from oaitrace._routes import BILLED_OPERATIONS
from oaitrace._usage import usage_from_json
from oaitrace.exceptions import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads price files with the tomli backport
    import tomli as tomllib

__all__ = [
    "COST_QUANTUM",
    "PRICE_FILE_ENV",
    "Cost",
    "CostReason",
    "PriceRule",
    "PricedRecord",
    "Pricer",
    "genai_prices_version",
    "load_price_file",
    "polled_usage",
    "price_batch_output",
    "speech_characters",
    "usage_counts",
]

PRICE_FILE_ENV: Final = "OAITRACE_PRICE_FILE"
# Costs are stored with twelve decimal places (a millionth of a millionth of
# a dollar): exact for every per-token price genai-prices lists.
COST_QUANTUM: Final = Decimal("1e-12")
_MILLION: Final = Decimal(1_000_000)
# No single request costs this much; usage that says so is wrong, and the
# value would not fit the cost column (NUMERIC(20, 12), 64-bit on SQLite).
MAX_COST: Final = Decimal(10_000_000)
_ZERO: Final = Decimal(0)
NOT_BILLED_SOURCE: Final = "not billed"


class PricedRecord(Protocol):
    """What pricing reads of a record: a live `Record` or a stored row with its body's fields."""

    @property
    def started_at(self) -> datetime.datetime: ...
    @property
    def host(self) -> str: ...
    @property
    def operation(self) -> str: ...
    @property
    def status_code(self) -> int | None: ...
    @property
    def request_model(self) -> str | None: ...
    @property
    def response_model(self) -> str | None: ...
    @property
    def service_tier(self) -> str | None: ...
    @property
    def input_tokens(self) -> int | None: ...
    @property
    def output_tokens(self) -> int | None: ...
    @property
    def cached_input_tokens(self) -> int | None: ...
    @property
    def reasoning_tokens(self) -> int | None: ...
    @property
    def usage_details(self) -> Mapping[str, int | float] | None: ...
    @property
    def request_body(self) -> str | None: ...
    @property
    def extra(self) -> Mapping[str, Any] | None: ...


class CostReason:
    """Why a cost is None (`Cost.reason`); the values are stored as text."""

    NO_RESPONSE: Final = "no_response"
    ERROR_RESPONSE: Final = "error_response"
    NO_MODEL: Final = "no_model"
    NO_USAGE: Final = "no_usage"
    UNKNOWN_MODEL: Final = "unknown_model"
    INVALID_USAGE: Final = "invalid_usage"
    PRICING_ERROR: Final = "pricing_error"
    PRICING_UNAVAILABLE: Final = "pricing_unavailable"
    # A batch output file whose lines were not all read (cut by the capture
    # limit or a broken download): what was read would understate it.
    INCOMPLETE_BATCH_OUTPUT: Final = "incomplete_batch_output"


@dataclass(frozen=True, slots=True)
class Cost:
    """The price of one request and where it came from.

    Attributes:
        usd: the cost in US dollars (12 decimal places); None when not known.
        reason: why `usd` is None (a `CostReason` value); None when priced.
        source: "genai-prices 0.2.3", "price file prices.toml" or "not billed".
        model: the model id the price was matched to (such as "gpt-4o-mini").
        provider: the provider id the price was matched to (such as "openai").
    """

    usd: Decimal | None
    reason: str | None = None
    source: str | None = None
    model: str | None = None
    provider: str | None = None


def _unknown(reason: str) -> Cost:
    return Cost(usd=None, reason=reason)


_NOT_BILLED: Final = Cost(usd=_ZERO, source=NOT_BILLED_SOURCE)

# Record.usage_details keys (dotted, as the API reported them) -> genai-prices
# usage keys; the same mapping as genai-prices' own OpenAI extractors.
_DETAIL_USAGE_KEYS: Final = (
    ("prompt_tokens_details.cache_write_tokens", "cache_write_tokens"),
    ("input_tokens_details.cache_write_tokens", "cache_write_tokens"),
    ("prompt_tokens_details.audio_tokens", "input_audio_tokens"),
    ("input_tokens_details.audio_tokens", "input_audio_tokens"),
    ("input_token_details.audio_tokens", "input_audio_tokens"),
    ("input_tokens_details.text_tokens", "input_text_tokens"),
    ("input_token_details.text_tokens", "input_text_tokens"),
    ("input_tokens_details.image_tokens", "input_image_tokens"),
    ("input_token_details.image_tokens", "input_image_tokens"),
    ("input_token_details.cached_tokens_details.text_tokens", "cache_text_read_tokens"),
    ("input_token_details.cached_tokens_details.audio_tokens", "cache_audio_read_tokens"),
    ("input_token_details.cached_tokens_details.image_tokens", "cache_image_read_tokens"),
    ("completion_tokens_details.audio_tokens", "output_audio_tokens"),
    ("output_tokens_details.audio_tokens", "output_audio_tokens"),
    ("output_token_details.audio_tokens", "output_audio_tokens"),
    ("output_tokens_details.text_tokens", "output_text_tokens"),
    ("output_token_details.text_tokens", "output_text_tokens"),
    ("output_tokens_details.image_tokens", "output_image_tokens"),
    # Transcription billed by duration: {"type": "duration", "seconds": 3.2}.
    ("seconds", "audio_seconds"),
    # Speech: characters of the request's `input`, counted by oaitrace.
    ("input_characters", "input_characters"),
)
_CACHED_FALLBACK_KEY: Final = "input_token_details.cached_tokens"

# Hosts -> genai-prices provider ids, for hosts its own URL patterns do not cover.
_HOST_PROVIDERS: Final = {"api.openai.com": "openai"}


def usage_counts(
    input_tokens: int | None,
    output_tokens: int | None,
    cached_input_tokens: int | None,
    reasoning_tokens: int | None,
    usage_details: Mapping[str, int | float] | None,
) -> dict[str, int | float]:
    """genai-prices usage keys -> counts, from a record's token columns and details."""
    counts: dict[str, int | float] = {}
    if input_tokens is not None:
        counts["input_tokens"] = input_tokens
    if output_tokens is not None:
        counts["output_tokens"] = output_tokens
    if cached_input_tokens is not None:
        counts["cache_read_tokens"] = cached_input_tokens
    if reasoning_tokens is not None:
        counts["output_reasoning_tokens"] = reasoning_tokens
    if usage_details:
        for detail_key, usage_key in _DETAIL_USAGE_KEYS:
            value = usage_details.get(detail_key)
            if value is not None and usage_key not in counts:
                counts[usage_key] = value
        if "cache_read_tokens" not in counts:
            cached = usage_details.get(_CACHED_FALLBACK_KEY)
            if cached is not None:
                counts["cache_read_tokens"] = cached
    return counts


# --- genai-prices ---------------------------------------------------------------


def genai_prices_version() -> str | None:
    """The installed genai-prices version; None when it is not installed."""
    try:
        import genai_prices  # noqa: PLC0415 - optional on Python 3.10
    except ImportError:
        return None
    return str(genai_prices.__version__)


@dataclass(frozen=True, slots=True)
class _Unit:
    usage_key: str
    per: int
    price: Any  # Decimal | genai_prices.types.TieredPrices
    # Indexes (into the rate card's units) of the more specific priced units.
    descendants: tuple[int, ...]
    # The priced units whose reported usage means this one must be reported too.
    dimensions: frozenset[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class _RateCard:
    """One model's resolved prices, ready to apply to many usages."""

    units: tuple[_Unit, ...]
    per_request: Any  # Decimal price per `requests` unit, or None
    requests_per: int
    model_id: str
    provider_id: str
    tiered: bool


class _GenaiPrices:
    """genai-prices' bundled data, with oaitrace's caches in front of it.

    Uses its own `DataSnapshot` of the bundled providers, so a background
    `genai_prices.UpdatePrices` that some other code started cannot change
    what oaitrace charges; oaitrace itself never starts one.
    """

    def __init__(self) -> None:
        import genai_prices  # noqa: PLC0415
        from genai_prices import data, data_snapshot, data_units, types  # noqa: PLC0415
        from genai_prices.units import UnitRegistry  # noqa: PLC0415

        self.version = str(genai_prices.__version__)
        self.source = f"genai-prices {self.version}"
        self._types = types
        self._snapshot = data_snapshot.DataSnapshot(
            providers=data.providers, from_auto_update=False
        )
        self._registry = UnitRegistry(data_units.unit_data)
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str], tuple[Any, Any] | None] = {}
        self._cards: dict[tuple[Any, ...], _RateCard] = {}
        self._time_of_day: dict[str, bool] = {}
        self._inferable: dict[tuple[str, frozenset[str]], str] = {}

    def find(self, host: str, model_ref: str) -> tuple[Any, Any] | None:
        """(provider, model) for a model name sent to a host; None when unknown."""
        key = (host, model_ref)
        try:
            return self._models[key]
        except KeyError:
            pass
        found = self._lookup(host, model_ref)
        with self._lock:
            self._models[key] = found
        return found

    def _lookup(self, host: str, model_ref: str) -> tuple[Any, Any] | None:
        snapshot = self._snapshot
        provider_id = _HOST_PROVIDERS.get(host)
        attempts: list[tuple[str | None, str | None]] = []
        if provider_id is not None:
            attempts.append((provider_id, None))
        else:
            attempts.append((None, f"https://{host}"))
        # A host genai-prices does not know (a proxy, a compatible server): the
        # provider whose model names match (gpt-* -> openai), then OpenAI's
        # own list, which names models (text-embedding-3-small) no pattern does.
        attempts.append((None, None))
        if provider_id != "openai":
            attempts.append(("openai", None))
        for by_id, by_url in attempts:
            try:
                found: tuple[Any, Any] = snapshot.find_provider_model(
                    model_ref, None, by_id, by_url
                )
                return found
            except LookupError:
                continue
        return None

    def card(
        self,
        provider: Any,
        model: Any,
        at: datetime.datetime,
        context: tuple[tuple[str, str], ...],
    ) -> _RateCard:
        """The rate card in force at `at` for a context such as (("service_tier", "flex"),)."""
        if self._has_time_of_day(model):
            return self._build_card(provider, model, at, context)
        key = (provider.id, model.id, context, at.date())
        card = self._cards.get(key)
        if card is None:
            card = self._build_card(provider, model, at, context)
            with self._lock:
                self._cards[key] = card
        return card

    def _has_time_of_day(self, model: Any) -> bool:
        cached = self._time_of_day.get(model.id)
        if cached is None:
            types = self._types
            constraints = [
                getattr(price, "constraint", None)
                for price in (model.prices if isinstance(model.prices, list) else [])
            ]
            constraints += [variant.constraint for variant in model.price_variants or ()]
            cached = any(isinstance(c, types.TimeOfDateConstraint) for c in constraints)
            self._time_of_day[model.id] = cached
        return cached

    def _build_card(
        self,
        provider: Any,
        model: Any,
        at: datetime.datetime,
        context: tuple[tuple[str, str], ...],
    ) -> _RateCard:
        # The same selection as genai-prices' ModelInfo.calc_price: price
        # variants only apply to the provider's own models.
        own_model = any(model is candidate for candidate in provider.models)
        model_price = model.get_prices(at, dict(context) if context and own_model else None)
        registry = self._registry
        priced: list[tuple[Any, Any]] = []
        for price_key, price in model_price.__dict__.items():
            if price_key.startswith("_") or price is None:
                continue
            try:
                priced.append((registry.unit_for_price_key(price_key), price))
            except KeyError:
                continue  # a price key this genai-prices version cannot apply
        per_request = None
        requests_per = 1000
        token_units = []
        for unit, price in priced:
            if unit.usage_key == "requests":
                per_request, requests_per = price, unit.per
            else:
                token_units.append((unit, price))
        # Most specific first, as genai-prices decomposes usage.
        token_units.sort(key=lambda pair: (-len(pair[0].dimensions), pair[0].usage_key))
        units = []
        for index, (unit, price) in enumerate(token_units):
            descendants = tuple(
                other_index
                for other_index, (other, _) in enumerate(token_units)
                if other_index != index and unit.dimensions.items() <= other.dimensions.items()
            )
            units.append(
                _Unit(
                    usage_key=unit.usage_key,
                    per=unit.per,
                    price=price,
                    descendants=descendants,
                    dimensions=frozenset(unit.dimensions.items()),
                )
            )
        return _RateCard(
            units=tuple(units),
            per_request=per_request,
            requests_per=requests_per,
            model_id=model.id,
            provider_id=provider.id,
            tiered=any(isinstance(price, self._types.TieredPrices) for _, price in priced),
        )

    def apply(self, card: _RateCard, counts: Mapping[str, int | float]) -> Decimal:
        """The price of `counts` on a rate card; ValueError when the usage is inconsistent."""
        leaves: dict[int, Decimal] = {}
        total = _ZERO
        input_tokens = counts.get("input_tokens", 0) if card.tiered else 0
        positive: frozenset[str] | None = None
        for index, unit in enumerate(card.units):
            value = counts.get(unit.usage_key)
            if value is None:
                if positive is None:
                    positive = frozenset(key for key, count in counts.items() if count > 0)
                self._check_inferable(unit, positive)
                value = 0
            leaf = _decimal(value)
            for descendant in unit.descendants:
                leaf -= leaves[descendant]
            if leaf < 0:
                msg = f"more specific usage exceeds {unit.usage_key} ({value})"
                raise ValueError(msg)
            leaves[index] = leaf
            if leaf:  # most units of a card are unused by a request: no Decimal work
                total += _unit_price(unit.price, leaf, input_tokens, unit.per)
        if card.per_request is not None:
            total += card.per_request / card.requests_per
        return total

    def _check_inferable(self, unit: _Unit, positive: frozenset[str]) -> None:
        """Raise ValueError where genai-prices cannot infer an unreported unit as 0.

        That is when more specific usage was reported (the total is missing),
        or two reported units together make up exactly this one. The verdict
        depends only on which keys were reported, so it is cached.
        """
        key = (unit.usage_key, positive)
        verdict = self._inferable.get(key)
        if verdict is None:
            verdict = self._inferable_verdict(unit, positive)
            with self._lock:
                self._inferable[key] = verdict
        if verdict:
            raise ValueError(verdict)

    def _inferable_verdict(self, unit: _Unit, positive: frozenset[str]) -> str:
        units = self._registry.units
        for key in sorted(positive):
            other = units.get(key)
            if (
                other is not None
                and key != unit.usage_key
                and unit.dimensions <= frozenset(other.dimensions.items())
            ):
                return f"usage {key} is reported without {unit.usage_key}"
        reported = [(key, dict(units[key].dimensions)) for key in sorted(positive) if key in units]
        wanted = dict(unit.dimensions)
        for index, (left_key, left) in enumerate(reported):
            for right_key, right in reported[index + 1 :]:
                compatible = all(right.get(k, v) == v for k, v in left.items())
                nested = left.items() <= right.items() or right.items() <= left.items()
                if compatible and not nested and wanted == {**left, **right}:
                    return f"usage {left_key} and {right_key} need {unit.usage_key} reported"
        return ""


def _decimal(value: int | float | Decimal) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(repr(value))


def _unit_price(price: Any, count: Decimal, total_input_tokens: int | float, per: int) -> Decimal:
    if isinstance(price, Decimal):
        return price * count / per
    # genai-prices TieredPrices: the highest tier whose start the input passed
    # applies to every token.
    applicable = price.base
    for tier in reversed(price.tiers):
        if total_input_tokens > tier.start:
            applicable = tier.price
            break
    result: Decimal = applicable * count / per
    return result


_genai: _GenaiPrices | None = None
_genai_lock = threading.Lock()


def _genai_prices() -> _GenaiPrices | None:
    global _genai  # noqa: PLW0603 - one shared cache of the bundled data per process
    if _genai is None:
        with _genai_lock:
            if _genai is None:
                try:
                    _genai = _GenaiPrices()
                except ImportError:
                    return None
    return _genai


# --- the user's price file ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceRule:
    """One `[[price]]` entry of a price file: per million tokens, in US dollars."""

    model: str
    host: str | None
    provider: str | None
    input_mtok: Decimal
    output_mtok: Decimal
    cached_input_mtok: Decimal | None = None
    reasoning_mtok: Decimal | None = None

    def matches(self, host: str, model: str) -> bool:
        """True when this rule covers `model` served by `host`."""
        if self.host is not None and self.host.lower() != host:
            return False
        pattern = self.model.lower()
        name = model.lower()
        if any(char in pattern for char in "*?["):
            return fnmatch.fnmatchcase(name, pattern)
        return name == pattern or name.startswith(pattern)

    def price(self, counts: Mapping[str, int | float]) -> Decimal:
        """Input (cached at its own rate), output (reasoning at its own rate)."""
        input_tokens = _decimal(counts.get("input_tokens", 0))
        cached = _decimal(counts.get("cache_read_tokens", 0))
        output_tokens = _decimal(counts.get("output_tokens", 0))
        reasoning = _decimal(counts.get("output_reasoning_tokens", 0))
        cached_rate = self.input_mtok if self.cached_input_mtok is None else self.cached_input_mtok
        reasoning_rate = self.output_mtok if self.reasoning_mtok is None else self.reasoning_mtok
        total = (
            (input_tokens - cached) * self.input_mtok
            + cached * cached_rate
            + (output_tokens - reasoning) * self.output_mtok
            + reasoning * reasoning_rate
        )
        return total / _MILLION


_RULE_PRICES: Final = ("input_mtok", "output_mtok", "cached_input_mtok", "reasoning_mtok")


def load_price_file(path: str | os.PathLike[str]) -> tuple[PriceRule, ...]:
    """The rules of a TOML price file; ConfigurationError with the reason when it is wrong.

    Example file::

        # Self-hosted and negotiated prices, US dollars per million tokens.
        [[price]]
        model = "llama-3.1-*"          # glob, or a prefix
        host = "localhost:8000"        # optional: only this server
        provider = "self-hosted"       # optional: recorded as the price's provider
        input_mtok = 0.10
        output_mtok = 0.20

        [[price]]
        model = "gpt-4o"
        input_mtok = 2.00              # a negotiated rate
        cached_input_mtok = 1.00       # optional, default input_mtok
        output_mtok = 8.00
        reasoning_mtok = 8.00          # optional, default output_mtok

    Rules with a `host` are tried before rules without; otherwise the first
    matching rule in the file wins.
    """
    location = Path(path)
    try:
        document = tomllib.loads(location.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read price file {location}: {exc.strerror}"
        raise ConfigurationError(msg) from exc
    except tomllib.TOMLDecodeError as exc:
        msg = f"price file {location} is not valid TOML: {exc}"
        raise ConfigurationError(msg) from exc
    entries = document.get("price", [])
    if not isinstance(entries, list) or not entries:
        msg = f"price file {location} has no [[price]] entries"
        raise ConfigurationError(msg)
    rules = [_rule(location, number, entry) for number, entry in enumerate(entries, start=1)]
    # Host-specific rules first, each group in file order (sorted is stable).
    return tuple(sorted(rules, key=lambda rule: rule.host is None))


def _rule(location: Path, number: int, entry: object) -> PriceRule:
    where = f"price file {location}, [[price]] entry {number}"
    if not isinstance(entry, dict):
        msg = f"{where}: expected a table"
        raise ConfigurationError(msg)
    unknown = set(entry) - {"model", "host", "provider", *_RULE_PRICES}
    if unknown:
        msg = f"{where}: unknown keys {', '.join(sorted(unknown))}"
        raise ConfigurationError(msg)
    model = entry.get("model")
    if not isinstance(model, str) or not model:
        msg = f'{where}: needs model = "name or glob"'
        raise ConfigurationError(msg)
    prices: dict[str, Decimal | None] = {}
    for key in _RULE_PRICES:
        value = entry.get(key)
        if value is None:
            prices[key] = None
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            msg = f"{where}: {key} must be a number of dollars per million tokens"
            raise ConfigurationError(msg)
        try:
            # str() of a TOML float is its shortest repr: 0.1 stays 0.1 exactly.
            decimal = Decimal(str(value))
        except InvalidOperation:
            msg = f"{where}: {key} = {value!r} is not a number"
            raise ConfigurationError(msg) from None
        if not decimal.is_finite() or decimal < 0:
            msg = f"{where}: {key} must be zero or more"
            raise ConfigurationError(msg)
        prices[key] = decimal
    input_mtok, output_mtok = prices["input_mtok"], prices["output_mtok"]
    if input_mtok is None or output_mtok is None:
        msg = f"{where}: needs input_mtok and output_mtok"
        raise ConfigurationError(msg)
    host = entry.get("host")
    provider = entry.get("provider")
    return PriceRule(
        model=model,
        host=host.lower() if isinstance(host, str) and host else None,
        provider=provider if isinstance(provider, str) and provider else None,
        input_mtok=input_mtok,
        output_mtok=output_mtok,
        cached_input_mtok=prices["cached_input_mtok"],
        reasoning_mtok=prices["reasoning_mtok"],
    )


# --- the pricer -----------------------------------------------------------------

_SPEECH: Final = "audio.speech"


@dataclass(slots=True)
class Pricer:
    """Prices records: the user's price file first, then genai-prices.

    `price_file`: a TOML price file (see `load_price_file`); None reads
    ``$OAITRACE_PRICE_FILE`` when set. Thread-safe; keep one per process.

    Example:
        >>> pricer = Pricer(price_file="prices.toml")  # doctest: +SKIP
        >>> pricer.price(record).usd  # doctest: +SKIP
        Decimal('0.000270000000')
    """

    price_file: str | os.PathLike[str] | None = None
    rules: tuple[PriceRule, ...] = field(init=False, default=())
    _rule_source: str = field(init=False, default="")
    _rule_cache: dict[tuple[str, str], PriceRule | None] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.price_file is None:
            self.price_file = os.environ.get(PRICE_FILE_ENV) or None
        if self.price_file is not None:
            self.rules = load_price_file(self.price_file)
            self._rule_source = f"price file {Path(self.price_file).name}"

    @property
    def source(self) -> str | None:
        """genai-prices and its version, as stored with every cost it gives."""
        genai = _genai_prices()
        return None if genai is None else genai.source

    def price(self, record: PricedRecord) -> Cost:
        """The cost of one record, live or stored; never raises (a failure is `pricing_error`).

        The writer prices each new Record with it, `reprice` each stored row.
        """
        try:
            return self._price_record(record)
        except Exception:  # the writer (or a reprice of millions) must survive any record
            return _unknown(CostReason.PRICING_ERROR)

    def _price_record(self, record: PricedRecord) -> Cost:
        extra = record.extra
        if extra and extra.get("usage_counted_from_batch_output") is True:
            return self._price_batch_output(record.started_at, record.host, extra[BATCH_OUTPUT_KEY])
        details: Mapping[str, int | float] = record.usage_details or {}
        if record.operation == _SPEECH and "input_characters" not in details:
            characters = speech_characters(record.request_body)
            if characters is not None:
                details = {**details, "input_characters": characters}
        polled, batch = polled_usage(record.extra)
        return self.price_fields(
            started_at=record.started_at,
            host=record.host,
            operation=record.operation,
            status_code=record.status_code,
            request_model=record.request_model,
            response_model=record.response_model,
            service_tier=record.service_tier,
            counts=usage_counts(
                record.input_tokens,
                record.output_tokens,
                record.cached_input_tokens,
                record.reasoning_tokens,
                details,
            ),
            batch=batch,
            polled=polled,
        )

    def price_fields(
        self,
        *,
        started_at: datetime.datetime,
        host: str,
        operation: str,
        status_code: int | None,
        request_model: str | None,
        response_model: str | None,
        service_tier: str | None,
        counts: Mapping[str, int | float],
        batch: bool = False,
        polled: bool = False,
    ) -> Cost:
        """The cost of a request given as its fields (used for stored rows by `reprice`).

        `polled`: the usage of a finished object counted on this poll (see
        `polled_usage`), priced although the poll itself is not a model call.
        """
        if status_code is None:
            return _unknown(CostReason.NO_RESPONSE)
        if status_code >= 400:
            return _unknown(CostReason.ERROR_RESPONSE)
        if operation not in BILLED_OPERATIONS and not polled:
            return _NOT_BILLED
        models = [name for name in (response_model, request_model) if name]
        if not models:
            return _unknown(CostReason.NO_MODEL)
        if not counts:
            return _unknown(CostReason.NO_USAGE)
        return self.price_usage(
            models, counts, at=started_at, host=host, service_tier=service_tier, batch=batch
        )

    def price_usage(
        self,
        model: str | Iterable[str],
        counts: Mapping[str, int | float],
        *,
        at: datetime.datetime | None = None,
        host: str = "api.openai.com",
        service_tier: str | None = None,
        batch: bool = False,
    ) -> Cost:
        """The cost of usage counts (genai-prices usage keys) for a model at a time.

        `model`: a name, or names to try in order (the response's dated
        model, then the requested one). `counts` uses genai-prices' keys:
        input_tokens, cache_read_tokens, output_tokens, output_reasoning_tokens,
        input_audio_tokens, audio_seconds, input_characters ...
        `batch`: price at Batch API rates where genai-prices has them.
        """
        names = [model] if isinstance(model, str) else list(model)
        when = at or datetime.datetime.now(datetime.timezone.utc)
        host = host.lower()
        for name in names:
            rule = self._rule(host, name)
            if rule is not None:
                usd = rule.price(counts)
                if not _plausible(usd):
                    return _unknown(CostReason.INVALID_USAGE)
                return Cost(
                    usd=usd.quantize(COST_QUANTUM),
                    source=self._rule_source,
                    model=name,
                    provider=rule.provider or rule.host or "price-file",
                )
        genai = _genai_prices()
        if genai is None:
            return _unknown(CostReason.PRICING_UNAVAILABLE)
        context: tuple[tuple[str, str], ...] = ()
        if batch:
            context = (("processing", "batch"),)
        elif service_tier:
            context = (("service_tier", service_tier),)
        for name in names:
            found = genai.find(host, name)
            if found is None:
                continue
            provider, model_info = found
            card = genai.card(provider, model_info, when, context)
            try:
                usd = genai.apply(card, counts)
            except ValueError:
                return _unknown(CostReason.INVALID_USAGE)
            if not _plausible(usd):
                return _unknown(CostReason.INVALID_USAGE)
            return Cost(
                usd=usd.quantize(COST_QUANTUM),
                source=genai.source,
                model=card.model_id,
                provider=card.provider_id,
            )
        return _unknown(CostReason.UNKNOWN_MODEL)

    def _price_batch_output(
        self, at: datetime.datetime, host: str, output: Mapping[str, Any]
    ) -> Cost:
        """A downloaded batch output file, line by line at Batch API rates (see `_batch_output`)."""
        if not is_whole(output):
            return _unknown(CostReason.INCOMPLETE_BATCH_OUTPUT)
        total = _ZERO
        sources: set[str | None] = set()
        models: set[str | None] = set()
        providers: set[str | None] = set()
        for model, usage in output.get("usage") or ():
            cost = self.price_batch_line(model, usage, at=at, host=host)
            if cost.usd is None:
                return cost  # one line without a price leaves the file's cost unknown
            total += cost.usd
            sources.add(cost.source)
            models.add(cost.model)
            providers.add(cost.provider)
        if not sources:
            return _NOT_BILLED  # every request of the batch failed
        # Provenance as far as the lines agree: a batch may mix models.
        return Cost(
            usd=total,
            source=_only(sources) or self.source,
            model=_only(models),
            provider=_only(providers),
        )

    def price_batch_line(
        self,
        model: str | None,
        usage: Mapping[str, Any],
        *,
        at: datetime.datetime,
        host: str = "api.openai.com",
    ) -> Cost:
        """One line of a batch output file: its body's model and usage, at Batch API rates."""
        counted = usage_from_json(usage)
        return self.price_fields(
            started_at=at,
            host=host,
            operation="batch",
            status_code=200,
            request_model=None,
            response_model=model,
            service_tier=None,
            counts=usage_counts(
                counted.input_tokens,
                counted.output_tokens,
                counted.cached_input_tokens,
                counted.reasoning_tokens,
                counted.details,
            ),
            batch=True,
            polled=True,
        )

    def _rule(self, host: str, model: str) -> PriceRule | None:
        if not self.rules:
            return None
        key = (host, model)
        try:
            return self._rule_cache[key]
        except KeyError:
            pass
        rule = next((rule for rule in self.rules if rule.matches(host, model)), None)
        self._rule_cache[key] = rule
        return rule


def _only(values: set[str | None]) -> str | None:
    return next(iter(values)) if len(values) == 1 else None


def polled_usage(extra: Mapping[str, Any] | None) -> tuple[bool, bool]:
    """(priced as a model call, at Batch API rates) for a record's stored `extra`.

    A batch, an Assistants run or a background Response shows its usage only
    when polled finished; oaitrace counts it on the first such poll
    (`extra["usage_counted_from_poll"]`), and prices it there as the model
    calls it stands for: a batch's at Batch API rates.
    """
    if not extra or extra.get("usage_counted_from_poll") is not True:
        return False, False
    return True, extra.get("object_type") == "batch"


def _plausible(usd: Decimal) -> bool:
    return Decimal(0) <= usd < MAX_COST


def speech_characters(request_body: str | None) -> int | None:
    """Characters of a speech request's `input` (what tts-1 bills), from its JSON body."""
    if not request_body:
        return None
    try:
        obj = json.loads(request_body)
    except ValueError:
        return None
    text = obj.get("input") if isinstance(obj, dict) else None
    return len(text) if isinstance(text, str) else None


def price_batch_output(
    jsonl: bytes | str,
    *,
    pricer: Pricer | None = None,
    at: datetime.datetime | None = None,
) -> tuple[Decimal, int]:
    """The cost at Batch API rates of a batch's output file, and how many lines had no price.

    Each line is ``{"custom_id": ..., "response": {"status_code": 200, "body":
    {"model": ..., "usage": ...}}}`` as `GET /v1/files/{output_file_id}/content`
    returns it. A download recorded by oaitrace is priced like this by the
    writer; this is for files it did not see. An empty file costs nothing;
    a file that is not batch output (its first line has no ``custom_id`` and
    ``response``) raises ValueError.

    Example:
        >>> content = client.files.content(batch.output_file_id).content  # doctest: +SKIP
        >>> price_batch_output(content)  # doctest: +SKIP
        (Decimal('0.004218750000'), 0)
    """
    pricer = pricer or Pricer()
    content = jsonl.encode("utf-8") if isinstance(jsonl, str) else jsonl
    if not content.strip():
        return _ZERO, 0
    output = read_batch_output(content, cut=False)
    if output is None:
        msg = "not a batch output file: its first line has no custom_id and response"
        raise ValueError(msg)
    when = at or datetime.datetime.now(datetime.timezone.utc)
    total = _ZERO
    unpriced = output["failed"] + output["unreadable"]
    for model, usage in output["usage"]:
        cost = pricer.price_batch_line(model, usage, at=when)
        if cost.usd is None:
            unpriced += 1
        else:
            total += cost.usd
    return total, unpriced
