"""What an evaluation found: every graded answer, and accuracy per model and probe kind."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["EvalResult", "ModelScore", "ProbeResult", "kind_order", "score_cell", "summarize",
           "ungraded_note"]  # fmt: skip


@dataclass(frozen=True)
class ProbeResult:
    """One model's graded answer to one probe; ``source`` is the test question it
    was made from (the question itself for ``verbatim`` probes). ``correct`` is
    ``None`` when the grader model gave no usable grade: the answer is then left out
    of the scores (a rerun grades it again)."""

    model: str
    kind: str
    question: str
    expected: str
    answer: str
    correct: bool | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelScore:
    """Accuracy of one model overall and per probe kind, over the graded answers
    (``n``, ``n_by_kind`` count them; ``ungraded`` counts the answers left out)."""

    model: str
    accuracy: float
    n: int
    by_kind: Mapping[str, float]
    n_by_kind: Mapping[str, int]
    ungraded: int = 0


def kind_order(kind: str) -> tuple[int, str]:
    """verbatim, paraphrase, then translations by language."""
    rank = {"verbatim": 0, "paraphrase": 1}.get(kind, 2)
    return rank, kind


@dataclass(frozen=True)
class EvalResult:
    """Scores per model (in the order asked) and every graded answer."""

    scores: tuple[ModelScore, ...]
    results: tuple[ProbeResult, ...]
    grader: str

    @property
    def kinds(self) -> list[str]:
        return sorted({r.kind for r in self.results}, key=kind_order)

    def score(self, model: str) -> ModelScore:
        """The score of ``model`` (KeyError when it was not evaluated)."""
        for score in self.scores:
            if score.model == model:
                return score
        raise KeyError(model)

    def wrong(self) -> list[ProbeResult]:
        return [r for r in self.results if r.correct is False]

    @property
    def ungraded(self) -> int:
        """Answers the grader model gave no usable grade for (left out of the scores)."""
        return sum(r.correct is None for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        """``{"models": {M: {"accuracy", "n", "by_kind", "n_by_kind", "ungraded"}},
        "grader": ..., "ungraded": ...}``."""
        models = {
            s.model: {"accuracy": s.accuracy, "n": s.n, "by_kind": dict(s.by_kind),
                      "n_by_kind": dict(s.n_by_kind), "ungraded": s.ungraded}
            for s in self.scores
        }  # fmt: skip
        return {"models": models, "grader": self.grader, "ungraded": self.ungraded}

    def write_jsonl(self, path: Path) -> None:
        """One line per model and probe: model, kind, question, expected, answer, correct."""
        temporary = path.with_name(path.name + ".tmp")
        with temporary.open("w", encoding="utf-8", newline="\n") as handle:
            for result in self.results:
                handle.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        temporary.replace(path)

    def format_table(self) -> str:
        """Accuracy per model (rows) and probe kind (columns), with counts."""
        kinds = self.kinds
        header = ["model", "all", *kinds]
        rows = [header]
        for s in self.scores:
            cells = [s.model, score_cell(s.accuracy, s.n)]
            cells += [score_cell(s.by_kind[k], s.n_by_kind[k]) if k in s.by_kind else "-"
                      for k in kinds]  # fmt: skip
            rows.append(cells)
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
                 for row in rows]  # fmt: skip
        lines.insert(1, "  ".join("-" * w for w in widths))
        if self.ungraded:
            lines.append(ungraded_note(self.ungraded))
        return "\n".join(lines)


def ungraded_note(count: int) -> str:
    answers, are, them = ("answer", "is", "it") if count == 1 else ("answers", "are", "them")
    return (
        f"{count:,} {answers} could not be graded (the grader model gave no usable grade) "
        f"and {are} left out of the scores; run the same command again to grade {them}"
    )


def score_cell(accuracy: float, n: int) -> str:
    """An accuracy and its count ("83% (12)"), or "-" when nothing was graded."""
    return f"{accuracy:.0%} ({n})" if n else "-"


def summarize(results: Sequence[ProbeResult], *, grader: str) -> EvalResult:
    """Accuracy per model, in the order the models first appear."""
    models = list(dict.fromkeys(r.model for r in results))
    scores = []
    for model in models:
        mine = [r for r in results if r.model == model]
        graded = [r for r in mine if r.correct is not None]
        kinds = sorted({r.kind for r in graded}, key=kind_order)
        by_kind: dict[str, float] = {}
        counts: dict[str, int] = {}
        for kind in kinds:
            grades = [bool(r.correct) for r in graded if r.kind == kind]
            by_kind[kind], counts[kind] = sum(grades) / len(grades), len(grades)
        accuracy = sum(bool(r.correct) for r in graded) / len(graded) if graded else 0.0
        ungraded = len(mine) - len(graded)
        scores.append(ModelScore(model, accuracy, len(graded), by_kind, counts, ungraded))
    return EvalResult(tuple(scores), tuple(results), grader)
