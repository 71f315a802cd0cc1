"""Data types that flow through the pipeline.

``QA`` and ``QACollection`` are what the model must return; ``Chunk`` is what it
reads; ``QARecord`` is what gets written, with its provenance; ``Rejection`` and
``ChunkFailure`` keep everything that did not make it, with the reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["QA", "Chunk", "ChunkFailure", "QACollection", "QARecord", "Rejection", "chunk_id"]


class QA(BaseModel):
    """One question and its answer, as the model returns it."""

    model_config = ConfigDict(extra="ignore")

    question: str = Field(
        description="A question that makes sense on its own: it names who, what, when or "
        "which event it is about, without relying on the source text being visible."
    )
    answer: str = Field(description="The answer, supported by the text.")


class QACollection(BaseModel):
    """The whole reply the model must produce for one chunk."""

    model_config = ConfigDict(extra="ignore")

    question_answer_pairs: list[QA] = Field(
        description="Every unique question-answer pair the text supports."
    )


def chunk_id(source: str, text: str) -> str:
    """Stable id of a chunk: a hash of where it came from and what it says."""
    digest = hashlib.sha256()
    digest.update(source.encode("utf-8"))
    digest.update(b"\x00")
    digest.update(text.encode("utf-8"))
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Chunk:
    """A piece of one document, small enough for one model call."""

    text: str
    theme: str
    source: str
    index: int
    id: str = ""
    page: int | None = None
    """The page the chunk starts on (1-based), where the document has pages."""
    headings: tuple[str, ...] = ()
    """The heading path down to the chunk (outermost first), where the document has one."""

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", chunk_id(self.source, self.text))


@dataclass(frozen=True)
class QARecord:
    """A kept question-answer pair with its provenance.

    ``origin`` is ``"generated"`` for pairs the model produced from the chunk;
    derived variants (paraphrases, translations) name their kind there and point
    at the question they came from in ``derived_from``.
    """

    question: str
    answer: str
    theme: str
    source: str
    chunk_id: str
    chunk_index: int
    origin: str = "generated"
    derived_from: str | None = None
    page: int | None = None
    annotations: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """What checks noted on the pair (a grounding score, a judge's rating, ...)."""

    @classmethod
    def of(cls, chunk: Chunk, question: str, answer: str) -> QARecord:
        """A generated pair of ``chunk``, with the chunk's provenance."""
        return cls(
            question=question.strip(),
            answer=answer.strip(),
            theme=chunk.theme,
            source=chunk.source,
            chunk_id=chunk.id,
            chunk_index=chunk.index,
            page=chunk.page,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QARecord:
        data = dict(data)
        if "meta" in data:  # state files written by qasynth 0.1
            data["annotations"] = data.pop("meta")
        return cls(**data)


@dataclass(frozen=True)
class Rejection:
    """A pair that was dropped, and why."""

    reason: str
    question: str
    answer: str
    chunk_id: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChunkFailure:
    """A chunk that did not yield pairs, kept with the reason and the raw output.

    ``transient`` failures (timeouts, 429s and server errors that outlasted their
    retries) are tried again by a plain rerun; the others only on request."""

    chunk_id: str
    source: str
    theme: str
    chunk_index: int
    reason: str
    raw_output: str
    attempts: int
    transient: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
