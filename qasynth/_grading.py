"""Grading an answer against the expected answer: exactly (no model) or by a model.

The exact grader needs no model. An answer is correct when it contains the
expected answer whole (case, width and spacing aside), or when it has every
number and name of the expected answer and at least :data:`MIN_WORD_RECALL` of
its words (Japanese, Chinese and Thai are compared by character bigrams, see
:func:`~qasynth._quality.text.word_tokens`). The whole answer and the names are
found as words, not as parts of words: "12" is not in "112", "Yes" not in
"Yesterday", "Port1" not in "Port10" (in Japanese, Chinese, Korean and Thai, which
do not put spaces between words, only digits and Latin letters must not run on).

The model grader asks a chat model whether the answer states the expected
facts, on the same parse-and-repair path as every other structured reply.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from ._errors import QasynthError
from ._parsing import StructuredParser, message_text
from ._pricing import model_price
from ._quality.language import detect_language
from ._quality.text import extract_names, extract_numbers, normalize, word_tokens
from ._tokens import resolve_encoding

__all__ = [
    "GRADE_INSTRUCTIONS",
    "MIN_WORD_RECALL",
    "Facts",
    "Grade",
    "GradingEstimate",
    "estimate_grading",
    "exact_grade",
    "facts_of",
    "grade_messages",
    "model_grade",
    "states",
]

MIN_WORD_RECALL = 0.5
GRADE_INSTRUCTIONS = (
    "You grade answers to questions against the expected answer. An answer is correct "
    "when it states the facts of the expected answer (names, numbers, dates, places); "
    "wording, language and extra detail do not matter. It is wrong when it does not know, "
    "gives other facts, or contradicts the expected answer. Reply with JSON only: "
    '{"correct": true, "reason": "one short sentence"}'
)
_GRADE_OUTPUT_TOKENS = 30


class Grade(BaseModel):
    correct: bool
    reason: str = ""


def exact_grade(expected: str, answer: str) -> bool:
    """Whether ``answer`` states ``expected``'s facts; see the module docstring."""
    lang = detect_language(expected)
    return states(facts_of(expected, lang), facts_of(answer, lang))


@dataclass(frozen=True)
class Facts:
    """What the exact grader compares of a text, worked out once (see :func:`states`)."""

    text: str
    """The text, normalised."""
    numbers: frozenset[str]
    names: tuple[str, ...]
    """Its names, normalised."""
    tokens: frozenset[str]


def facts_of(text: str, lang: str | None = None) -> Facts:
    """The :class:`Facts` of ``text``; words as ``lang`` splits them (else its own)."""
    return Facts(
        normalize(text),
        frozenset(extract_numbers(text)),
        tuple(normalize(name) for name in extract_names(text)),
        frozenset(word_tokens(text, lang if lang is not None else detect_language(text))),
    )


def states(expected: Facts, answer: Facts) -> bool:
    """Whether ``answer`` states ``expected``'s facts: the whole of it, or its numbers,
    its names and :data:`MIN_WORD_RECALL` of its words."""
    if not answer.text:
        return False
    if expected.text and _has_word(answer.text, expected.text):
        return True
    if not expected.numbers <= answer.numbers:
        return False
    if not all(_has_word(answer.text, name) for name in expected.names):
        return False
    if not expected.tokens:
        return expected.text == answer.text
    found = expected.tokens & answer.tokens
    return len(found) / len(expected.tokens) >= MIN_WORD_RECALL


def _has_word(text: str, part: str) -> bool:
    """Whether ``part`` occurs in ``text`` as whole words: no letter or digit runs
    on at either end (in scripts that space their words)."""
    if not part:
        return True
    start = text.find(part)
    while start != -1:
        end = start + len(part)
        before, after = text[start - 1 : start], text[end : end + 1]
        if not (_runs_on(before, part[0]) or _runs_on(after, part[-1])):
            return True
        start = text.find(part, start + 1)
    return False


def _runs_on(beside: str, edge: str) -> bool:
    """Whether the character ``beside`` a match continues the word whose edge is
    ``edge``: both letters or digits, of scripts that space their words."""
    return bool(beside) and beside.isalnum() and edge.isalnum() and _spaced(beside + edge)


def _spaced(chars: str) -> bool:
    """Whether every one of ``chars`` belongs to a script that puts spaces between
    words (not Han, kana, Hangul or Thai, whose words run into each other)."""
    return not _UNSPACED.search(chars)


_UNSPACED = re.compile(
    "[\u0e00-\u0e7f"  # Thai
    "\u1100-\u11ff"  # Hangul jamo
    "\u2e80-\ud7ff"  # CJK radicals to Hangul syllables (kana, Han)
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0003ffff]"  # rarer Han
)


def grade_messages(question: str, expected: str, answer: str) -> list[BaseMessage]:
    """The grader's prompt: instructions, then the case as JSON."""
    case = {"question": question, "expected_answer": expected, "answer": answer}
    return [
        SystemMessage(content=GRADE_INSTRUCTIONS),
        HumanMessage(content=json.dumps(case, ensure_ascii=False, indent=1)),
    ]


async def model_grade(grader: BaseChatModel, question: str, expected: str, answer: str) -> Grade:
    """Ask ``grader``; raises :class:`~qasynth.ParseError` when its reply stays unusable."""
    reply = await grader.ainvoke(grade_messages(question, expected, answer))
    parser = StructuredParser(Grade, grader)
    return await parser.aparse(message_text(reply))


@dataclass(frozen=True)
class GradingEstimate:
    """What grading with a model will take: calls, tokens and (when priced) dollars."""

    calls: int
    input_tokens: int
    output_tokens: int
    cost: float | None

    def describe(self, model: str) -> str:
        cost = "cost unknown" if self.cost is None else f"about ${self.cost:,.4f}"
        return (
            f"grading with {model}: {self.calls:,} calls, about {self.input_tokens:,} input "
            f"and {self.output_tokens:,} output tokens, {cost} (answers assumed as long "
            "as the expected ones)"
        )


def estimate_grading(model: str, cases: list[tuple[str, str]]) -> GradingEstimate:
    """Estimate grading ``cases`` (question, expected answer) with ``model``.

    Answers are not known yet, so each is assumed as long as the expected one.
    Tokens are counted with the model's tokenizer, or as characters / 4 when its
    files cannot be loaded.
    """
    texts = [m.content for q, e in cases for m in grade_messages(q, e, e)]
    try:
        encoding = resolve_encoding(model=model)
        input_tokens = sum(len(encoding.encode(str(t))) + 4 for t in texts)
    except QasynthError:
        input_tokens = sum(len(str(t)) // 4 + 4 for t in texts)
    output_tokens = _GRADE_OUTPUT_TOKENS * len(cases)
    price = model_price(model)
    cost = None
    if price and price.input_per_mtok is not None and price.output_per_mtok is not None:
        cost = (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1e6
    return GradingEstimate(len(cases), input_tokens, output_tokens, cost)
