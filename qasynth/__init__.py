"""qasynth: turn raw documents into question-answer fine-tuning data.

import qasynth
ds = qasynth.synthesize(["notes/world_cup_2023.txt"], llm=my_chat_model)
ds.to_jsonl("train.jsonl", system_prompt="You are a helpful assistant.")
"""

from __future__ import annotations

import logging

from .cache import SQLiteResponseCache
from .check import CheckReport, Problem, TokenStats, check_jsonl
from .chunking import Chunker
from .convert import ConvertReport, SkippedRow, csv_to_jsonl
from .dataset import Dataset, Stats
from .errors import (
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
from .filters import GroundingCheck, LanguageCheck, NearDuplicates, StandaloneCheck
from .parsing import ReplyParser
from .pipeline import Synthesizer, asynthesize, synthesize
from .plan import Plan, plan
from .pricing import ModelPrice, model_price, prices_as_of
from .prompts import QAPrompt
from .report import QualityReport
from .runs import RunReport, SplitOptions
from .schema import QA, Chunk, ChunkFailure, QACollection, QARecord, Rejection
from .steps import ChunkStep, LLMJudge, Paraphraser, Translator
from .validation import (
    ExactDuplicates,
    GroupFilter,
    MaxLength,
    NonEmpty,
    NotEcho,
    PairValidator,
    RunFilter,
)
from .worker import ChunkResult

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
    "ExactDuplicates",
    "GroundingCheck",
    "GroupFilter",
    "InputError",
    "LLMJudge",
    "LanguageCheck",
    "MaxLength",
    "ModelError",
    "ModelPrice",
    "NearDuplicates",
    "NonEmpty",
    "NotEcho",
    "PairValidator",
    "Paraphraser",
    "ParseError",
    "Plan",
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
    "asynthesize",
    "check_jsonl",
    "csv_to_jsonl",
    "model_price",
    "plan",
    "prices_as_of",
    "synthesize",
]

logging.getLogger("qasynth").addHandler(logging.NullHandler())
