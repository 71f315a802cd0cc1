"""qasynth: turn raw documents into question-answer fine-tuning data.

import qasynth
ds = qasynth.synthesize(["notes/world_cup_2023.txt"], llm=my_chat_model)
ds.to_jsonl("train.jsonl", system_prompt="You are a helpful assistant.")
"""

from __future__ import annotations

import logging
import typing

from ._lazy import lazy_exports as _lazy_exports

if typing.TYPE_CHECKING:
    from ._chunking import Chunker
    from ._convert import csv_to_jsonl
    from ._dataset import Dataset
    from ._errors import (
        AuthenticationError,
        ColumnError,
        ConfigurationError,
        DocumentError,
        EncodingUnavailableError,
        InputError,
        ModelError,
        OutputError,
        ParseError,
        QasynthError,
        StateError,
        UnreachableError,
    )
    from ._eval_results import EvalResult
    from ._evaluate import aevaluate, evaluate
    from ._filecheck import check_jsonl
    from ._filerun import RunReport, SplitOptions
    from ._finetune import FineTuneResult, afinetune, finetune
    from ._limits import Limits
    from ._pipeline import Synthesizer, asynthesize, synthesize
    from ._plan import Plan, plan
    from ._prompts import QAPrompt
    from ._report import QualityReport
    from ._schema import QA, Chunk, ChunkFailure, QACollection, QARecord, Rejection
    from ._stats import Stats

__version__ = "0.1.0"

_EXPORTS = {
    "Limits": "._limits",
    "Chunker": "._chunking",
    "csv_to_jsonl": "._convert",
    "Dataset": "._dataset",
    "AuthenticationError": "._errors",
    "ColumnError": "._errors",
    "ConfigurationError": "._errors",
    "DocumentError": "._errors",
    "EncodingUnavailableError": "._errors",
    "InputError": "._errors",
    "ModelError": "._errors",
    "OutputError": "._errors",
    "ParseError": "._errors",
    "QasynthError": "._errors",
    "StateError": "._errors",
    "UnreachableError": "._errors",
    "EvalResult": "._eval_results",
    "aevaluate": "._evaluate",
    "evaluate": "._evaluate",
    "check_jsonl": "._filecheck",
    "RunReport": "._filerun",
    "SplitOptions": "._filerun",
    "FineTuneResult": "._finetune",
    "afinetune": "._finetune",
    "finetune": "._finetune",
    "Synthesizer": "._pipeline",
    "asynthesize": "._pipeline",
    "synthesize": "._pipeline",
    "Plan": "._plan",
    "plan": "._plan",
    "QAPrompt": "._prompts",
    "QualityReport": "._report",
    "QA": "._schema",
    "Chunk": "._schema",
    "ChunkFailure": "._schema",
    "QACollection": "._schema",
    "QARecord": "._schema",
    "Rejection": "._schema",
    "Stats": "._stats",
}
"""Where each public name lives. The modules load on first use, so ``import qasynth``
(and the ``qasynth`` command, and a check worker) does not pay for LangChain and the
OpenAI client before it needs them."""

__all__ = [
    "QA",
    "AuthenticationError",
    "Chunk",
    "ChunkFailure",
    "Chunker",
    "ColumnError",
    "ConfigurationError",
    "Dataset",
    "DocumentError",
    "EncodingUnavailableError",
    "EvalResult",
    "FineTuneResult",
    "InputError",
    "Limits",
    "ModelError",
    "OutputError",
    "ParseError",
    "Plan",
    "QACollection",
    "QAPrompt",
    "QARecord",
    "QasynthError",
    "QualityReport",
    "Rejection",
    "RunReport",
    "SplitOptions",
    "StateError",
    "Stats",
    "Synthesizer",
    "UnreachableError",
    "__version__",
    "aevaluate",
    "afinetune",
    "asynthesize",
    "check_jsonl",
    "csv_to_jsonl",
    "evaluate",
    "finetune",
    "plan",
    "synthesize",
]

logging.getLogger("qasynth").addHandler(logging.NullHandler())


__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)
