"""Numbers in an answer against the part of the chunk its question is about.

A number must stand in that part of the text, and count the same thing there:
"36 years" is wrong where the text says "20 years old ...; Djokovic was 36".
Rounded ("51%" for "50.9%"), derived ("six" for "half of twelve") and spanned
("1900–1902, 2 years") figures pass. A scoreline must be the one the text gives
the result asked about.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Sequence
from decimal import Decimal, InvalidOperation
from itertools import compress

from .chunks import _OUTCOME_SHARE, ChunkAnalysis, _Sentence
from .forms import (
    _CLAUSE_BREAK,
    _codes,
    _is_function,
    _name_form,
    _scorelines,
    _stem,
)
from .text import _FIRST_CHARACTER, extract_names, extract_numbers, word_tokens

__all__: list[str] = []

_ORDINAL_SUFFIXES = frozenset({"st", "nd", "rd", "th"})
_DERIVED = re.compile(
    r"(?i)(?<!first\s)(?<!second\s)\b(?:half|halved|twice|double[ds]?|doubling|triple[ds]?|tripled|third|quarter|"
    r"percent|per\s+cent)\b|%|半分|半数|倍|分の"
)
_FACTORS = (Decimal(2), Decimal("0.5"), Decimal(3), Decimal(1) / 3, Decimal(4), Decimal("0.25"))


def missing_numbers(
    answer: str,
    question: str,
    analysis: ChunkAnalysis,
    focus: Iterable[_Sentence],
    name: str = "",
    *,
    tokens: Sequence[str] | None = None,
) -> tuple[str, ...]:
    """Numbers of the answer (not of the question) that the focus lacks, or that the
    focus gives to something else: "36 years" where the text says "20 years old ...;
    Djokovic was 36" (the text counts years with another number). ``tokens`` are the
    answer's :func:`word_tokens` in the chunk's language, if already known."""
    stated = extract_numbers(answer)
    wanted = stated - extract_numbers(question)
    if not wanted:
        return ()
    focus = tuple(focus)
    near = frozenset().union(*(sentence.numbers for sentence in focus))
    if tokens is None:
        tokens = word_tokens(answer, analysis.lang)
    # What the focus counts, what the answer's subject counts there and the figures
    # a derived number may come from are worked out only for a number that needs
    # them: most numbers of an answer are in the focus, and count nothing or the
    # same thing there.
    counted: dict[str, set[str]] | None = None
    own: dict[str, set[str]] | None = None
    missing = []
    for number, unit in _number_units(tokens):
        if number not in wanted:
            continue
        if number in near or _rounded_from(number, near):
            if unit is None:
                continue
            if counted is None:
                subject = _Subject(question)
                counted = _counted(_about_asked(s, subject, analysis.lang) for s in focus)
            if unit not in counted:
                continue
            if number in counted[unit]:
                if own is None:
                    own = _clause_counts(answer, name, focus) if name else {}
                if number in own.get(unit, counted[unit]):
                    continue
        elif _derived_from(number, _bases(answer, focus, near)) or _span_of(number, stated & near):
            continue
        missing.append(number)
    return tuple(sorted(set(missing)))


def _bases(answer: str, focus: Sequence[_Sentence], near: frozenset[str]) -> frozenset[str]:
    """The numbers a derived figure may come from: any number of the focus when the
    answer derives it ("twice the 12 boats"), else those of a sentence that does
    ("Twelve boats retired; half of them ...") and of the one before it ("first
    half" and "second half" are times, not derivations)."""
    return near if _derives(answer) else _derivable(focus)


class _Subject:
    """What a question names its subject by: model codes ("X200") and names of more
    than one word (worked out once per question, then compared with each sentence)."""

    def __init__(self, question: str) -> None:
        self.codes = _codes(question)
        self.names = [name for name in extract_names(question) if " " in name]
        self.words = [name.split() for name in self.names]


def _about_asked(sentence: _Sentence, subject: _Subject, lang: str) -> Sequence[str]:
    """The words of ``sentence`` that may be about what the question asks: a sentence
    (or clause) about a sibling of the asked thing ("the X100 has 8 GB" when the
    question asks about the X200; "the Southgate Bridge" for the Northgate Bridge)
    counts nothing for it."""
    if not subject.codes and not subject.words:  # nothing to tell siblings by
        return sentence.sequence
    if not _siblings_in(sentence.nfkc, sentence.codes, lambda: sentence.names, subject):
        return sentence.sequence
    if not _asked_in(sentence.text, sentence.codes, subject):
        return ()
    kept = [
        clause
        for clause in _CLAUSE_BREAK.split(sentence.text)
        if _asked_in(clause, _codes(clause), subject)
        or not _siblings_in(
            unicodedata.normalize("NFKC", clause),
            _codes(clause),
            functools.partial(extract_names, clause),
            subject,
        )
    ]
    return word_tokens(" , ".join(kept), lang)


def _siblings_in(
    normalized: str,
    codes: Collection[tuple[str, str]],
    names: Callable[[], Iterable[str]],
    subject: _Subject,
) -> bool:
    """Whether a text (NFKC-``normalized``, as names are read; with its ``codes``, and
    its ``names`` when asked for) names something of the same kind as the question's
    subject but not it: another model number, or a name ending in the same word."""
    if (
        codes
        and subject.codes
        and any(
            prefix == other_prefix and digits != other_digits
            for prefix, digits in codes
            for other_prefix, other_digits in subject.codes
        )
    ):
        return True
    if not any(other[-1] in normalized for other in subject.words):
        return False  # no name of the text can end in a word of the subject's names
    return any(
        len(words) > 1 and words[-1] == other[-1] and words != other
        for words in (name.split() for name in names())
        for other in subject.words
    )


def _asked_in(text: str, codes: frozenset[tuple[str, str]], subject: _Subject) -> bool:
    return bool(codes & subject.codes) or any(name in text for name in subject.names)


@functools.lru_cache(maxsize=4096)  # focus sentences come back for many questions
def _derives(text: str) -> bool:
    """Whether ``text`` derives a figure from another ("half", "twice", "%")."""
    return _DERIVED.search(text) is not None


def _derivable(focus: Sequence[_Sentence]) -> frozenset[str]:
    bases: set[str] = set()
    for i, sentence in enumerate(focus):
        if _derives(sentence.text):
            bases |= sentence.numbers | (focus[i - 1].numbers if i else frozenset())
    return frozenset(bases)


def _clause_counts(answer: str, name: str, focus: Sequence[_Sentence]) -> dict[str, set[str]]:
    """What the clauses naming the answer's subject count ("Carvajal ... in the 74th
    minute and Vinícius ... in the 83rd minute": Carvajal's minute is 74)."""
    form = _name_form(name)
    clauses = [
        clause
        for sentence in focus
        if form in sentence.normalized
        for clause in sentence.normalized_clauses
        if form in clause
    ]
    return _counted(_clause_tokens(clause) for clause in clauses)


@functools.lru_cache(maxsize=1024)  # a clause naming a subject serves many questions
def _clause_tokens(clause: str) -> tuple[str, ...]:
    return tuple(word_tokens(clause, "en", numbers_done=True))


def wrong_scorelines(
    answer: str,
    question: str,
    analysis: ChunkAnalysis,
    scores: dict[int, float],
    indices: list[int],
    name: str,
) -> tuple[str, ...]:
    """Scorelines of the answer that the text does not give the result asked about:
    the clauses that name the answer's team (or all clauses) in the most relevant
    sentences that give any scoreline must contain it."""
    wanted = _scorelines(answer) - _scorelines(question)
    if not wanted:
        return ()
    name = _name_form(name)
    candidates: list[tuple[float, frozenset[tuple[str, str]]]] = []
    for i in indices:
        for clause, pairs in analysis.sentences[i].clauses:
            if not name or name in clause:
                candidates.append((scores.get(i, 0.0), pairs))
    if not candidates:
        return ()
    top = max(score for score, _ in candidates)
    known = frozenset().union(*(p for score, p in candidates if score >= _OUTCOME_SHARE * top))
    return tuple(f"{a}-{b}" for a, b in sorted(wanted - known))


def _number_units(tokens: Sequence[str]) -> list[tuple[str, str | None]]:
    """Each number token with the stem of the word it counts ("12 boats" → ("12",
    "boat")), looking past up to two function words ("50.9% of the votes")."""
    found: list[tuple[str, str | None]] = []
    # The numbers' positions, found without a step of Python per token (a Japanese
    # sentence is a hundred bigrams and a few numbers).
    for i in compress(range(len(tokens)), map(str.isdigit, map(_FIRST_CHARACTER, tokens))):
        token = tokens[i]
        unit = None
        for following in tokens[i + 1 : i + 5]:
            if following[:1].isdigit():
                break
            if following in _ORDINAL_SUFFIXES:
                continue
            first = following[0]
            if "\u3040" <= first <= "\u30ff" or "\u3400" <= first <= "\u9fff":  # CJK
                # a counter: the first character of the CJK run ("年", "人", "つ"), not
                # hiragana (a particle)
                unit = first if first == "つ" or not "\u3041" <= first <= "\u309f" else None
                break
            if not _is_function(following):
                unit = _stem(following)
                break
        found.append((token, unit))
    return found


def _counted(sequences: Iterable[Sequence[str]]) -> dict[str, set[str]]:
    """For each unit word of the text, the numbers it is counted with."""
    counted: dict[str, set[str]] = {}
    for sequence in sequences:
        for number, unit in _counts(tuple(sequence)):
            counted.setdefault(unit, set()).add(number)
    return counted


@functools.lru_cache(maxsize=1024)  # a focus sentence serves many questions
def _counts(sequence: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(number, unit) of each number in ``sequence`` that counts something."""
    return tuple((number, unit) for number, unit in _number_units(sequence) if unit is not None)


def _span_of(number: str, stated: set[str]) -> bool:
    """Whether ``number`` is the distance between two numbers the answer states with
    it ("1900–1902, 2 years")."""
    value = Decimal(number)
    values = [Decimal(other) for other in stated]
    return any(abs(a - b) == value for a in values for b in values if a != b)


def _rounded_from(number: str, known: Iterable[str]) -> bool:
    """Whether ``number`` is one of ``known`` rounded ("51" for "50.9")."""
    places = len(number.partition(".")[2])
    value = Decimal(number)
    return any(
        len(other.partition(".")[2]) > places and round(Decimal(other), places) == value
        for other in known
    )


def _derived_from(number: str, known: Iterable[str]) -> bool:
    try:
        value = Decimal(number)
        return any(
            abs(Decimal(other) * factor - value) < Decimal("0.01")
            for other in known
            for factor in _FACTORS
        )
    except InvalidOperation:  # pragma: no cover - canonical numbers always parse
        return False
