"""The quality report: what was kept, and every rejection reason with examples."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._runview import StoredRecords
from ._schema import ChunkFailure, QARecord, Rejection
from ._stats import Stats


class RunOutcome(Protocol):
    """What a report is made from: a ``Dataset`` or a file run's ``RunReport``."""

    @property
    def records(self) -> Sequence[QARecord]: ...
    @property
    def rejections(self) -> Sequence[Rejection]: ...
    @property
    def failures(self) -> Sequence[ChunkFailure]: ...
    @property
    def stats(self) -> Stats: ...


__all__ = ["QualityReport", "phrasings_per_fact"]


def phrasings_per_fact(records: Iterable[QARecord]) -> dict[str, float]:
    """How many kept records state each generated pair's fact: the pair itself plus its
    kept variants (question and answer paraphrases, translations), as ``facts``,
    ``min``, ``median``, ``mean`` and ``max`` (empty without generated pairs).

    A file run's records (read from its state) are counted a chunk at a time, as
    they come in chunk order, so memory does not grow with the run."""
    if isinstance(records, StoredRecords):
        return _summary(_chunk_by_chunk(records))
    counts: dict[tuple[str, str], int] = {}
    variants: Counter[tuple[str, str]] = Counter()
    for record in records:
        if record.origin == "generated":
            counts[(record.chunk_id, record.question)] = 1
        elif record.derived_from is not None:
            variants[(record.chunk_id, record.derived_from)] += 1
    return _summary(Counter(1 + variants[key] for key in counts))


def _chunk_by_chunk(records: Iterable[QARecord]) -> Counter[int]:
    """Phrasings per fact (as a count of each value) of records in chunk order."""
    values: Counter[int] = Counter()
    chunk: str | None = None
    facts: set[str] = set()
    variants: Counter[str] = Counter()
    for record in records:
        if record.chunk_id != chunk:
            values.update(1 + variants[question] for question in facts)
            facts.clear()
            variants.clear()
            chunk = record.chunk_id
        if record.origin == "generated":
            facts.add(record.question)
        elif record.derived_from is not None:
            variants[record.derived_from] += 1
    values.update(1 + variants[question] for question in facts)
    return values


def _summary(values: Counter[int]) -> dict[str, float]:
    facts = values.total()
    if not facts:
        return {}
    ordered = sorted(values)
    middle = [_at(values, ordered, (facts - 1) // 2), _at(values, ordered, facts // 2)]
    return {
        "facts": facts,
        "min": ordered[0],
        "median": float(statistics.median(middle)),
        "mean": round(sum(value * count for value, count in values.items()) / facts, 2),
        "max": ordered[-1],
    }


def _at(values: Counter[int], ordered: list[int], position: int) -> int:
    """The value at ``position`` of the sorted multiset ``values``."""
    for value in ordered:
        if position < values[value]:
            return value
        position -= values[value]
    raise IndexError(position)


@dataclass
class QualityReport:
    """Counts by rejection reason with a few examples of each, plus run totals."""

    kept: int
    rejected: int
    failed_chunks: int
    by_reason: dict[str, int]
    examples: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    phrasings: dict[str, float] = field(default_factory=dict)
    """Phrasings per fact (see :func:`phrasings_per_fact`)."""

    @classmethod
    def build(
        cls,
        *,
        kept: int,
        rejections: Iterable[Rejection],
        failures: Iterable[ChunkFailure] = (),
        stats: Stats | None = None,
        examples_per_reason: int = 3,
        records: Iterable[QARecord] = (),
    ) -> QualityReport:
        counts: Counter[str] = Counter()
        examples: dict[str, list[dict[str, str]]] = defaultdict(list)
        for rejection in rejections:
            counts[rejection.reason] += 1
            if len(examples[rejection.reason]) < examples_per_reason:
                example = {"question": rejection.question, "answer": rejection.answer}
                if rejection.detail:
                    example["detail"] = rejection.detail
                example["chunk_id"] = rejection.chunk_id
                examples[rejection.reason].append(example)
        return cls(
            kept=kept,
            rejected=sum(counts.values()),
            failed_chunks=sum(1 for _ in failures),
            by_reason=dict(counts.most_common()),
            examples=dict(examples),
            stats=stats.to_dict() if stats is not None else {},
            phrasings=phrasings_per_fact(records),
        )

    @classmethod
    def of(cls, result: RunOutcome, *, examples_per_reason: int = 3) -> QualityReport:
        """The report for a ``Dataset`` or a file run's ``RunReport``."""
        return cls.build(
            kept=len(result.records),
            rejections=result.rejections,
            failures=result.failures,
            stats=result.stats,
            examples_per_reason=examples_per_reason,
            records=result.records,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "rejected": self.rejected,
            "failed_chunks": self.failed_chunks,
            "rejections": {
                reason: {"count": count, "examples": self.examples.get(reason, [])}
                for reason, count in self.by_reason.items()
            },
            "phrasings_per_fact": self.phrasings,
            "stats": self.stats,
        }

    def format_text(self, *, width: int = 70) -> str:
        """A short readable summary: one line per reason with one example."""
        lines = [f"kept {self.kept} pairs, rejected {self.rejected}"]
        if self.phrasings.get("max", 1) > 1:
            p = self.phrasings
            lines.append(
                f"  phrasings per fact: min {p['min']:g}, median {p['median']:g}, "
                f"mean {p['mean']:g}, max {p['max']:g}"
            )
        for reason, count in self.by_reason.items():
            lines.append(f"  {reason}: {count}")
            for example in self.examples.get(reason, [])[:1]:
                question = example["question"].replace("\n", " ")
                if len(question) > width:
                    question = question[: width - 1] + "…"
                lines.append(f"      e.g. {question!r}")
        return "\n".join(lines)
