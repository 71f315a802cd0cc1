"""Lexical grounding: is an answer made of what its chunk says about the question?

A cheap, model-free check in three parts:

- **Score:** the fraction of the answer's content tokens (words; character bigrams
  for Japanese, Chinese and Thai) that occur in the chunk. Function words do not
  count (a short English stop-word list; for Japanese every bigram written only in
  hiragana). Words match their chunk form without a plural or possessive "s", and
  numbers are compared in one form ("twelve" = "12", "１２,０００" = "12,000").
- **Numbers and names,** one by one, because one wrong year or a name the text
  never links to the question makes an answer wrong however many words match.
  Given the question, they must appear in the *part of the chunk the question is
  about*: the sentences that best match the question (rare words weigh more) and
  their neighbours. A name or number from elsewhere in the chunk does not count.
  Numbers and names the question itself contains are looked up in the whole chunk.
  A derived figure ("half of 24" → 12, "twice") is accepted when the answer or the
  text says half, twice, double, a third or a quarter.
- **Roles:** given a question that asks who won (or lost), an answer naming the
  side the text says lost (or won) is reported in ``wrong_roles``.

Analysing a chunk (sentences, tokens, numbers, names) is done once per chunk text
(:func:`analyze_chunk`, cached) and shared by every pair of the chunk.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .language import detect_language, is_unspaced
from .roles import Outcome, asked_role, outcomes
from .text import (
    extract_names,
    extract_numbers,
    normalize,
    normalize_numbers,
    numbers_and_canonical_text,
    word_tokens,
)

__all__ = ["ChunkAnalysis", "Grounding", "analyze_chunk", "grounding_score"]

_EN_STOP_WORDS = (
    "a an the and or but of to in on at by for with from as into about over after before "
    "is are was were be been being am do does did done has have had having it its this "
    "that these those there their they them he him his she her hers we us our you your "
    "i me my which who whom whose what when where why how not no yes so than then also "
    "very can could will would shall should may might must s"
)
_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
_HIRAGANA_ONLY = re.compile(r"[\u3041-\u309f]+")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'"})
_SENTENCE_BREAK = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？])|\n+")
_DERIVED = re.compile(
    r"(?i)\b(?:half|halved|twice|double[ds]?|doubling|triple[ds]?|tripled|third|quarter|"
    r"percent|per\s+cent)\b|%|半分|半数|倍|分の"
)
_FACTORS = (Decimal(2), Decimal("0.5"), Decimal(3), Decimal(1) / 3, Decimal(4), Decimal("0.25"))
_NEIGHBOURS = 1
_MAX_FOCUS = 4
_MIN_GAIN = 0.15
_CARRY = 0.8
_SHORT_ANSWER_WORDS = 6
_KEY_WEIGHT = 3.0
_OUTCOME_SHARE = 0.9


@dataclass(frozen=True)
class Grounding:
    """How well an answer is supported by its chunk."""

    score: float
    """Fraction of the answer's content tokens found in the chunk (1.0 if it has none)."""
    missing_numbers: tuple[str, ...] = ()
    """Numbers in the answer that the chunk (or the part the question is about) lacks."""
    missing_names: tuple[str, ...] = ()
    """Names in the answer that the chunk (or the part the question is about) lacks."""
    wrong_roles: tuple[str, ...] = ()
    """Names the answer gives a role (winner, loser) that the text gives the other side."""

    def supported(self, threshold: float = 0.5) -> bool:
        """Score at least ``threshold``, and no missing numbers or names, no swapped roles."""
        return (
            self.score >= threshold
            and not self.missing_numbers
            and not self.missing_names
            and not self.wrong_roles
        )


@dataclass(frozen=True)
class _Sentence:
    text: str
    normalized: str
    tokens: frozenset[str]
    sequence: tuple[str, ...]
    keys: frozenset[str]
    numbers: frozenset[str]
    outcomes: tuple[Outcome, ...]
    clauses: tuple[tuple[str, frozenset[tuple[str, str]]], ...]
    """(normalised clause, its scorelines) for each clause with a scoreline."""


@dataclass(frozen=True)
class ChunkAnalysis:
    """Everything grounding needs from a chunk, computed once (see :func:`analyze_chunk`)."""

    text: str
    lang: str
    sentences: tuple[_Sentence, ...]
    tokens: frozenset[str]
    stems: frozenset[str]
    numbers: frozenset[str]
    normalized: str
    words: frozenset[str]
    weights: dict[str, float]
    index: dict[str, tuple[int, ...]]

    @classmethod
    def of(cls, text: str) -> ChunkAnalysis:
        """Analyse ``text`` (uncached; prefer :func:`analyze_chunk`)."""
        lang = detect_language(text)
        sentences = tuple(_sentence(part, lang) for part in _SENTENCE_BREAK.split(text) if part)
        sentences = tuple(sentence for sentence in sentences if sentence.tokens)
        tokens = frozenset().union(*(sentence.tokens for sentence in sentences))
        where: dict[str, list[int]] = {}
        for position, sentence in enumerate(sentences):
            for key in sentence.keys:
                where.setdefault(key, []).append(position)
        total = max(len(sentences), 1)
        normalized = " ".join(sentence.normalized for sentence in sentences)
        return cls(
            text=text,
            lang=lang,
            sentences=sentences,
            tokens=tokens,
            stems=frozenset(_stem(token) for token in tokens),
            numbers=frozenset().union(*(sentence.numbers for sentence in sentences)),
            normalized=normalized,
            words=frozenset(re.findall(r"[\w'-]+", normalized)),
            weights={token: math.log(1 + total / len(at)) for token, at in where.items()},
            index={token: tuple(at) for token, at in where.items()},
        )

    def locate(self, question: str) -> tuple[dict[int, float], list[int]]:
        """(relevance of each sentence that shares words with ``question``, the
        indices of the focus sentences). Relevance is the weight (rarer words weigh
        more) of the question's words a sentence contains; the sentence right after
        a relevant one keeps most of that relevance (its subject carries on). The
        focus is the best-matching sentence, then those that add question words it
        lacks (the subject may be named in one sentence, the asked fact in the
        next), each with its neighbours; all sentences when nothing matches."""
        wanted = {token for token in word_tokens(question, self.lang) if not _is_function(token)}
        wanted |= {_stem(token) for token in wanted}
        matches: dict[int, set[str]] = {}
        for token in wanted:
            for index in self.index.get(token, ()):
                matches.setdefault(index, set()).add(token)
        own = {i: sum(self.weights[t] for t in keys) for i, keys in matches.items()}
        scores = dict(own)
        for i, score in own.items():
            if i + 1 < len(self.sentences):
                scores[i + 1] = max(scores.get(i + 1, 0.0), _CARRY * score)
        return scores, self._focus(matches)

    def _focus(self, matches: dict[int, set[str]]) -> list[int]:
        total = sum(self.weights[t] for t in set().union(*matches.values()))
        if total <= 0.0:
            return list(range(len(self.sentences)))
        # A sentence joins the focus when it adds a good share of the question's
        # words, or one word no other sentence has (the asked fact's own word).
        enough = min(_MIN_GAIN * total, 0.9 * math.log(1 + len(self.sentences)))
        covered: set[str] = set()
        chosen: set[int] = set()
        for _ in range(_MAX_FOCUS):
            gains = {i: sum(self.weights[t] for t in keys - covered) for i, keys in matches.items()}
            best = max(sorted(gains), key=lambda i: (gains[i], len(matches[i])))
            if gains[best] < enough:
                break
            covered |= matches[best]
            low, high = best - _NEIGHBOURS, best + _NEIGHBOURS + 1
            chosen.update(range(max(low, 0), min(high, len(self.sentences))))
        return sorted(chosen)

    def focus(self, question: str) -> tuple[_Sentence, ...]:
        """The sentences ``question`` is about and their neighbours (see :meth:`locate`)."""
        return tuple(self.sentences[i] for i in self.locate(question)[1])

    def told_outcomes(self, question: str) -> list[Outcome]:
        """The results stated in the most relevant focus sentences that state any."""
        return self._told(*self.locate(question))

    def _told(self, scores: dict[int, float], focus: list[int]) -> list[Outcome]:
        stating = [i for i in focus if self.sentences[i].outcomes]
        if not stating:
            return []
        top = max(scores.get(i, 0.0) for i in stating)
        return [
            outcome
            for i in stating
            if scores.get(i, 0.0) >= _OUTCOME_SHARE * top
            for outcome in self.sentences[i].outcomes
        ]


@functools.lru_cache(maxsize=256)
def analyze_chunk(text: str) -> ChunkAnalysis:
    """The analysis of a chunk's text, computed once and reused by every pair of it."""
    return ChunkAnalysis.of(text)


def grounding_score(
    answer: str,
    chunk: str | ChunkAnalysis,
    *,
    question: str | None = None,
    lang: str | None = None,
) -> Grounding:
    """Compare ``answer`` with ``chunk`` (its text, or its :func:`analyze_chunk`).

    With ``question``, names and numbers must come from the part of the chunk the
    question is about, and a winner/loser swap is reported. ``lang`` is the
    answer's language (detected from the answer, else the chunk's)."""
    analysis = chunk if isinstance(chunk, ChunkAnalysis) else analyze_chunk(chunk)
    if lang is None:
        lang = detect_language(answer)
        if lang == "und":
            lang = analysis.lang
    tokens = analysis.tokens
    if is_unspaced(lang) != is_unspaced(analysis.lang):
        tokens = frozenset(word_tokens(analysis.text, lang))
    stems = analysis.stems if tokens is analysis.tokens else frozenset(map(_stem, tokens))
    if question is None:
        focus, told, nearby, asked = analysis.sentences, [], [], ""
        name_focus = focus
    else:
        scores, indices = analysis.locate(question)
        focus = tuple(analysis.sentences[i] for i in indices)
        told, asked = analysis._told(scores, indices), question
        nearby = [o for sentence in focus for o in sentence.outcomes]
        # A name must stand in a sentence that shares words with the question or
        # follows one, not only in the sentence before (another person, another role).
        name_focus = tuple(analysis.sentences[i] for i in indices if scores.get(i)) or focus
    missing_numbers = _missing_numbers(answer, asked, analysis, focus)
    if question is not None:
        missing_numbers += _wrong_scorelines(answer, asked, analysis, scores, indices)
    return Grounding(
        score=_score(answer, lang, tokens, stems, missing_numbers),
        missing_numbers=missing_numbers,
        missing_names=_missing_names(answer, asked, analysis, name_focus),
        wrong_roles=_wrong_roles(answer, asked, told, nearby),
    )


def _score(
    answer: str,
    lang: str,
    tokens: frozenset[str],
    stems: frozenset[str],
    missing_numbers: tuple[str, ...],
) -> float:
    """Share of the answer's content tokens found in the chunk. A number counts as
    found when the number check accepted it (a derived figure too); numbers and
    capitalised words (names) weigh three times as much as other words, so a short
    reworded answer that gets its name or figure right is not sunk by its wording."""
    key = {form.lower() for name in _answer_names(answer) for form in name.split()}
    total = found = 0.0
    for token in word_tokens(answer, lang):
        if _is_function(token):
            continue
        number = token[:1].isdigit()
        weight = _KEY_WEIGHT if number or token in key else 1.0
        total += weight
        if token in tokens or _stem(token) in stems or (number and token not in missing_numbers):
            found += weight
    return found / total if total else 1.0


def _sentence(text: str, lang: str) -> _Sentence:
    numbers, numbered = numbers_and_canonical_text(text)
    sequence = tuple(word_tokens(numbered, lang, numbers_done=True))
    tokens = frozenset(sequence)
    return _Sentence(
        text=text,
        normalized=normalize(numbered).translate(_APOSTROPHES),
        tokens=tokens,
        sequence=sequence,
        keys=tokens | {_stem(token) for token in tokens},
        numbers=frozenset(numbers),
        outcomes=tuple(outcomes(text)),
        clauses=_scored_clauses(text),
    )


_SCORELINE = re.compile(r"(?<!\d)(?<!\d\.)(\d{1,3})\s*(?:-|–|—|対|:)\s*(\d{1,3})(?!\d|\.\d)")
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


def _name_form(text: str) -> str:
    return normalize(normalize_numbers(text)).translate(_APOSTROPHES)


def _missing_numbers(
    answer: str, question: str, analysis: ChunkAnalysis, focus: Iterable[_Sentence]
) -> tuple[str, ...]:
    """Numbers of the answer (not of the question) that the focus lacks, or that the
    focus gives to something else: "36 years" where the text says "20 years old ...;
    Djokovic was 36" (the text counts years with another number)."""
    wanted = extract_numbers(answer) - extract_numbers(question)
    if not wanted:
        return ()
    focus = tuple(focus)
    near = frozenset().union(*(sentence.numbers for sentence in focus))
    derived = _DERIVED.search(answer) or any(_DERIVED.search(s.text) for s in focus)
    counted = _counted(s.sequence for s in focus)
    missing = []
    for number, unit in _number_units(word_tokens(answer, analysis.lang)):
        if number not in wanted:
            continue
        if number in near or _rounded_from(number, near):
            if unit is None or unit not in counted or number in counted[unit]:
                continue
        elif derived and _derived_from(number, near):
            continue
        elif _span_of(number, extract_numbers(answer) & near):
            continue
        missing.append(number)
    return tuple(sorted(set(missing)))


def _wrong_scorelines(
    answer: str,
    question: str,
    analysis: ChunkAnalysis,
    scores: dict[int, float],
    indices: list[int],
) -> tuple[str, ...]:
    """Scorelines of the answer that the text does not give the result asked about:
    the clauses that name the answer's team (or all clauses) in the most relevant
    sentences that give any scoreline must contain it."""
    wanted = _scorelines(answer) - _scorelines(question)
    if not wanted:
        return ()
    name = _name_form(_main_name(answer, _name_form(question)))
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
    for i, token in enumerate(tokens):
        if not token[:1].isdigit():
            continue
        unit = None
        for following in tokens[i + 1 : i + 4]:
            if following[:1].isdigit():
                break
            if not _is_function(following):
                # a counter: the first character of a CJK run ("年", "人", "得")
                unit = following[0] if _CJK_CHAR.match(following) else _stem(following)
                break
        found.append((token, unit))
    return found


def _counted(sequences: Iterable[Sequence[str]]) -> dict[str, set[str]]:
    """For each unit word of the text, the numbers it is counted with."""
    counted: dict[str, set[str]] = {}
    for sequence in sequences:
        for number, unit in _number_units(sequence):
            if unit is not None:
                counted.setdefault(unit, set()).add(number)
    return counted


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
    for other in known:
        if len(other.partition(".")[2]) > places:
            if round(Decimal(other), places) == value:
                return True
    return False


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


def _missing_names(
    answer: str, question: str, analysis: ChunkAnalysis, focus: Iterable[_Sentence]
) -> tuple[str, ...]:
    asked = _name_form(question)
    spaced = not is_unspaced(analysis.lang)
    focus = tuple(focus)
    near = " ".join(sentence.normalized for sentence in focus)
    near_words = frozenset(re.findall(r"[\w'-]+", near))
    missing = []
    for name in _answer_names(answer):
        form = _name_form(name)
        if form in asked:
            text, words = analysis.normalized, analysis.words
        else:
            text, words = near, near_words
        # "Spain's Aitana Bonmatí": the possessor may stand anywhere in the chunk.
        *owners, part = [p for p in re.split(r"'s\s+", form) if p] if spaced else [form]
        if _found(part, text, words, spaced) and all(
            _found(owner, analysis.normalized, analysis.words, spaced) for owner in owners
        ):
            continue
        missing.append(name)
    return tuple(sorted(missing))


_TITLE = re.compile(r"(?:選手|氏|監督|投手|教授|博士|社長|会長|首相|大統領|議員)$")
_BARE_KANJI = re.compile(r"^[一-龥々]{2,6}(?:です|でした|だ)?。?$")


def _answer_names(answer: str) -> set[str]:
    """Names in the answer. A short answer's opening capitalised words count too
    ("England.", "Carlos Alcaraz won"), and so does a short Japanese/Chinese answer
    that is one kanji word ("大谷翔平", "田中です。")."""
    names = extract_names(answer)
    stripped = answer.strip()
    words = stripped.split()
    first = re.sub(r"['’]s$", "", words[0].strip(".,;:!?'’\"()")) if words else ""
    if 0 < len(words) <= _SHORT_ANSWER_WORDS and _may_be_name(first):
        names |= {name for name in extract_names(f"x {stripped}") if name.split()[0] == first}
    if _BARE_KANJI.match(stripped) and not extract_numbers(stripped):
        names.add(_TITLE.sub("", re.sub(r"(?:です|でした|だ)?。?$", "", stripped)))
    return {name for name in names if not any(name != other and name in other for other in names)}


_NOT_NAMES = frozenset(
    (
        "one two three four five six seven eight nine ten eleven twelve twenty thirty forty "
        "fifty hundred thousand million billion half twice double dozen "
        "january february march april may june july august september october november december "
        "monday tuesday wednesday thursday friday saturday sunday about around approximately "
        "nearly almost over under up just only some yes no none both either neither her his "
        "their its in on at by after before since during from until"
    ).split()
)


def _may_be_name(word: str) -> bool:
    lower = word.lower()
    return not (
        lower in _stop_words()
        or lower in _NOT_NAMES
        or lower.endswith("ly")
        or extract_numbers(lower)
    )


def _found(form: str, text: str, words: frozenset[str], spaced: bool) -> bool:
    """Whether a name is in ``text``, whole or (spaced scripts) word by word."""
    return _contains(text, form, spaced) or (
        spaced and all(word in words for word in form.split())
    )


def _contains(text: str, form: str, spaced: bool) -> bool:
    if not spaced or not form[:1].isascii():
        return form in text
    return re.search(rf"(?<![\w]){re.escape(form)}(?![\w])", text) is not None


def _wrong_roles(
    answer: str, question: str, told: list[Outcome], nearby: list[Outcome]
) -> tuple[str, ...]:
    """Names the answer casts as winner (or loser) where the text says the opposite.
    ``told`` are the results of the most relevant sentences, ``nearby`` those of the
    whole focus (used when the question names one side: "Who did England beat?")."""
    if not nearby:
        return ()
    claimed = [o for o in outcomes(answer) if o.loser]
    if claimed:
        return tuple(
            sorted(
                o.winner
                for o in claimed
                if _beats(nearby, o.loser, o.winner) and not _beats(nearby, o.winner, o.loser)
            )
        )
    role = asked_role(question)
    asked = _name_form(question)
    name = _main_name(answer, asked)
    if role is None or not name:
        return ()
    if role == "loser":
        expected = [o.loser for o in nearby if o.loser and _same(o.winner, asked)]
    else:
        expected = [o.winner for o in nearby if o.loser and _same(o.loser, asked)]
    if expected:
        sided = any(_same(name, o.winner) or (o.loser and _same(name, o.loser)) for o in nearby)
        return (name,) if sided and not any(_same(name, e) for e in expected) else ()
    if not told:
        return ()
    sided = any(_same(name, o.winner) or (o.loser and _same(name, o.loser)) for o in told)
    right = any(_same(name, o.winner if role == "winner" else o.loser) for o in told)
    return (name,) if sided and not right else ()


def _main_name(answer: str, asked: str) -> str:
    """The first name in the answer that the question does not contain."""
    names = [n for n in _answer_names(answer) if n and not _same(n, asked)]
    form = _name_form(answer)
    positions = [(form.find(_name_form(n)), n) for n in names]
    found = [(p, n) for p, n in positions if p >= 0]
    return min(found)[1] if found else ""


def _beats(told: Iterable[Outcome], winner: str, loser: str) -> bool:
    return any(_same(winner, o.winner) and o.loser and _same(loser, o.loser) for o in told)


def _same(name: str, other: str) -> bool:
    """Whether two names refer to the same side: one contains the other ("Alcaraz",
    "Carlos Alcaraz"), compared in normalised form."""
    a, b = _name_form(name), _name_form(other)
    if not a or not b:
        return False
    return a in b or b in a


@functools.cache
def _stop_words() -> frozenset[str]:
    return frozenset(_EN_STOP_WORDS.split())


def _is_function(token: str) -> bool:
    return token in _stop_words() or _HIRAGANA_ONLY.fullmatch(token) is not None


def _stem(token: str) -> str:
    """A light English stem, so that "died" ~ "die", "goals" ~ "goal", "cities" ~
    "city", "scoring" ~ "score" (other scripts are returned as they are)."""
    if not token.isascii() or not token.isalpha():
        return token
    if len(token) <= 3:
        return token[:-1] if len(token) == 3 and token.endswith("e") else token
    for suffix, keep in (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if token.endswith(suffix) and len(token) - len(suffix) >= 2:
            if suffix == "s" and token.endswith("ss"):
                break
            token = token[: len(token) - len(suffix)] + keep
            break
    if len(token) > 3 and token[-1] == token[-2] and token[-1] not in "aeiouls":
        token = token[:-1]
    return token[:-1] if len(token) > 3 and token.endswith("e") else token
