"""Choosing and loading the tiktoken encoding used to measure text.

The encoding follows the chat model's name, can be named explicitly, or can be
passed in as a ready :class:`tiktoken.Encoding` (useful offline and for other
tokenizers). tiktoken downloads its BPE files on first use; when that fails we
raise :class:`~qasynth._errors.EncodingUnavailableError` with the way out.
"""

from __future__ import annotations

import functools
import logging

import tiktoken

from ._errors import ConfigurationError, EncodingUnavailableError

__all__ = ["EncodingLike", "encoding_name_for_model", "resolve_encoding"]

logger = logging.getLogger("qasynth")

EncodingLike = str | tiktoken.Encoding

DEFAULT_ENCODING = "o200k_base"

# Longest prefix wins; names are compared after dropping a "provider:" prefix
# and a fine-tuned model's "ft:" prefix.
_MODEL_ENCODINGS: tuple[tuple[str, str], ...] = (
    ("gpt-4o", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("gpt-oss", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"),
    ("text-embedding-ada-002", "cl100k_base"),
)

_KNOWN_ENCODINGS = ("o200k_base", "cl100k_base", "p50k_base", "r50k_base", "gpt2")


def encoding_name_for_model(model: str | None) -> str:
    """The tiktoken encoding name for a chat model name (``o200k_base`` if unknown)."""
    if not model:
        return DEFAULT_ENCODING
    name = model.strip().lower()
    if name.startswith("ft:"):
        name = name[3:]
    if ":" in name:
        provider, _, rest = name.partition(":")
        if provider.isalpha() and rest:
            name = rest
    best = ""
    found = DEFAULT_ENCODING
    for prefix, encoding in _MODEL_ENCODINGS:
        if name.startswith(prefix) and len(prefix) > len(best):
            best, found = prefix, encoding
    if not best:
        logger.debug("no known tiktoken encoding for model %r; using %s", model, found)
    return found


@functools.lru_cache(maxsize=8)
def _load(name: str) -> tiktoken.Encoding:
    try:
        return tiktoken.get_encoding(name)
    except ValueError as exc:
        known = ", ".join(_KNOWN_ENCODINGS)
        raise ConfigurationError(
            f"unknown tiktoken encoding {name!r}; use one of: {known}"
        ) from exc
    except Exception as exc:  # tiktoken raises requests/OS errors when offline
        raise EncodingUnavailableError(
            f"tiktoken could not load the {name!r} encoding ({type(exc).__name__}); "
            "it downloads its files on first use. Set TIKTOKEN_CACHE_DIR to a folder that "
            "holds them, or pass encoding=<a tiktoken.Encoding> to measure text offline."
        ) from exc


def resolve_encoding(
    encoding: EncodingLike | None = None, *, model: str | None = None
) -> tiktoken.Encoding:
    """Return an encoding object: the one given, the one named, or the model's."""
    if isinstance(encoding, tiktoken.Encoding):
        return encoding
    name = encoding or encoding_name_for_model(model)
    return _load(name)
