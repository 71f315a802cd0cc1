"""Offline, script-level language detection.

Letters are counted per writing system (digits, punctuation and symbols are
ignored) and the script with the most weight wins:

- any kana means Japanese, and Han characters then count as Japanese too;
- Han without kana is Chinese; Hangul is Korean;
- Cyrillic, Arabic, Thai, Hebrew, Greek and Devanagari map to ``ru``, ``ar``,
  ``th``, ``he``, ``el`` and ``hi``;
- Latin script is English unless a few very common function words point
  clearly to French, German, Spanish, Portuguese or Italian.

Han, kana and Hangul syllables weigh twice as much as an alphabetic letter (one
such character carries roughly what a short word does), so "FIFAワールドカップ
2023で優勝したのは？" is Japanese and an English sentence quoting one Japanese
word stays English. Text without letters is ``"und"``.
"""

from __future__ import annotations

import functools
import re

__all__ = ["detect_language", "is_cjk", "is_unspaced", "same_language"]

UNDETERMINED = "und"

_KANA = "\u3040-\u309f\u30a0-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_HAN = "\u3005-\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff"
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff\uff21-\uff3a\uff41-\uff5a"

# (group name, character class, weight per character, language code)
_SCRIPTS: tuple[tuple[str, str, int, str], ...] = (
    ("kana", _KANA, 2, "ja"),
    ("han", _HAN, 2, "zh"),
    ("hangul", _HANGUL, 2, "ko"),
    ("latin", _LATIN, 1, "en"),
    ("cyrillic", "\u0400-\u052f", 1, "ru"),
    ("arabic", "\u0620-\u064a\u066e-\u06d3\u06d5\u06fa-\u06fc\u0750-\u077f\ufb50-\ufefc", 1, "ar"),
    ("thai", "\u0e01-\u0e4e", 1, "th"),
    ("hebrew", "\u05d0-\u05ea\u05f0-\u05f2", 1, "he"),
    ("greek", "\u0386\u0388-\u03ff\u1f00-\u1ffc", 1, "el"),
    ("devanagari", "\u0900-\u0963\u0971-\u097f", 1, "hi"),
)
_RUNS = re.compile("|".join(f"(?P<{name}>[{chars}]+)" for name, chars, _, _ in _SCRIPTS))
_WEIGHTS = {name: weight for name, _, weight, _ in _SCRIPTS}
_CODES = {name: code for name, _, _, code in _SCRIPTS}

_CJK_CODES = frozenset({"ja", "zh", "ko"})
_UNSPACED_CODES = frozenset({"ja", "zh", "th"})

# Frequent function words; a language other than English must show at least two
# of its own and more than English shows before it is chosen.
_HINT_WORDS = {
    "en": "a an the and of to is are was were what who which when where how did does do in "
    "for with that this from by",
    "fr": "le la les des du de est et qui quel quelle quels quelles quand où une un dans pour "
    "avec ce cette sont été au aux",
    "de": "der die das und ist wer was wann wo wie welche welcher welches nicht ein eine den "
    "dem mit von im zu hat wurde",
    "es": "el la los las del de que quién quiénes cuál cuándo dónde cómo es una un por para "
    "con fue qué en",
    "pt": "o a os as do da dos das de que quem qual quando onde como é um uma para com foi não em",
    "it": "il lo la gli le del della di che chi quale quando dove come è un una per con fu "
    "sono non",
}
_LATIN_WORDS = re.compile(f"[{_LATIN}]+")


def detect_language(text: str) -> str:
    """The ISO 639-1 code of the dominant script of ``text`` (``"und"`` if no letters)."""
    counts = dict.fromkeys(_WEIGHTS, 0)
    for match in _RUNS.finditer(text):
        group = match.lastgroup
        if group is not None:
            counts[group] += match.end() - match.start()
    if counts["kana"]:
        counts["kana"] += counts["han"]
        counts["han"] = 0
    elif counts["hangul"]:
        counts["hangul"] += counts["han"]
        counts["han"] = 0
    best, weight = max(((name, n * _WEIGHTS[name]) for name, n in counts.items()), key=_second)
    if weight == 0:
        return UNDETERMINED
    if best == "latin":
        return _latin_language(text)
    return _CODES[best]


def _second(item: tuple[str, int]) -> int:
    return item[1]


def _latin_language(text: str) -> str:
    words = [word.lower() for word in _LATIN_WORDS.findall(text)]
    hits = {code: sum(word in hints for word in words) for code, hints in _hints().items()}
    english = hits.pop("en")
    code, count = max(hits.items(), key=_second)
    return code if count >= 2 and count > english else "en"


@functools.cache
def _hints() -> dict[str, frozenset[str]]:
    return {code: frozenset(words.split()) for code, words in _HINT_WORDS.items()}


def same_language(a: str, b: str) -> bool:
    """Whether two texts are in the same language; text without letters matches any."""
    first, second = detect_language(a), detect_language(b)
    return UNDETERMINED in (first, second) or first == second


def is_cjk(code: str) -> bool:
    """Whether a language code is Chinese, Japanese or Korean."""
    return code in _CJK_CODES


def is_unspaced(code: str) -> bool:
    """Whether a language is written without spaces between words (ja, zh, th)."""
    return code in _UNSPACED_CODES
