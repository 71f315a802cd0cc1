"""qasynth: turn raw documents into question-answer fine-tuning data.

import qasynth
ds = qasynth.synthesize(["notes/world_cup_2023.txt"], llm=my_chat_model)
ds.to_jsonl("train.jsonl", system_prompt="You are a helpful assistant.")
"""

from __future__ import annotations

import logging

from ._calls import Limits
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
from ._pipeline import Synthesizer, asynthesize, synthesize
from ._plan import Plan, plan
from ._prompts import QAPrompt
from ._report import QualityReport
from ._schema import QA, Chunk, ChunkFailure, QACollection, QARecord, Rejection
from ._stats import Stats

__version__ = "0.1.0"

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
