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

_KNOWN_ENCODINGS = ("o200k_base", "cl100k_base", "p50k_base", "r50k_base", "gpt2")


def encoding_name_for_model(model: str | None) -> str:
    """The tiktoken encoding for a chat model name, from tiktoken's own table
    (``o200k_base`` for names it does not know, such as local models)."""
    if not model:
        return DEFAULT_ENCODING
    name = model.strip().lower()  # OpenAI model ids are lower-case
    provider, sep, rest = name.partition(":")
    if sep and rest and provider.lower() in ("openai", "azure_openai"):
        name = rest
    try:
        return tiktoken.encoding_name_for_model(name)
    except KeyError:
        logger.debug("no known tiktoken encoding for model %r; using %s", model, DEFAULT_ENCODING)
        return DEFAULT_ENCODING


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
