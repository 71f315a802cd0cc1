"""qasynth: turn raw documents into question-answer fine-tuning data.

import qasynth
ds = qasynth.synthesize(["notes/world_cup_2023.txt"], llm=my_chat_model)
ds.to_jsonl("train.jsonl", system_prompt="You are a helpful assistant.")
"""

from __future__ import annotations

import logging

from .cache import SQLiteResponseCache
from .chunking import Chunker
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
from .parsing import ReplyParser
from .pipeline import Synthesizer, asynthesize, synthesize
from .prompts import QAPrompt
from .runs import RunReport
from .schema import QA, Chunk, ChunkFailure, QACollection, QARecord, Rejection
from .steps import ChunkStep, LLMJudge, Paraphraser, Translator
from .validation import ExactDuplicates, MaxLength, NonEmpty, NotEcho, PairValidator, RunFilter
from .worker import ChunkResult

__version__ = "0.1.0"

__all__ = [
    "QA",
    "AuthenticationError",
    "Chunk",
    "ChunkFailure",
    "ChunkResult",
    "ChunkStep",
    "Chunker",
    "ColumnError",
    "ConfigurationError",
    "Dataset",
    "DocumentError",
    "EncodingUnavailableError",
    "ExactDuplicates",
    "InputError",
    "LLMJudge",
    "MaxLength",
    "ModelError",
    "NonEmpty",
    "NotEcho",
    "PairValidator",
    "Paraphraser",
    "ParseError",
    "QACollection",
    "QAPrompt",
    "QARecord",
    "QasynthError",
    "Rejection",
    "ReplyParser",
    "RunFilter",
    "RunReport",
    "SQLiteResponseCache",
    "StateError",
    "Stats",
    "Synthesizer",
    "Translator",
    "__version__",
    "asynthesize",
    "synthesize",
]

logging.getLogger("qasynth").addHandler(logging.NullHandler())
