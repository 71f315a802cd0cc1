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
(:func:`~qasynth._quality.chunks.analyze_chunk`, cached) and shared by every pair
of the chunk; the number checks are in :mod:`.figures`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import compress, filterfalse
from operator import not_, or_

from .chunks import ChunkAnalysis, _Sentence, analyze_chunk
from .figures import missing_numbers, wrong_scorelines
from .forms import _is_function, _name_form, _stem, _stop_words, _words
from .language import detect_language, is_unspaced
from .roles import Outcome, asked_role, outcomes
from .text import _FIRST_CHARACTER, extract_names, extract_numbers, word_tokens

__all__ = ["ChunkAnalysis", "Grounding", "analyze_chunk", "grounding_score"]

_SHORT_ANSWER_WORDS = 6
_KEY_WEIGHT = 3  # a whole number: the score's sums stay exact
_NOT_NAME_WORDS = (
    "however therefore first finally then well sure yes overall instead "
    "one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty "
    "hundred thousand million billion half twice double dozen january february march april "
    "may june july august september october november december monday tuesday wednesday "
    "thursday friday saturday sunday about around approximately nearly almost over under up "
    "just only some yes no none both either neither her his their its in on at by after "
    "before since during from until"
)


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
    other_script = is_unspaced(lang) != is_unspaced(analysis.lang)  # the chunk's tokens differ
    if other_script:
        tokens = frozenset(word_tokens(analysis.text, lang))
    stems = analysis.stems if tokens is analysis.tokens else frozenset(map(_stem, tokens))
    if question is None:
        focus, told, nearby, asked = analysis.sentences, [], [], ""
        name_focus = focus
    else:
        scores, indices = analysis._locate(question)
        focus = tuple(analysis.sentences[i] for i in indices)
        told, asked = analysis._told(scores, indices), question
        nearby = [o for sentence in focus for o in sentence.outcomes]
        # A name must stand in a sentence that shares words with the question or
        # follows one, not only in the sentence before (another person, another role).
        name_focus = tuple(analysis.sentences[i] for i in indices if scores.get(i)) or focus
    names = _answer_names(answer, lang)
    asked_form = _name_form(asked)
    main = _main_name(answer, asked_form, names) if question is not None else ""
    answer_tokens = _words(answer, lang)
    if other_script:
        numbers = missing_numbers(answer, asked, analysis, focus, main)
    else:
        numbers = missing_numbers(answer, asked, analysis, focus, main, tokens=answer_tokens)
    if question is not None:
        numbers += wrong_scorelines(answer, asked, analysis, scores, indices, main)
    return Grounding(
        score=_score(answer_tokens, names, tokens, stems, numbers),
        missing_numbers=numbers,
        missing_names=_missing_names(names, asked_form, analysis, name_focus),
        wrong_roles=_wrong_roles(answer, asked, asked_form, main, told, nearby),
    )


def _score(
    answer_tokens: list[str],
    names: frozenset[str],
    tokens: frozenset[str],
    stems: frozenset[str],
    missing_numbers: tuple[str, ...],
) -> float:
    """Share of the answer's content tokens found in the chunk. A number counts as
    found when the number check accepted it (a derived figure too); numbers and
    capitalised words (names) weigh three times as much as other words, so a short
    reworded answer that gets its name or figure right is not sunk by its wording.

    The weights are whole numbers, so the sums are counted exactly as integers: the
    tokens are tested a list at a time, and only those the chunk lacks as they are
    (a few) one by one."""
    content = list(filterfalse(_is_function, answer_tokens))
    if not content:
        return 1.0
    key = {form.lower() for name in names for form in name.split()}
    numeric = list(map(str.isdigit, map(_FIRST_CHARACTER, content)))
    heavy: list[bool] = list(map(or_, numeric, map(key.__contains__, content)))  # numbers, names
    total = len(content) + (_KEY_WEIGHT - 1) * sum(heavy)
    lost = 0
    for i in compress(range(len(content)), map(not_, map(tokens.__contains__, content))):
        token = content[i]
        if _stem(token) not in stems and not (numeric[i] and token not in missing_numbers):
            lost += _KEY_WEIGHT if heavy[i] else 1
    return (total - lost) / total


def _missing_names(
    names: frozenset[str], asked: str, analysis: ChunkAnalysis, focus: Iterable[_Sentence]
) -> tuple[str, ...]:
    """Names of the answer (``names``) that the chunk lacks: a name the question
    (``asked``, in name form) has anywhere in the chunk, any other in ``focus``."""
    spaced = not is_unspaced(analysis.lang)
    focus = tuple(focus)
    near = ""  # the focus's text, and its words: worked out when a name needs them
    near_words: frozenset[str] | None = None

    def focus_words() -> frozenset[str]:
        nonlocal near_words
        if near_words is None:
            near_words = frozenset(_NAME_WORDS.findall(near))
        return near_words

    def chunk_words() -> frozenset[str]:
        return analysis.words

    missing = []
    for name in names:
        form = _name_form(name)
        if form in asked:
            text, words = analysis.normalized, chunk_words
        else:
            near = near or " ".join(sentence.normalized for sentence in focus)
            text, words = near, focus_words
        # "Spain's Aitana Bonmatí": the possessor may stand anywhere in the chunk.
        *owners, part = [p for p in _OWNER.split(form) if p] if spaced else [form]
        if _found(part, text, words, spaced) and all(
            _found(owner, analysis.normalized, chunk_words, spaced) for owner in owners
        ):
            continue
        missing.append(name)
    return tuple(sorted(missing))


_NAME_WORDS = re.compile(r"[\w'-]+")
_OWNER = re.compile(r"'s\s+")
_TITLE = re.compile(r"(?:選手|氏|監督|投手|教授|博士|社長|会長|首相|大統領|議員)$")
_BARE_KANJI = re.compile(r"^[一-龥々]{2,6}(?:です|でした|だ)?。?$")
_COPULA_END = re.compile(r"(?:です|でした|だ)?。?$")
_POSSESSIVE_END = re.compile(r"['’]s$")


def _answer_names(answer: str, lang: str = "en") -> frozenset[str]:
    """Names in the answer. A short answer's opening capitalised words count too
    ("England.", "Carlos Alcaraz won"), and so does a short Japanese/Chinese answer
    that is one kanji word ("大谷翔平", "田中です。")."""
    names = extract_names(answer)
    stripped = answer.strip()
    words = stripped.split()
    first = _POSSESSIVE_END.sub("", words[0].strip(".,;:!?'’\"()")) if words else ""
    short = 0 < len(words) <= _SHORT_ANSWER_WORDS or (words and words[0].endswith(","))
    if short and _may_be_name(first) and _opening_may_be_name(words, lang):
        names |= {name for name in extract_names(f"x {stripped}") if name.split()[0] == first}
    if _BARE_KANJI.match(stripped) and not extract_numbers(stripped):
        names.add(_TITLE.sub("", _COPULA_END.sub("", stripped)))
    return frozenset(
        name for name in names if not any(name != other and name in other for other in names)
    )


_NOT_NAMES = frozenset(_NOT_NAME_WORDS.split())


def _opening_may_be_name(words: list[str], lang: str) -> bool:
    """Whether a short answer's capitalised opening word may be a name. The list of
    ordinary words is English: in another language (``lang``, the answer's, else the
    chunk's) an opening word followed by a word that is not capitalised is taken for
    an ordinary one ("Bis zu 300 km/h.", "Etwa 150 Millionen.", "Elle emploie…"); a
    one-word answer or a run of capitalised words still counts ("Spanien.",
    "Jean-Pierre Farandou.")."""
    if len(words) < 2 or lang in ("en", "und"):
        return True
    return words[1][:1].isupper()


def _may_be_name(word: str) -> bool:
    lower = word.lower()
    return not (
        lower in _stop_words()
        or lower in _NOT_NAMES
        or lower.endswith("ly")
        or extract_numbers(lower)
    )


def _found(form: str, text: str, words: Callable[[], frozenset[str]], spaced: bool) -> bool:
    """Whether a name is in ``text``, whole or (spaced scripts) word by word (``words``
    gives the words of ``text``, read only when the whole name is not there)."""
    if _contains(text, form, spaced):
        return True
    if not spaced:
        return False
    known = words()
    return all(word in known for word in form.split())


def _contains(text: str, form: str, spaced: bool) -> bool:
    """Whether ``form`` is in ``text``; in spaced scripts a name starting with an ASCII
    character must not be part of a longer word (no word character either side)."""
    if not spaced or not form[:1].isascii():
        return form in text
    start, size = text.find(form), len(form)
    while start >= 0:
        end = start + size
        if (start == 0 or not _is_word_char(text[start - 1])) and (
            end == len(text) or not _is_word_char(text[end])
        ):
            return True
        start = text.find(form, start + 1)
    return False


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"  # what a regular expression's \w matches


def _wrong_roles(
    answer: str,
    question: str,
    asked: str,
    name: str,
    told: list[Outcome],
    nearby: list[Outcome],
) -> tuple[str, ...]:
    """Names the answer casts as winner (or loser) where the text says the opposite.
    ``told`` are the results of the most relevant sentences, ``nearby`` those of the
    whole focus (used when the question names one side: "Who did England beat?");
    ``asked`` is the question in name form and ``name`` the answer's main name."""
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
    if role is None or not name:
        return ()
    if role == "loser":
        expected = [o.loser for o in nearby if o.loser and _same(o.winner, asked)]
    else:
        expected = [o.winner for o in nearby if o.loser and _same(o.loser, asked)]
    if expected:  # the question names one side: the answer must be its opponent
        return () if any(_same(name, e) for e in expected) else (name,)
    if not told:
        return ()
    won = any(_same(name, o.winner) for o in nearby)
    lost = any(o.loser and _same(name, o.loser) for o in nearby)
    if (role == "winner" and won and not lost) or (role == "loser" and lost and not won):
        return ()  # the text gives it only the asked role
    right = any(_same(name, o.winner if role == "winner" else o.loser) for o in told)
    return (name,) if (won or lost) and not right else ()


def _main_name(answer: str, asked: str, names: frozenset[str]) -> str:
    """The first of the answer's ``names`` that the question does not contain."""
    others = [n for n in names if n and not _same(n, asked)]
    form = _name_form(answer)
    positions = [(form.find(_name_form(n)), n) for n in others]
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
