"""Grading an answer against the expected answer: exactly (no model) or by a model.

The exact grader needs no model. An answer is correct when it contains the
expected answer whole (case, width and spacing aside), or when it has every
number and name of the expected answer and at least :data:`MIN_WORD_RECALL` of
its words (Japanese, Chinese and Thai are compared by character bigrams, see
:func:`~qasynth._quality.text.word_tokens`).

The model grader asks a chat model whether the answer states the expected
facts, on the same parse-and-repair path as every other structured reply.
"""

from __future__ import annotations

import json
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
    "Grade",
    "GradingEstimate",
    "estimate_grading",
    "exact_grade",
    "grade_messages",
    "model_grade",
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
    wanted, given = normalize(expected), normalize(answer)
    if not given:
        return False
    if wanted and wanted in given:
        return True
    if not extract_numbers(expected) <= extract_numbers(answer):
        return False
    if any(normalize(name) not in given for name in extract_names(expected)):
        return False
    lang = detect_language(expected)
    expected_tokens = set(word_tokens(expected, lang))
    if not expected_tokens:
        return wanted == given
    found = expected_tokens & set(word_tokens(answer, lang))
    return len(found) / len(expected_tokens) >= MIN_WORD_RECALL


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
