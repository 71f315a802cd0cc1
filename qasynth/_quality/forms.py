"""The forms words and names are compared in, and what a text says in figures.

Shared by the chunk analysis (:mod:`.chunks`), grounding and the number checks:
a name's normal form (numbers canonical, case and width folded, one kind of
apostrophe), a text's words in that form, function words, a light English stem,
and the scorelines ("3-1") and model codes ("X200") a text names.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from ._memo import WordMemo
from ._numbers import normalize_numbers
from .text import _tokens, normalize

__all__: list[str] = []

_EN_STOP_WORDS = (
    "a an the and or but of to in on at by for with from as into about over after before "
    "is are was were be been being am do does did done has have had having it its this "
    "that these those there their they them he him his she her hers we us our you your "
    "i me my which who whom whose what when where why how not no yes so than then also "
    "very can could will would shall should may might must s"
)
_HIRAGANA_ONLY = re.compile(r"[\u3041-\u309f]+")


@functools.lru_cache(maxsize=4096)  # names and questions are compared many times
def _name_form(text: str) -> str:
    return _apostrophes(_normal(text))


@functools.lru_cache(maxsize=4096)  # a question or an answer is read for words and names
def _normal(text: str) -> str:
    """``text`` with its numbers canonical, :func:`~qasynth._quality.text.normalize`-d."""
    return normalize(normalize_numbers(text))


def _words(text: str, lang: str) -> list[str]:
    """:func:`~qasynth._quality.text.word_tokens` of ``text`` (in language ``lang``),
    read from the same normalised text as :func:`_name_form`."""
    return _tokens(_normal(text), lang)


def _apostrophes(text: str) -> str:
    """Typographic apostrophes as "'" (``str.replace`` is faster than ``str.translate``
    on text that is not ASCII)."""
    return text.replace("’", "'").replace("‘", "'")


@functools.cache
def _stop_words() -> frozenset[str]:
    return frozenset(_EN_STOP_WORDS.split())


def _is_function_word(token: str) -> bool:
    return token in _stop_words() or _HIRAGANA_ONLY.fullmatch(token) is not None


_is_function = WordMemo(_is_function_word, 1 << 16).__getitem__


def _stem_of(token: str) -> str:
    """A light English stem, so that "died" ~ "die", "goals" ~ "goal", "cities" ~
    "city", "scoring" ~ "score" (other scripts are returned as they are)."""
    if not token.isascii() or not token.isalpha():
        return token
    if len(token) <= 3:
        return token[:-1] if len(token) == 3 and token.endswith("e") else token
    for suffix, keep in (
        ("ies", "y"),
        ("ied", "y"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if token.endswith(suffix) and len(token) - len(suffix) >= 2:
            if suffix == "s" and token.endswith("ss"):
                break
            token = token[: len(token) - len(suffix)] + keep
            break
    if len(token) > 3 and token[-1] == token[-2] and token[-1] not in "aeiouls":
        token = token[:-1]
    return token[:-1] if len(token) > 3 and token.endswith("e") else token


_stem = WordMemo(_stem_of, 1 << 16).__getitem__


# "(?=\d)" first: the look-behinds are tried only where a digit stands.
_SCORELINE = re.compile(r"(?=\d)(?<!\d)(?<!\d\.)(\d{1,3})\s*(?:-|–|—|対|:)\s*(\d{1,3})(?!\d|\.\d)")
_CLAUSE_BREAK = re.compile(r"[,;、，]|\s(?:and|while|whereas|but)\s")


def _scorelines(text: str) -> frozenset[tuple[str, str]]:
    """Scorelines ("1-0", "3対2") as unordered pairs: "0-1" is "1-0" said by the loser."""
    pairs = _SCORELINE.findall(unicodedata.normalize("NFKC", text))
    return frozenset((min(a, b, key=int), max(a, b, key=int)) for a, b in pairs)


def _scored_clauses(text: str) -> tuple[tuple[str, frozenset[tuple[str, str]]], ...]:
    if not _SCORELINE.search(unicodedata.normalize("NFKC", text)):
        return ()
    found = []
    for clause in _CLAUSE_BREAK.split(text):
        pairs = _scorelines(clause)
        if pairs:
            found.append((_name_form(clause), pairs))
    return tuple(found)


_CODE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{1,4})-?(\d{2,5})(?![0-9])")


def _codes(text: str) -> frozenset[tuple[str, str]]:
    """(lower-case prefix, digits) of each model code in ``text``."""
    if _CODE_END.search(text) is None:  # most texts: no letter before two digits
        return _NO_CODES
    return frozenset((prefix.lower(), digits) for prefix, digits in _CODE.findall(text))


# Two digits after a letter, or after a letter and "-": what every match of _CODE holds.
# A pattern that starts with "\d" is searched fast (the engine skips to the digits).
_CODE_END = re.compile(r"\d\d(?:(?<=[A-Za-z]..)|(?<=[A-Za-z]-..))")
_NO_CODES: frozenset[tuple[str, str]] = frozenset()
