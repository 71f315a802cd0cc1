"""qasynth: turn raw documents into question-answer fine-tuning data.

import qasynth
ds = qasynth.synthesize(["notes/world_cup_2023.txt"], llm=my_chat_model)
ds.to_jsonl("train.jsonl", system_prompt="You are a helpful assistant.")
"""

from __future__ import annotations

import logging

from ._cache import SQLiteResponseCache
from ._chunking import Chunker
from ._convert import ConvertReport, SkippedRow, csv_to_jsonl
from ._dataset import Dataset, Stats
from ._errors import (
    AuthenticationError,
    ColumnError,
    ConfigurationError,
    DocumentError,
    EncodingUnavailableError,
    InputError,
    ModelError,
    ParseError,
    QasynthError,
    StateError,
)
from ._eval_results import EvalResult, ModelScore, ProbeResult
from ._evaluate import aevaluate, evaluate
from ._filecheck import CheckReport, Problem, TokenStats, check_jsonl
from ._filters import GroundingCheck, LanguageCheck, NearDuplicates, StandaloneCheck
from ._finetune import FineTuneProgress, FineTuneResult, afinetune, finetune
from ._parsing import ReplyParser
from ._pipeline import Synthesizer, asynthesize, synthesize
from ._plan import Plan, plan
from ._pricing import ModelPrice, model_price, prices_as_of
from ._prompts import QAPrompt
from ._report import QualityReport
from ._runs import RunReport, SplitOptions
from ._schema import QA, Chunk, ChunkFailure, QACollection, QARecord, Rejection
from ._steps import ChunkStep, LLMJudge, Paraphraser, Translator
from ._validation import (
    ExactDuplicates,
    GroupFilter,
    MaxLength,
    NonEmpty,
    NotEcho,
    PairValidator,
    RunFilter,
)
from ._worker import ChunkResult

__version__ = "0.1.0"

__all__ = [
    "QA",
    "AuthenticationError",
    "CheckReport",
    "Chunk",
    "ChunkFailure",
    "ChunkResult",
    "ChunkStep",
    "Chunker",
    "ColumnError",
    "ConfigurationError",
    "ConvertReport",
    "Dataset",
    "DocumentError",
    "EncodingUnavailableError",
    "EvalResult",
    "ExactDuplicates",
    "FineTuneProgress",
    "FineTuneResult",
    "GroundingCheck",
    "GroupFilter",
    "InputError",
    "LLMJudge",
    "LanguageCheck",
    "MaxLength",
    "ModelError",
    "ModelPrice",
    "ModelScore",
    "NearDuplicates",
    "NonEmpty",
    "NotEcho",
    "PairValidator",
    "Paraphraser",
    "ParseError",
    "Plan",
    "ProbeResult",
    "Problem",
    "QACollection",
    "QAPrompt",
    "QARecord",
    "QasynthError",
    "QualityReport",
    "Rejection",
    "ReplyParser",
    "RunFilter",
    "RunReport",
    "SQLiteResponseCache",
    "SkippedRow",
    "SplitOptions",
    "StandaloneCheck",
    "StateError",
    "Stats",
    "Synthesizer",
    "TokenStats",
    "Translator",
    "__version__",
    "aevaluate",
    "afinetune",
    "asynthesize",
    "check_jsonl",
    "csv_to_jsonl",
    "evaluate",
    "finetune",
    "model_price",
    "plan",
    "prices_as_of",
    "synthesize",
]

logging.getLogger("qasynth").addHandler(logging.NullHandler())
