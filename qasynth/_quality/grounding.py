"""Lexical grounding: is an answer made of what its chunk says?

A cheap, model-free check. The score is the fraction of the answer's content
tokens (words; character bigrams for Japanese, Chinese and Thai) that also occur
in the chunk. Function words do not count: a short English stop-word list, and
for Japanese every bigram written only in hiragana (particles and endings such
as "は", "です", "した"). English words also match their chunk form without a
plural or possessive "s" ("goals" ~ "goal").

Numbers and names are checked one by one, because one wrong year or a name the
chunk never mentions makes an answer wrong however many words match. Numbers
are compared in canonical form ("１２,０００" = "12,000" = "12000" = "1万2000").
A name counts as present when the chunk contains it, or every word of it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .language import detect_language, is_unspaced
from .text import extract_names, extract_numbers, normalize, word_tokens

__all__ = ["Grounding", "grounding_score"]

_EN_STOP_WORDS = (
    "a an the and or but of to in on at by for with from as into about over after before "
    "is are was were be been being am do does did done has have had having it its this "
    "that these those there their they them he him his she her hers we us our you your "
    "i me my which who whom whose what when where why how not no yes so than then also "
    "very can could will would shall should may might must s"
)
_HIRAGANA_ONLY = re.compile(r"[\u3041-\u309f]+")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'"})


@dataclass(frozen=True)
class Grounding:
    """How well an answer is supported by its chunk."""

    score: float
    """Fraction of the answer's content tokens found in the chunk (1.0 if it has none)."""
    missing_numbers: tuple[str, ...] = ()
    """Numbers in the answer that the chunk does not contain (canonical form)."""
    missing_names: tuple[str, ...] = ()
    """Names in the answer that the chunk does not contain."""

    def supported(self, threshold: float = 0.5) -> bool:
        """Score at least ``threshold``, and no missing numbers or names."""
        return self.score >= threshold and not self.missing_numbers and not self.missing_names


def grounding_score(answer: str, chunk_text: str, *, lang: str | None = None) -> Grounding:
    """Compare ``answer`` with ``chunk_text``; ``lang`` is the answer's language
    (detected from the answer, or the chunk if the answer has no letters)."""
    if lang is None:
        lang = detect_language(answer)
        if lang == "und":
            lang = detect_language(chunk_text)
    content = [token for token in word_tokens(answer, lang) if not _is_function_word(token)]
    chunk_tokens = set(word_tokens(chunk_text, lang))
    chunk_stems = {_stem(token) for token in chunk_tokens}
    found = sum(1 for token in content if token in chunk_tokens or _stem(token) in chunk_stems)
    score = found / len(content) if content else 1.0
    return Grounding(
        score=score,
        missing_numbers=tuple(sorted(extract_numbers(answer) - extract_numbers(chunk_text))),
        missing_names=_missing_names(answer, chunk_text),
    )


@functools.cache
def _stop_words() -> frozenset[str]:
    return frozenset(_EN_STOP_WORDS.split())


def _is_function_word(token: str) -> bool:
    return token in _stop_words() or _HIRAGANA_ONLY.fullmatch(token) is not None


def _stem(token: str) -> str:
    """Drop a plural or possessive "s" from a longer Latin word."""
    if len(token) > 3 and token.isascii() and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


def _missing_names(answer: str, chunk_text: str) -> tuple[str, ...]:
    chunk = normalize(chunk_text).translate(_APOSTROPHES)
    spaced = not is_unspaced(detect_language(chunk))
    chunk_words = set(re.findall(r"[\w'-]+", chunk))
    missing = []
    for name in extract_names(answer):
        form = normalize(name).translate(_APOSTROPHES)
        if _contains(chunk, form, spaced):
            continue
        if spaced and all(word in chunk_words for word in form.split()):
            continue
        missing.append(name)
    return tuple(sorted(missing))


def _contains(chunk: str, form: str, spaced: bool) -> bool:
    if not spaced or not form[:1].isascii():
        return form in chunk
    return re.search(rf"(?<![\w]){re.escape(form)}(?![\w])", chunk) is not None
