"""Model-free quality checks wired into the pipeline.

Per pair (``PairValidator``), run as each chunk finishes:

- :class:`GroundingCheck` — the answer is made of what the chunk says; numbers
  and names in the answer must appear in the chunk. Records its score in
  ``record.meta["grounding"]``.
- :class:`StandaloneCheck` — the question does not lean on context it does not
  contain ("he", "this tournament", "according to the text", "この大会", ...).
  The rules are data (``qasynth/data/standalone_rules.json``); add a language
  with ``StandaloneRules.with_language`` or a JSON file of your own.
- :class:`LanguageCheck` — question and answer are in the requested language
  (default: the chunk's).

Whole run (``GroupFilter``): :class:`NearDuplicates` drops questions that differ
only in wording trivia, keeping the better-grounded pair of each group.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from ._quality import (
    NearDuplicateIndex,
    StandaloneRules,
    check_standalone,
    detect_language,
    extract_numbers,
    grounding_score,
    matches_language,
)
from ._schema import Chunk, QARecord
from ._validation import GroupFilter, GroupOutcome, PairValidator

__all__ = ["GroundingCheck", "LanguageCheck", "NearDuplicates", "StandaloneCheck", "chunk_language"]

DEFAULT_GROUNDING_THRESHOLD = 0.5
DEFAULT_NEAR_DUPLICATE_THRESHOLD = 0.85


@functools.lru_cache(maxsize=1024)
def chunk_language(text: str) -> str:
    """The language of a chunk's text (cached: every pair of a chunk asks)."""
    return detect_language(text)


def _expected_language(record: QARecord, chunk: Chunk, target: str | None) -> str:
    language = record.meta.get("language")
    if isinstance(language, str) and language:
        return language
    return target or chunk_language(chunk.text)


class GroundingCheck(PairValidator):
    """Reject answers the chunk does not support (translations are not checked)."""

    name = "grounding"

    def __init__(self, *, threshold: float = DEFAULT_GROUNDING_THRESHOLD) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"grounding threshold must be between 0 and 1, got {threshold}")
        self.threshold = threshold

    def check(self, record: QARecord, chunk: Chunk) -> str | None:
        if record.origin.startswith("translation"):
            return None
        grounding = grounding_score(record.answer, chunk.text, question=record.question)
        record.meta["grounding"] = round(grounding.score, 3)
        if grounding.wrong_roles:
            return "answer_contradicts_text"
        if grounding.missing_numbers:
            return "answer_number_not_in_text"
        if grounding.missing_names:
            return "answer_name_not_in_text"
        if grounding.score < self.threshold:
            return "answer_not_grounded"
        return None


class StandaloneCheck(PairValidator):
    """Reject questions that only make sense next to their text."""

    name = "standalone"

    def __init__(self, *, rules: StandaloneRules | None = None) -> None:
        self.rules = rules

    def check(self, record: QARecord, chunk: Chunk) -> str | None:
        issues = check_standalone(record.question, rules=self.rules)
        if issues:
            record.meta["standalone_issue"] = f"{issues[0].rule}: {issues[0].match}"
            return "not_standalone"
        return None


class LanguageCheck(PairValidator):
    """Reject pairs whose question or answer is not in the expected language.

    The expected language is ``target`` if given, else the record's own
    (translations carry it), else the chunk's. Text without letters (a bare
    number) passes; Japanese text written only in kanji may read as Chinese and
    passes for Japanese.
    """

    name = "language"

    def __init__(self, *, target: str | None = None) -> None:
        self.target = target

    def check(self, record: QARecord, chunk: Chunk) -> str | None:
        expected = _expected_language(record, chunk, self.target)
        if expected == "und":
            return None
        for text in (record.question, record.answer):
            if not matches_language(text, expected):
                record.meta["language_found"] = detect_language(text)
                return "wrong_language"
        return None


class NearDuplicates(GroupFilter):
    """Drop questions that are near-duplicates of another generated question.

    MinHash + LSH over word (or, for CJK, character) shingles of normalised
    questions; of each group the pair with the best grounding score is kept
    (the first in chunk order on a tie). Questions that name different numbers
    ("the 1981 final" / "the 2021 final") are never duplicates of each other.
    Paraphrases and translations are variants on purpose and are left alone.
    """

    name = "near_duplicates"

    def __init__(self, *, threshold: float = DEFAULT_NEAR_DUPLICATE_THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold

    def select(self, records: Sequence[QARecord]) -> GroupOutcome:
        index = NearDuplicateIndex(threshold=self.threshold)
        for position, record in enumerate(records):
            if record.origin == "generated":
                index.add(position, record.question)
        outcome = GroupOutcome()
        for similar in index.groups():
            for group in _same_numbers(similar, records):
                self._keep_best(group, records, outcome)
        return outcome

    @staticmethod
    def _keep_best(group: list[int], records: Sequence[QARecord], outcome: GroupOutcome) -> None:
        best = max(group, key=lambda i: (_grounding(records[i]), -i))
        outcome.groups.append(group)
        for position in group:
            if position != best:
                detail = f"near-duplicate of: {records[best].question}"
                outcome.dropped[position] = ("near_duplicate", detail)


def _same_numbers(group: list[int], records: Sequence[QARecord]) -> list[list[int]]:
    """Split a group of similar questions by the numbers they name: "the 1981 cup"
    and "the 2021 cup" ask about different facts however alike their wording."""
    by_numbers: dict[frozenset[str], list[int]] = {}
    for position in group:
        numbers = frozenset(extract_numbers(records[position].question))
        by_numbers.setdefault(numbers, []).append(position)
    return [members for members in by_numbers.values() if len(members) > 1]


def _grounding(record: QARecord) -> float:
    score = record.meta.get("grounding")
    return float(score) if isinstance(score, (int, float)) else 0.0
