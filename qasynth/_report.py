"""The quality report: what was kept, and every rejection reason with examples."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

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
    ``min``, ``median``, ``mean`` and ``max`` (empty without generated pairs)."""
    counts: dict[tuple[str, str], int] = {}
    variants: Counter[tuple[str, str]] = Counter()
    for record in records:
        if record.origin == "generated":
            counts[(record.chunk_id, record.question)] = 1
        elif record.derived_from is not None:
            variants[(record.chunk_id, record.derived_from)] += 1
    if not counts:
        return {}
    values = [1 + variants[key] for key in counts]
    return {
        "facts": len(values),
        "min": min(values),
        "median": float(statistics.median(values)),
        "mean": round(statistics.fmean(values), 2),
        "max": max(values),
    }


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
