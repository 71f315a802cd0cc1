"""The Synthesizer's input and output as Pydantic models, for LangChain's schemas.

LangChain asks a Runnable for ``get_input_schema``/``get_output_schema`` (and their
JSON forms) to describe it: LangServe-like servers, ``as_tool`` and graph drawings
call them. ``invoke`` takes what :func:`~qasynth._loaders.iter_documents` reads and
returns a :class:`~qasynth.Dataset`, which is no Pydantic type, so these models say
the same in JSON-schema terms. The output model is built from the dataclasses a
Dataset holds (``QARecord``, ``Rejection``, ``ChunkFailure``, ``Stats``), so it
cannot drift from them; it validates a Dataset read by attribute
(``SynthesizerOutput.model_validate(dataset, from_attributes=True)``).

Both models build their schema on first use, not on import.
"""

from __future__ import annotations

from pathlib import Path

from langchain_core.documents import Document
from pydantic import BaseModel, ConfigDict, Field, RootModel

from ._schema import ChunkFailure, QARecord, Rejection
from ._stats import Stats

__all__ = ["SynthesizerInput", "SynthesizerOutput"]

_Document = str | Path | Document


class SynthesizerInput(RootModel[_Document | list[_Document]]):
    """The documents to turn into question-answer pairs: one text, path or Document,
    or a list of them. A string that names an existing file or folder is read as that
    file or folder (text, Markdown, PDF, DOCX, HTML, or JSONL/CSV tables of documents);
    any other string is the text of one document."""

    model_config = ConfigDict(defer_build=True)


class SynthesizerOutput(BaseModel):
    """A run's :class:`~qasynth.Dataset`: the kept records (in chunk order), the pairs
    the checks rejected, the chunks that failed, and the run's counts."""

    model_config = ConfigDict(defer_build=True)

    records: list[QARecord] = Field(
        description="The kept question-answer pairs with their provenance "
        "(what Dataset.records_to_jsonl writes, one per line)."
    )
    rejections: list[Rejection] = Field(description="The pairs a check dropped, and why.")
    failures: list[ChunkFailure] = Field(
        description="The chunks that gave no pairs, with the reason and the raw model output."
    )
    stats: Stats = Field(description="The counts of the run.")
    chunk_links: list[tuple[str, str]] = Field(
        description="Pairs of chunk ids whose records state the same fact "
        "(they share a split in Dataset.split)."
    )
