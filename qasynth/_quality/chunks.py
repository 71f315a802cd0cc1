"""One analysis per chunk: sentences, their words, numbers, scorelines and results.

Every pair of a chunk is checked against the same text, so the work that depends
only on the text (splitting sentences, tokens, numbers, names, who beat whom) is
done once, by :func:`analyze_chunk`, and shared. :meth:`ChunkAnalysis.locate`
then finds the part of the chunk a question is about: the sentences that share
its words (rarer words weigh more) and their neighbours.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import compress, filterfalse
from operator import itemgetter, ne

from ._numbers import numbers_and_canonical_text, numbers_and_canonical_texts
from .forms import (
    _CLAUSE_BREAK,
    _apostrophes,
    _codes,
    _is_function,
    _scored_clauses,
    _stem,
    _words,
)
from .language import detect_language
from .roles import Outcome, outcomes
from .text import _tokens, extract_names, normalize

__all__ = ["ChunkAnalysis", "analyze_chunk"]

_WORDS = re.compile(r"[\w'-]+")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？])|\n+")
_NEIGHBOURS = 1
_MAX_FOCUS = 4
_MIN_GAIN = 0.15
_CARRY = 0.8
_OUTCOME_SHARE = 0.9


@dataclass(eq=False)
class _Sentence:
    """One sentence of a chunk: its text, normalised text and numbers. Its tokens are
    ``_tokens[_start:_end]``, a stretch of the chunk's token list (no set or tuple of
    its own: most sentences never need one). What only the sentences a question is
    about need (the token sequence, results, scorelines, names) is worked out on first use."""

    text: str
    normalized: str
    numbers: frozenset[str]
    _tokens: list[str] = field(repr=False)
    _start: int
    _end: int

    @functools.cached_property
    def sequence(self) -> tuple[str, ...]:
        """The sentence's tokens, in order."""
        return tuple(self._tokens[self._start : self._end])

    @functools.cached_property
    def outcomes(self) -> tuple[Outcome, ...]:
        """The results the sentence states."""
        return tuple(outcomes(self.text))

    @functools.cached_property
    def clauses(self) -> tuple[tuple[str, frozenset[tuple[str, str]]], ...]:
        """(normalised clause, its scorelines) for each clause with a scoreline."""
        return _scored_clauses(self.text)

    @functools.cached_property
    def names(self) -> frozenset[str]:
        """:func:`~qasynth._quality.text.extract_names` of the sentence."""
        return frozenset(extract_names(self.text))

    @functools.cached_property
    def nfkc(self) -> str:
        """The sentence's text in NFKC form (as names are read)."""
        return unicodedata.normalize("NFKC", self.text)

    @functools.cached_property
    def normalized_clauses(self) -> tuple[str, ...]:
        """:attr:`normalized` cut at its clause breaks (see :data:`.forms._CLAUSE_BREAK`)."""
        return tuple(_CLAUSE_BREAK.split(self.normalized))

    @functools.cached_property
    def codes(self) -> frozenset[tuple[str, str]]:
        """The model codes ("X200", "E-42") the sentence names (see :func:`.forms._codes`)."""
        return _codes(self.text)


_Alike = tuple[set[str], int, float]
"""Words that sentences match, the first of them, the words' weight."""


@dataclass(frozen=True, eq=False)
class ChunkAnalysis:
    """Everything grounding needs from a chunk, computed once (see :func:`analyze_chunk`)."""

    text: str
    lang: str
    sentences: tuple[_Sentence, ...]
    tokens: frozenset[str]
    stems: frozenset[str]
    index: dict[str, int]
    """For each token and stem, the sentences that have it: bit ``i`` stands for sentence ``i``."""
    by_count: tuple[float, ...]
    """A word's weight by the number of sentences that have it (rarer words weigh more)."""

    @classmethod
    def of(cls, text: str) -> ChunkAnalysis:
        """Analyse ``text`` (uncached; prefer :func:`analyze_chunk`)."""
        lang = detect_language(text)
        sentences = _sentences(_split(text), lang)
        sentences = tuple(sentence for sentence in sentences if sentence._end > sentence._start)
        # One int per word, one bit per sentence: no list or tuple per word, so an
        # analysis leaves few objects for the garbage collector to scan.
        having: dict[str, int] = {}
        get = having.get
        for position, sentence in enumerate(sentences):
            bit = 1 << position
            for token in sentence._tokens[sentence._start : sentence._end]:
                having[token] = get(token, 0) | bit
        # A stem stands where any token of it does: worked out once per token, not
        # once per time the chunk says it, and a list at a time (a stem is most often
        # the token itself: numbers, short words, unspaced scripts).
        index = dict(having)
        stems = list(map(_stem, having))
        changed = map(ne, having, stems)
        for token, stem in compress(zip(having, stems, strict=True), changed):
            index[stem] = index.get(stem, 0) | having[token]
        total = max(len(sentences), 1)
        return cls(
            text=text,
            lang=lang,
            sentences=sentences,
            tokens=frozenset(having),
            stems=frozenset(stems),
            index=index,
            by_count=(0.0, *(math.log(1 + total / n) for n in range(1, total + 1))),
        )

    def weight(self, token: str) -> float:
        """The weight of a token or stem the chunk has: rarer words weigh more."""
        return self.by_count[self.index[token].bit_count()]

    @functools.cached_property
    def numbers(self) -> frozenset[str]:
        """Every number the chunk states."""
        return frozenset().union(*(sentence.numbers for sentence in self.sentences))

    @functools.cached_property
    def normalized(self) -> str:
        """The sentences' normalised text (worked out when a question needs it)."""
        return " ".join(sentence.normalized for sentence in self.sentences)

    @functools.cached_property
    def words(self) -> frozenset[str]:
        """The words of :attr:`normalized`."""
        return frozenset(_WORDS.findall(self.normalized))

    def locate(self, question: str) -> tuple[dict[int, float], list[int]]:
        """(relevance of each sentence that shares words with ``question``, the
        indices of the focus sentences). Relevance is the weight (rarer words weigh
        more) of the question's words a sentence contains; the sentence right after
        a relevant one keeps most of that relevance (its subject carries on). The
        focus is the best-matching sentence, then those that add question words it
        lacks (the subject may be named in one sentence, the asked fact in the
        next), each with its neighbours; all sentences when nothing matches."""
        groups, alike, focus = self._match(question)
        # each sentence, in the order in which a question word first finds it
        has = sorted(
            (words & -words, i, words) for words, members in groups.items() for i in _bits(members)
        )
        own = {i: alike[words][2] for _, i, words in has}
        scores = dict(own)
        for i, score in own.items():
            if i + 1 < len(self.sentences):
                scores[i + 1] = max(scores.get(i + 1, 0.0), _CARRY * score)
        return scores, focus

    def _locate(self, question: str) -> tuple[dict[int, float], list[int]]:
        """:meth:`locate` with the relevance of the focus sentences only (all that
        grounding reads), which spares scoring every sentence."""
        groups, alike, focus = self._match(question)
        asked = 0  # the focus sentences and the sentences before them, as bits
        for i in focus:
            asked |= 3 << (i - 1) if i else 1
        own: dict[int, float] = {}  # their weights, for those that have question words
        for words, members in groups.items():
            for i in _bits(members & asked):
                own[i] = alike[words][2]
        scores: dict[int, float] = {}
        for i in focus:
            mine, before = own.get(i), own.get(i - 1)
            if before is not None:
                scores[i] = max(0.0 if mine is None else mine, _CARRY * before)
            elif mine is not None:
                scores[i] = mine
        return scores, focus

    def _match(self, question: str) -> tuple[dict[int, int], dict[int, _Alike], list[int]]:
        """(the sentences that have the same question words, as bits, by those words,
        as bits; one (words, first sentence, weight) per such set of words; the focus).

        The groups are found by splitting the sentences word by word (those that
        have the word, those that do not), a few operations on whole bit sets per
        word, not one step per word and sentence: a common word ("led", "years") is
        in most sentences of a chunk. Words that the same sentences have split them
        at once."""
        # (set() of an iterator adds one item at a time, as a comprehension does: the
        # same sets, iterated in the same order)
        wanted = set(filterfalse(_is_function, _words(question, self.lang)))
        wanted |= set(map(_stem, wanted))
        order = list(wanted)
        index, by_count = self.index, self.by_count
        weights: dict[str, float] = {}  # of the words the chunk has
        # Words that the same sentences have (the bigrams of one Japanese word, a word
        # and its stem) split the sentences alike: they are taken together.
        together: dict[int, int] = {}  # sentences -> the words (bit i: order[i]) of them
        for bit, token in enumerate(order):
            having = index.get(token)
            if having is not None:
                weights[token] = by_count[having.bit_count()]
                together[having] = together.get(having, 0) | 1 << bit
        groups: dict[int, int] = {}  # question words (bit i: order[i]) -> their sentences
        seen = 0
        for having, flag in together.items():
            split: dict[int, int] = {}
            for words, members in groups.items():
                inside = members & having
                if inside:
                    split[words | flag] = inside
                    if inside != members:
                        split[words] = members ^ inside
                else:
                    split[words] = members
            if having & ~seen:
                split[flag] = having & ~seen
                seen |= having
            groups = split
        # Each set of words is filled in ``wanted``'s order (its bits from the lowest),
        # as a set per sentence would be, so its weights add up in the same order.
        alike: dict[int, _Alike] = {}
        for first, words in sorted([_lowest(members), words] for words, members in groups.items()):
            keys = set(map(order.__getitem__, _positions(words)))
            alike[words] = (keys, first, sum(map(weights.__getitem__, keys)))
        # The union of each sentence's words, taken in the order of a union of one set
        # per sentence (sentences in the order a question word first finds them), so
        # that the weights of ``matched`` add up in the same order.
        ranked = sorted((words & -words, first, keys) for words, (keys, first, _) in alike.items())
        matched = set().union(*map(itemgetter(2), ranked))
        return groups, alike, self._focus(matched, list(alike.values()), weights)

    def _focus(
        self, matched: set[str], alike: list[_Alike], weights: dict[str, float]
    ) -> list[int]:
        """The focus sentences: ``matched`` are the question's words the chunk has,
        ``alike`` one (words, first sentence, weight) for each set of them a sentence
        has, ``weights`` the words' weights."""
        total = sum(map(weights.__getitem__, matched))
        if total <= 0.0:
            return list(range(len(self.sentences)))
        # A sentence joins the focus when it adds a good share of the question's
        # words, or one word no other sentence has (the asked fact's own word).
        enough = min(_MIN_GAIN * total, 0.9 * math.log(1 + len(self.sentences)))
        covered: set[str] = set()
        chosen: set[int] = set()
        for _ in range(_MAX_FOCUS):
            # the most new weight, then the most words, then the first sentence
            gain, _size, first, keys = max(
                (sum(map(weights.__getitem__, keys - covered)), len(keys), -first, keys)
                for keys, first, _weight in alike
            )
            if gain < enough:
                break
            covered |= keys
            best = -first
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


@functools.lru_cache(maxsize=32)  # the pairs of a chunk are checked together
def analyze_chunk(text: str) -> ChunkAnalysis:
    """The analysis of a chunk's text, computed once and reused by every pair of it."""
    return ChunkAnalysis.of(text)


def _split(text: str) -> list[str]:
    """The non-empty pieces of ``text`` between the matches of ``_SENTENCE_BREAK``,
    found by a pattern that starts with a break's first character, which the regular
    expression engine finds fast (``_SENTENCE_BREAK`` starts with a look-behind, which
    it tries at every character)."""
    full = "。" in text or "！" in text or "？" in text  # else the narrower pattern is faster
    parts = []
    position = 0
    for match in (_BREAK_AFTER_FULL if full else _BREAK_AFTER).finditer(text):
        start = match.start() + (text[match.start()] != "\n")  # the [.!?;。！？] stays
        if start > position:
            parts.append(text[position:start])
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    return parts


# _SENTENCE_BREAK from the character before it: a [.!?;] and the spaces after it, line
# breaks, or the empty break after a "。！？"; the same without "。！？" for text without them
_BREAK_AFTER_FULL = re.compile(r"[.!?;\n。！？](?:(?<=\n)\n*|(?<=[.!?;])\s+|(?<=[。！？]))")
_BREAK_AFTER = re.compile(r"[.!?;\n](?:(?<=\n)\n*|(?<=[.!?;])\s+)")


def _sentences(parts: list[str], lang: str) -> tuple[_Sentence, ...]:
    """:func:`_sentence` of each part, in a few passes over the whole chunk (one per
    step, not one per step and sentence): the parts are joined by line breaks, which
    none of them holds and no step crosses. The sentences share one token list."""
    if not parts or any("\n" in part for part in parts):
        return tuple(_sentence(part, lang) for part in parts)
    read = numbers_and_canonical_texts(parts)
    folded = unicodedata.normalize("NFKC", "\n".join(text for _, text in read)).casefold()
    normalized = "\n".join(" ".join(line.split()) for line in folded.split("\n"))  # normalize()
    tokens = _tokens(normalized.replace("\n", _BREAK_TOKEN), lang)
    sentences: list[_Sentence] = []
    start = 0
    for part, (numbers, _), line in zip(
        parts, read, _apostrophes(normalized).split("\n"), strict=True
    ):
        end = tokens.index(_BREAK, start) if len(sentences) < len(parts) - 1 else len(tokens)
        found = frozenset(numbers) if numbers else _NO_NUMBERS
        sentences.append(_Sentence(part, line, found, tokens, start, end))
        start = end + 1
    return tuple(sentences)


_BREAK = "Q"  # no token of case-folded text is a capital letter
_BREAK_TOKEN = f" {_BREAK} "
_NO_NUMBERS: frozenset[str] = frozenset()


def _lowest(bits: int) -> int:
    """The position of the lowest set bit of ``bits`` (not 0)."""
    return (bits & -bits).bit_length() - 1


@functools.lru_cache(maxsize=4096)  # a question's words, as bits: few values, over and over
def _positions(bits: int) -> tuple[int, ...]:
    """:func:`_bits` of ``bits``, as a tuple."""
    return tuple(_bits(bits))


def _bits(bits: int) -> Iterator[int]:
    """The positions of the set bits of ``bits``, lowest first."""
    while bits:
        yield (bits & -bits).bit_length() - 1
        bits &= bits - 1


def _sentence(text: str, lang: str) -> _Sentence:
    numbers, numbered = numbers_and_canonical_text(text)
    normalized = normalize(numbered)
    tokens = _tokens(normalized, lang)  # word_tokens(numbered, lang, numbers_done=True)
    return _Sentence(text, _apostrophes(normalized), frozenset(numbers), tokens, 0, len(tokens))
