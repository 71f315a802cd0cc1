"""Checks every run uses: non-empty pairs, no echoes, length limits, exact duplicates."""

from __future__ import annotations

from .._quality.text import normalize
from .._schema import Chunk, QARecord
from ._contract import Check, PairCheck, RunContext

__all__ = [
    "DEFAULT_MAX_ANSWER_CHARS",
    "DEFAULT_MAX_QUESTION_CHARS",
    "ExactDuplicates",
    "MaxLength",
    "NonEmpty",
    "NotEcho",
]

DEFAULT_MAX_QUESTION_CHARS = 1000
DEFAULT_MAX_ANSWER_CHARS = 4000


class NonEmpty(PairCheck):
    """Reject pairs with an empty question or answer."""

    name = "non_empty"

    def check_pair(self, record: QARecord, chunk: Chunk) -> str | None:
        if not record.question:
            return "empty_question"
        if not record.answer:
            return "empty_answer"
        return None


class NotEcho(PairCheck):
    """Reject pairs whose answer just repeats the question."""

    name = "not_echo"

    def check_pair(self, record: QARecord, chunk: Chunk) -> str | None:
        same = normalize(record.question) == normalize(record.answer)
        return "question_equals_answer" if same else None


class MaxLength(PairCheck):
    """Reject questions or answers longer than a number of characters."""

    name = "max_length"

    def __init__(
        self,
        *,
        max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS,
        max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
    ) -> None:
        if max_question_chars < 1 or max_answer_chars < 1:
            raise ValueError("max_question_chars and max_answer_chars must be at least 1")
        self.max_question_chars = max_question_chars
        self.max_answer_chars = max_answer_chars

    def check_pair(self, record: QARecord, chunk: Chunk) -> tuple[str, str] | None:
        if len(record.question) > self.max_question_chars:
            return "question_too_long", f"{len(record.question)} > {self.max_question_chars}"
        if len(record.answer) > self.max_answer_chars:
            return "answer_too_long", f"{len(record.answer)} > {self.max_answer_chars}"
        return None


class ExactDuplicates(Check):
    """Drop a pair whose question was already asked in this run.

    Questions are compared after NFKC, case and whitespace normalisation, so
    overlapping chunks that produce the same question keep only the first.
    Answer paraphrases repeat their question on purpose: they are compared by
    question and answer.
    """

    name = "exact_duplicates"
    scope = "run"

    def check_run(self, ctx: RunContext) -> None:
        first: dict[str, QARecord] = {}
        for record in ctx.records:
            key = normalize(record.question)
            if record.origin == "answer_paraphrase":
                key += "\x00" + normalize(record.answer)
            if key in first:
                ctx.reject(record, "duplicate_question", f"same as: {first[key].question}")
            else:
                first[key] = record
