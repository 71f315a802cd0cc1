"""Letters counted per writing system, and the script that decides a text's language.

Kana, Hangul, Thai, Hebrew and Greek name their language (:data:`CODES`); Han
without kana is Chinese; Latin, Cyrillic, Arabic and Devanagari are shared by many
languages, for a model to tell apart. Kana and Hangul take the Han characters of a
text with them, unless the Latin words in it make a sentence of their own.
"""

from __future__ import annotations

import re
import string
from collections import Counter

from ._memo import WordMemo

__all__ = [
    "CODES",
    "NO_ASCII_LETTERS",
    "SCRIPT_FALLBACK",
    "dominant_script",
    "kana_or_hangul",
    "script_counts",
]

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
CODES = {name: code for name, _, _, code in _SCRIPTS}
# What the model may answer for a script it decides: anything else is noise.
SCRIPT_FALLBACK = {"cyrillic": "ru", "arabic": "ar", "devanagari": "hi"}

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


def script_counts(text: str) -> dict[str, int]:
    """Letters per writing system (the scripts share no character)."""
    counts = dict.fromkeys(_WEIGHTS, 0)
    if text.isascii():  # English and the like: count the letters in one C pass
        counts["latin"] = len(text) - len(text.translate(NO_ASCII_LETTERS))
        return counts
    ascii_part = text.encode("ascii", "ignore")
    counts["latin"] = len(ascii_part) - len(ascii_part.translate(None, _ASCII_LETTERS))
    characters = Counter(text)
    for script, count in zip(map(_script, characters), characters.values(), strict=True):
        if script is not None:
            counts[script] += count
    return counts


NO_ASCII_LETTERS = str.maketrans("", "", string.ascii_letters)
_ASCII_LETTERS = string.ascii_letters.encode()


def _script_of(char: str) -> str | None:
    """The writing system of a character that is not ASCII (ASCII letters are counted
    apart: ``None``)."""
    if char.isascii():
        return None
    match = _RUNS.match(char)
    return None if match is None else match.lastgroup


_script = WordMemo(_script_of, 1 << 16).__getitem__


def kana_or_hangul(text: str) -> str | None:
    """``"kana"`` or ``"hangul"`` when :func:`dominant_script` would find it because
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


def dominant_script(counts: dict[str, int], text: str) -> str | None:
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
