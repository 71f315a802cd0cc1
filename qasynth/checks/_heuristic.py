"""Model-free quality checks on by default.

- :class:`StandaloneCheck` (chunk): the question does not lean on context it
  does not contain ("he", "this tournament", "according to the text", "この大会").
  The rules are data (``qasynth/data/standalone_rules.json``).
- :class:`LanguageCheck` (chunk): question and answer are in the expected language.
- :class:`GroundingCheck` (chunk): the answer is made of what the chunk says;
  numbers and names in the answer must appear in the chunk. Annotates
  ``grounding`` (the score), which :class:`NearDuplicates` uses.
- :class:`NearDuplicates` (run): drops questions that differ only in wording
  trivia, keeping the better-grounded pair of each group.

A check that keeps a pair it was unsure about says so in the pair's ``unsure``
annotation (a list of short notes: a pronoun or demonstrative let off because a
subject is named before it, a grounding score within ``unsure_margin`` above the
threshold, a language the detector did not name outright), so ``LLMJudge(only_uncertain=True)`` can
send just those pairs to the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._constants import DEFAULT_GROUNDING_THRESHOLD, DEFAULT_NEAR_DUPLICATE_THRESHOLD
from .._errors import ConfigurationError
from .._quality import (
    StandaloneIssue,
    StandaloneRules,
    detect_language,
    extract_numbers,
    grounding_score,
    matches_language,
)
from .._quality.neardup_store import NearDuplicateStore
from .._quality.standalone import _judge as _judge_standalone
from .._schema import Chunk, QARecord
from .._scratch import scratch_database
from ._contract import Check, ChunkContext, PairCheck, RunContext, reject_variants

__all__ = [
    "DEFAULT_GROUNDING_THRESHOLD",
    "DEFAULT_NEAR_DUPLICATE_THRESHOLD",
    "GroundingCheck",
    "LanguageCheck",
    "NearDuplicates",
    "StandaloneCheck",
    "mark_unsure",
]

DEFAULT_UNSURE_MARGIN = 0.15
"""Grounding scores this far above the threshold count as unsure."""


def mark_unsure(ctx: Any, record: QARecord, note: str) -> QARecord:
    """Add ``note`` to ``record``'s ``unsure`` annotation (through a check context)."""
    notes = record.annotations.get("unsure")
    earlier = list(notes) if isinstance(notes, list) else []
    updated: QARecord = ctx.annotate(record, unsure=[*earlier, note])
    return updated


class StandaloneCheck(PairCheck):
    """Reject questions that only make sense next to their text."""

    name = "standalone"

    def __init__(self, *, rules: StandaloneRules | None = None) -> None:
        self.rules = rules
        self._judged: dict[str, tuple[list[StandaloneIssue], str | None]] = {}

    def check_pair(self, record: QARecord, chunk: Chunk) -> tuple[str, str] | None:
        issues = self._judge(record.question)[0]
        if issues:
            return "not_standalone", f"{issues[0].rule}: {issues[0].match}"
        return None

    def near_miss(self, question: str) -> str | None:
        """The first pointing rule (a pronoun or demonstrative that a subject named
        before it lets off: ``unless_named == "before"``) whose pattern matches the
        passing ``question``: "In the 2023 cup, who did she beat?" is probably fine,
        but a model-free check cannot be sure whom "she" means."""
        return self._judge(question)[1]

    def _judge(self, question: str) -> tuple[list[StandaloneIssue], str | None]:
        """(:func:`check_standalone`, :meth:`near_miss`) of ``question``, found in one
        pass over the rules and kept for the last question (:meth:`acheck_chunk` asks
        for both, one after the other)."""
        judged = self._judged.get(question)
        if judged is None:
            judged = _judge_standalone(question, None, self.rules)
            self._judged.clear()
            self._judged[question] = judged
        return judged

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        for record in ctx.records:
            verdict = self.check_pair(record, ctx.chunk)
            if verdict:
                ctx.reject(record, *verdict)
            elif (rule := self.near_miss(record.question)) is not None:
                mark_unsure(ctx, record, f"standalone: {rule}")


class LanguageCheck(PairCheck):
    """Reject pairs whose question or answer is not in the expected language.

    The expected language is ``target`` if given, else the record's own
    (translations carry it in their ``language`` annotation), else the chunk's.
    Text without letters (a bare number) passes; Japanese text written only in
    kanji may read as Chinese and passes for Japanese.
    """

    name = "language"

    def __init__(self, *, target: str | None = None) -> None:
        self.target = target

    def check_pair(self, record: QARecord, chunk: Chunk) -> tuple[str, str] | None:
        expected = self._expected(record, chunk)
        if expected == "und":
            return None
        for text in (record.question, record.answer):
            if not matches_language(text, expected):
                return "wrong_language", f"expected {expected}, found {detect_language(text)}"
        return None

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        for record in ctx.records:
            verdict = self.check_pair(record, ctx.chunk)
            if verdict:
                ctx.reject(record, *verdict)
                continue
            expected = self._expected(record, ctx.chunk)
            found = {detect_language(t) for t in (record.question, record.answer)}
            others = sorted(found - {expected, "und"})
            if expected != "und" and others:
                mark_unsure(ctx, record, f"language: {expected} read as {others[0]}")

    def _expected(self, record: QARecord, chunk: Chunk) -> str:
        own = record.annotations.get("language")
        expected = own if isinstance(own, str) and own else None
        return expected or self.target or detect_language(chunk.text)  # cached by the detector


class GroundingCheck(Check):
    """Reject answers the chunk does not support (translations are not checked)."""

    name = "grounding"

    def __init__(
        self,
        *,
        threshold: float = DEFAULT_GROUNDING_THRESHOLD,
        unsure_margin: float = DEFAULT_UNSURE_MARGIN,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigurationError(
                f"grounding threshold must be between 0 and 1, got {threshold}"
            )
        if unsure_margin < 0:
            raise ConfigurationError(f"unsure_margin must not be negative, got {unsure_margin}")
        self.threshold = threshold
        self.unsure_margin = unsure_margin

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        for record in ctx.records:
            if record.origin.startswith("translation"):
                continue
            grounding = grounding_score(record.answer, ctx.chunk.text, question=record.question)
            record = ctx.annotate(record, grounding=round(grounding.score, 3))
            if grounding.wrong_roles:
                reason = "answer_contradicts_text"
                evidence = f"the text says otherwise: {', '.join(map(str, grounding.wrong_roles))}"
            elif grounding.missing_numbers:
                reason = "answer_number_not_in_text"
                evidence = f"missing: {', '.join(grounding.missing_numbers)}"
            elif grounding.missing_names:
                reason = "answer_name_not_in_text"
                evidence = f"missing: {', '.join(grounding.missing_names)}"
            elif grounding.score < self.threshold:
                reason, evidence = "answer_not_grounded", ""
            else:
                if grounding.score < self.threshold + self.unsure_margin:
                    mark_unsure(ctx, record, f"grounding: {grounding.score:.2f}")
                continue
            ctx.reject(record, reason, evidence)


class NearDuplicates(Check):
    """Drop questions that are near-duplicates of another generated question.

    MinHash + LSH over word (or, for CJK, character) shingles of normalised
    questions (signatures and buckets kept on disk, so memory does not grow with
    the run); of each group the pair with the best grounding score is kept
    (the first in chunk order on a tie). Questions that name different numbers
    ("the 1981 final" / "the 2021 final") are never duplicates of each other.
    Paraphrases and translations are variants on purpose and are not compared; those
    made from a dropped question are dropped with it.
    """

    name = "near_duplicates"
    scope = "run"

    def __init__(self, *, threshold: float = DEFAULT_NEAR_DUPLICATE_THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ConfigurationError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold

    def check_run(self, ctx: RunContext) -> None:
        with scratch_database() as db:
            store = NearDuplicateStore(db, threshold=self.threshold)
            store.add_all((n, r.question) for n, r in ctx._numbered() if r.origin == "generated")
            dropped: dict[tuple[str, str], str] = {}
            for similar in store.groups():
                records = {number: ctx._record(number) for number in similar}
                for group in _same_numbers(similar, records):
                    best = max(group, key=lambda i: (_grounding(records[i]), -i))
                    for number in group:
                        if number != best:
                            ctx.link(records[best], records[number])
                            evidence = f"near-duplicate of: {records[best].question}"
                            ctx.reject(records[number], "near_duplicate", evidence)
                            key = (records[number].chunk_id, records[number].question)
                            dropped[key] = f"a variant of a {evidence}"
        reject_variants(ctx, dropped, "near_duplicate")


def _same_numbers(group: list[int], records: Mapping[int, QARecord]) -> list[list[int]]:
    """Split a group of similar questions by the numbers they name: "the 1981 cup"
    and "the 2021 cup" ask about different facts however alike their wording."""
    by_numbers: dict[frozenset[str], list[int]] = {}
    for number in group:
        numbers = frozenset(extract_numbers(records[number].question))
        by_numbers.setdefault(numbers, []).append(number)
    return [members for members in by_numbers.values() if len(members) > 1]


def _grounding(record: QARecord) -> float:
    score = record.annotations.get("grounding")
    return float(score) if isinstance(score, (int, float)) else 0.0
