"""Defaults shared by the library and the command line, in a module that imports nothing heavy.

The ``qasynth`` command shows these in ``--help`` as option defaults, so it reads
them from here instead of importing the modules that use them (LangChain, the
OpenAI client, tiktoken). Each of those modules imports its names from here,
so ``qasynth._llm.DEFAULT_MODEL`` and the like keep working.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "DEFAULT_BATCH_POLL_INTERVAL",
    "DEFAULT_CHUNK_OVERLAP",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_GROUNDING_THRESHOLD",
    "DEFAULT_MAX_FIX_ATTEMPTS",
    "DEFAULT_MODEL",
    "DEFAULT_NEAR_DUPLICATE_THRESHOLD",
    "DEFAULT_OUTPUT_RATIO",
    "DEFAULT_REQUEST_TIMEOUT",
    "DEFAULT_SEMANTIC_THRESHOLD",
    "FORMATS",
    "Format",
]

# -- the model (qasynth._llm) ------------------------------------------------------------------

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_REQUEST_TIMEOUT = 120.0

# -- chunking (qasynth._chunking) --------------------------------------------------------------

DEFAULT_CHUNK_SIZE = 2000
DEFAULT_CHUNK_OVERLAP = 500

# -- parsing (qasynth._parsing) ----------------------------------------------------------------

DEFAULT_MAX_FIX_ATTEMPTS = 2

# -- the Batch API (qasynth._batch, where it is DEFAULT_POLL_INTERVAL) ------------------------

DEFAULT_BATCH_POLL_INTERVAL = 30.0
"""Seconds between two looks at the batches being waited for."""

# -- plan (qasynth._plan) ----------------------------------------------------------------------

DEFAULT_OUTPUT_RATIO = 0.6
"""Assumed output tokens per token of chunk text (see the module docstring of ``_plan``)."""

# -- checks (qasynth.checks._heuristic, qasynth.checks._semantic) -----------------------------

DEFAULT_GROUNDING_THRESHOLD = 0.5
DEFAULT_NEAR_DUPLICATE_THRESHOLD = 0.85
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
DEFAULT_SEMANTIC_THRESHOLD = 0.9

# -- output formats (qasynth._formats) ---------------------------------------------------------

Format = Literal["openai", "alpaca", "sharegpt"]
FORMATS: tuple[str, ...] = get_args(Format)
