"""Dated model prices and limits, shipped as package data (``qasynth/data/prices.json``).

The table is read on first use (never at import) and cached. Every figure is an
estimate as of :data:`PRICES_AS_OF`; providers change prices, so anything shown
to a user should say so (see :func:`price_source_note`).

Model names are matched by longest prefix after dropping a ``provider:`` prefix
(``openai:gpt-4o-mini``) and a fine-tuned model's ``ft:`` prefix, so
``ft:gpt-4o-mini-2024-07-18:acme::abc123`` finds ``gpt-4o-mini``. A prefix only
matches at a name boundary (``-``, ``:``, ``@`` or the end): ``gpt-4.10`` does not
match ``gpt-4.1``.

The training arithmetic follows OpenAI's fine-tuning cookbook: tokens per
example (:func:`count_example_tokens`), the automatic epoch count
(:func:`default_epochs`) and billed tokens (:func:`billed_tokens`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tiktoken

from ._data import load_package_json
from ._errors import ConfigurationError

__all__ = [
    "CACHE_MIN_TOKENS",
    "PRICES_AS_OF",  # noqa: F822 (read lazily by the module __getattr__ below)
    "ModelPrice",
    "batch_price_factor",
    "billed_tokens",
    "cached_prefix_tokens",
    "count_example_tokens",
    "default_epochs",
    "model_price",
    "normalise_model_name",
    "price_source_note",
    "prices_as_of",
]

_DATA_FILE = "data/prices.json"
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_TOKENS_PER_REPLY = 3
_TARGET_EPOCHS = 3
_MIN_TARGET_EXAMPLES = 100
_MAX_TARGET_EXAMPLES = 25_000
_MIN_EPOCHS = 1
_MAX_EPOCHS = 25
_BOUNDARY = "-:@"
_PROVIDER = re.compile(r"[a-z_]+")  # openai, azure_openai, google_genai, ...


@dataclass(frozen=True)
class ModelPrice:
    """Published-style prices (US dollars per million tokens) and limits for one model."""

    model: str
    training_per_mtok: float | None
    input_per_mtok: float | None
    output_per_mtok: float | None
    max_tokens_per_example: int | None
    encoding: str | None
    cached_input_per_mtok: float | None = None
    """Input tokens served from the provider's prompt cache; ``None``: no cached rate."""

    def cost(
        self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0
    ) -> float | None:
        """US dollars for a run's tokens (``cached_input_tokens`` are part of
        ``input_tokens``, billed at the cached rate where there is one);
        ``None`` without input and output prices."""
        if self.input_per_mtok is None or self.output_per_mtok is None:
            return None
        cached = min(cached_input_tokens, input_tokens)
        cached_rate = (
            self.input_per_mtok
            if self.cached_input_per_mtok is None
            else (self.cached_input_per_mtok)
        )
        total = (input_tokens - cached) * self.input_per_mtok + cached * cached_rate
        return (total + output_tokens * self.output_per_mtok) / 1e6


@dataclass(frozen=True)
class _PriceTable:
    as_of: str
    source_note: str
    models: Mapping[str, ModelPrice]
    batch_price_factor: float = 1.0


def _number(entry: Mapping[str, Any], key: str, model: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigurationError(
            f"{_DATA_FILE}: {model}.{key} must be a non-negative number, got {value!r}"
        )
    return float(value)


def _parse_model(model: str, entry: Any) -> ModelPrice:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{_DATA_FILE}: entry for {model!r} must be an object")
    limit = _number(entry, "max_tokens_per_example", model)
    encoding = entry.get("encoding")
    return ModelPrice(
        model=model,
        training_per_mtok=_number(entry, "training_per_mtok", model),
        input_per_mtok=_number(entry, "input_per_mtok", model),
        output_per_mtok=_number(entry, "output_per_mtok", model),
        max_tokens_per_example=None if limit is None else int(limit),
        encoding=encoding if isinstance(encoding, str) and encoding else None,
        cached_input_per_mtok=_number(entry, "cached_input_per_mtok", model),
    )


@functools.cache
def _table() -> _PriceTable:
    data = load_package_json(_DATA_FILE)
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict) or not isinstance(data.get("as_of"), str):
        raise ConfigurationError(f"qasynth/{_DATA_FILE} needs an 'as_of' date and 'models'")
    parsed = {name.lower(): _parse_model(name, entry) for name, entry in models.items()}
    batch = _number(data, "batch_price_factor", "(table)")
    return _PriceTable(
        as_of=data["as_of"], source_note=str(data.get("source_note", "")), models=parsed,
        batch_price_factor=1.0 if batch is None else batch,
    )  # fmt: skip


def normalise_model_name(model: str) -> str:
    """``model`` lower-cased, without ``provider:`` and ``ft:`` prefixes."""
    name = model.strip().lower()
    while True:
        if name.startswith("ft:"):
            name = name[3:]
            continue
        provider, sep, rest = name.partition(":")
        if sep and rest and _PROVIDER.fullmatch(provider):
            name = rest
            continue
        return name


def model_price(model: str) -> ModelPrice | None:
    """Prices and limits for ``model`` (longest matching prefix), or ``None`` if unknown."""
    name = normalise_model_name(model)
    best: ModelPrice | None = None
    best_len = -1
    for prefix, price in _table().models.items():
        matches = name == prefix or (name.startswith(prefix) and name[len(prefix)] in _BOUNDARY)
        if matches and len(prefix) > best_len:
            best, best_len = price, len(prefix)
    return best


def batch_price_factor() -> float:
    """What the Batch API bills per token, as a fraction of the live price (0.5: half)."""
    return _table().batch_price_factor


def prices_as_of() -> str:
    """The date (ISO ``YYYY-MM-DD``) the price table was last checked."""
    return _table().as_of


def price_source_note() -> str:
    """The table's caveat: prices are estimates that change; check the provider's page."""
    return _table().source_note


def default_epochs(n_examples: int) -> int:
    """OpenAI's automatic epoch count, as published in its cookbook: 3, raised for small
    files so that about 100 examples are seen (at most 25 epochs), lowered for large
    files so that about 25,000 are (at least 1)."""
    if n_examples <= 0:
        return _TARGET_EPOCHS
    if n_examples * _TARGET_EPOCHS < _MIN_TARGET_EXAMPLES:
        return min(_MAX_EPOCHS, _MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * _TARGET_EPOCHS > _MAX_TARGET_EXAMPLES:
        return max(_MIN_EPOCHS, _MAX_TARGET_EXAMPLES // n_examples)
    return _TARGET_EPOCHS


def count_example_tokens(messages: Sequence[Mapping[str, Any]], encoding: tiktoken.Encoding) -> int:
    """Tokens of one chat example as OpenAI's cookbook counts them: 3 per message plus the
    tokens of its role, content and name (1 more for a name), plus 3 for the reply priming.
    Text that looks like a special token (``<|endoftext|>``) is counted as plain text."""
    total = _TOKENS_PER_REPLY
    for message in messages:
        total += _TOKENS_PER_MESSAGE
        for key in ("role", "content", "name"):
            value = message.get(key)
            if isinstance(value, str):
                total += len(encoding.encode(value, disallowed_special=()))
        if "name" in message:
            total += _TOKENS_PER_NAME
    return total


CACHE_MIN_TOKENS = 1024
"""The shortest prompt prefix OpenAI caches; longer prefixes are cached in steps of 128."""
_CACHE_STEP = 128


def cached_prefix_tokens(prefix_tokens: int) -> int:
    """Tokens of a repeated ``prefix_tokens``-long prompt prefix that OpenAI's prompt
    cache serves: none below 1,024, then 1,024 plus whole steps of 128."""
    if prefix_tokens < CACHE_MIN_TOKENS:
        return 0
    return CACHE_MIN_TOKENS + (prefix_tokens - CACHE_MIN_TOKENS) // _CACHE_STEP * _CACHE_STEP


def billed_tokens(counts: Iterable[int], epochs: int, limit: int | None = None) -> int:
    """Training tokens billed: ``epochs`` times each example's tokens, capped at ``limit``
    (tokens past the per-example limit are truncated, not trained or billed)."""
    return epochs * sum(min(count, limit) if limit else count for count in counts)


def __getattr__(name: str) -> str:
    # PRICES_AS_OF is read from the package data on first access, not at import.
    if name == "PRICES_AS_OF":
        return prices_as_of()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
