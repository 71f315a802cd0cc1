"""Checks that decide which pairs are kept.

Two kinds of composable steps:

- :class:`PairValidator` looks at one pair next to its chunk and returns a
  rejection reason or ``None``. They run as each chunk finishes.
- :class:`RunFilter` sees every kept pair of the run, in chunk order, once the
  run is complete (so results do not depend on which request finished first);
  exact duplicates across overlapping chunks are removed here.

Both are small classes: subclass one, set ``name`` and implement ``check``, then
pass a list to ``Synthesizer(validators=..., run_filters=...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from ._quality.text import normalize
from ._schema import Chunk, QARecord

__all__ = [
    "DEFAULT_MAX_ANSWER_CHARS",
    "DEFAULT_MAX_QUESTION_CHARS",
    "ExactDuplicates",
    "GroupFilter",
    "GroupOutcome",
    "MaxLength",
    "NonEmpty",
    "NotEcho",
    "PairValidator",
    "RunFilter",
    "default_run_filters",
    "default_validators",
    "normalize_for_comparison",
]

DEFAULT_MAX_QUESTION_CHARS = 1000
DEFAULT_MAX_ANSWER_CHARS = 4000


normalize_for_comparison = normalize
"""NFKC, case-folded, whitespace collapsed: the form duplicates are compared in."""


class PairValidator:
    """A check on one pair; return a rejection reason, or ``None`` to keep it."""

    name: ClassVar[str] = "pair_validator"

    def check(self, record: QARecord, chunk: Chunk) -> str | None:
        raise NotImplementedError


class NonEmpty(PairValidator):
    """Reject pairs with an empty question or answer."""

    name = "non_empty"

    def check(self, record: QARecord, chunk: Chunk) -> str | None:
        if not record.question:
            return "empty_question"
        if not record.answer:
            return "empty_answer"
        return None


class NotEcho(PairValidator):
    """Reject pairs whose answer just repeats the question."""

    name = "not_echo"

    def check(self, record: QARecord, chunk: Chunk) -> str | None:
        same = normalize_for_comparison(record.question) == normalize_for_comparison(record.answer)
        return "question_equals_answer" if same else None


class MaxLength(PairValidator):
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

    def check(self, record: QARecord, chunk: Chunk) -> str | None:
        if len(record.question) > self.max_question_chars:
            return "question_too_long"
        if len(record.answer) > self.max_answer_chars:
            return "answer_too_long"
        return None


class RunFilter:
    """A whole-run check, fed every kept pair in chunk order; may keep state."""

    name: ClassVar[str] = "run_filter"

    def reset(self) -> None:
        """Forget what was seen (called before each run)."""

    def check(self, record: QARecord) -> str | None:
        raise NotImplementedError


class ExactDuplicates(RunFilter):
    """Drop a pair whose question was already asked in this run.

    Questions are compared after NFKC, case and whitespace normalisation, so
    overlapping chunks that produce the same question keep only the first.
    """

    name = "exact_duplicates"

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def reset(self) -> None:
        self._seen.clear()

    def check(self, record: QARecord) -> str | None:
        key = normalize_for_comparison(record.question)
        if key in self._seen:
            return "duplicate_question"
        self._seen.add(key)
        return None


@dataclass
class GroupOutcome:
    """What a :class:`GroupFilter` decided: dropped indices (with reason and
    detail) and the groups of related records it found (indices)."""

    dropped: dict[int, tuple[str, str]] = field(default_factory=dict)
    groups: list[list[int]] = field(default_factory=list)


class GroupFilter:
    """A whole-run check that needs every record at once (e.g. near-duplicates)."""

    name: ClassVar[str] = "group_filter"

    def select(self, records: Sequence[QARecord]) -> GroupOutcome:
        raise NotImplementedError


def default_validators(
    *,
    max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS,
    max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
) -> list[PairValidator]:
    """The per-pair checks a run uses unless told otherwise."""
    return [
        NonEmpty(),
        NotEcho(),
        MaxLength(max_question_chars=max_question_chars, max_answer_chars=max_answer_chars),
    ]


def default_run_filters() -> list[RunFilter]:
    """The whole-run checks a run uses unless told otherwise."""
    return [ExactDuplicates()]


def first_rejection(
    validators: Sequence[PairValidator], record: QARecord, chunk: Chunk
) -> str | None:
    """The reason of the first validator that rejects the pair, if any."""
    for validator in validators:
        reason = validator.check(record, chunk)
        if reason:
            return reason
    return None
