"""Flat options → the few objects a run is made of.

``synthesize(docs, chunk_size=1000, concurrency=16, judge=True)``, ``plan`` and
the command line all speak in flat options; :class:`~qasynth.Synthesizer` takes
objects (a chunker, checks, limits). :func:`build_synthesizer_options` is the one
place that maps the first to the second. It refuses unknown names (with the
closest match) and options that an object given alongside would override.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from ._chunking import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE, Chunker
from ._errors import ConfigurationError
from ._limits import Limits
from ._llm import DEFAULT_MODEL, model_name_of
from .checks import OpenAIEmbeddingsOnDemand, default_checks
from .checks._semantic import DEFAULT_EMBEDDING_MODEL

__all__ = ["CHECK_OPTIONS", "CHUNK_OPTIONS", "LIMIT_OPTIONS", "build_synthesizer_options"]

CHUNK_OPTIONS = ("chunk_size", "chunk_overlap", "encoding")
LIMIT_OPTIONS = {  # flat name -> Limits field
    "concurrency": "concurrency",
    "rpm": "rpm",
    "tpm": "tpm",
    "request_timeout": "timeout",
    "max_attempts": "attempts",
    "retry_base_delay": "backoff",
    "max_wait": "max_wait",
    "check_workers": "check_workers",
}
CHECK_OPTIONS = {  # flat name -> default_checks argument
    "language": "language",
    "grounding_threshold": "grounding",
    "standalone": "standalone",
    "near_duplicate_threshold": "near_duplicates",
    "max_question_chars": "max_question_chars",
    "max_answer_chars": "max_answer_chars",
    "min_pairs_per_chunk": "min_pairs_per_chunk",
    "max_topups": "max_topups",
    "judge": "judge",
    "judge_threshold": "judge_threshold",
    "paraphrases": "paraphrases",
    "also_languages": "also_languages",
    "repair_dangling": "repair_dangling",
    "answer_paraphrases": "answer_paraphrases",
    "semantic_duplicates": "semantic_duplicates",
    "semantic_duplicate_threshold": "semantic_duplicate_threshold",
}
MODEL_OPTIONS = ("model", "base_url", "api_key", "temperature")
DIRECT = ("llm", "prompt", "chunker", "checks", "limits", "cache", "theme", "max_fix_attempts",
          "progress", "context", "structured")  # fmt: skip
_KNOWN = (*DIRECT, *MODEL_OPTIONS, *CHUNK_OPTIONS, *LIMIT_OPTIONS, *CHECK_OPTIONS)


def _refuse_mixed(options: Mapping[str, Any], obj: str, flat: tuple[str, ...] | Any) -> None:
    given = sorted(name for name in flat if name in options)
    if options.get(obj) is not None and given:
        raise ConfigurationError(
            f"{obj}= is given, so {', '.join(given)} would be ignored; set "
            f"{'them' if len(given) > 1 else 'it'} on the {obj} object instead, or drop {obj}="
        )


def build_synthesizer_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for :class:`~qasynth.Synthesizer` from flat options."""
    unknown = [name for name in options if name not in _KNOWN]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, _KNOWN, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known options: {', '.join(_KNOWN)}"
        raise ConfigurationError(f"unknown option {name!r}{hint}")
    _refuse_mixed(options, "checks", CHECK_OPTIONS)
    _refuse_mixed(options, "limits", LIMIT_OPTIONS)
    _refuse_mixed(options, "chunker", CHUNK_OPTIONS)
    _refuse_mixed(options, "llm", ("model", "base_url", "temperature"))  # api_key: redacted
    out: dict[str, Any] = {k: options[k] for k in DIRECT if k in options}
    llm = options.get("llm")
    if llm is None:
        out["llm"] = options.get("model") or DEFAULT_MODEL
        for name in ("base_url", "temperature"):
            if name in options:
                out[name] = options[name]
    if "api_key" in options:
        out["api_key"] = options["api_key"]
    limits = {LIMIT_OPTIONS[k]: v for k, v in options.items() if k in LIMIT_OPTIONS}
    if limits:
        try:
            out["limits"] = Limits(**limits)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
    checks = {CHECK_OPTIONS[k]: v for k, v in options.items() if k in CHECK_OPTIONS}
    if checks.get("semantic_duplicates") is True or isinstance(
        checks.get("semantic_duplicates"), str
    ):  # OpenAI embeddings on the chat model's server and key
        checks["semantic_duplicates"] = OpenAIEmbeddingsOnDemand(
            DEFAULT_EMBEDDING_MODEL
            if checks["semantic_duplicates"] is True
            else checks["semantic_duplicates"],
            base_url=None if llm is not None else options.get("base_url"),
            api_key=options.get("api_key"),
        )
    if checks:
        try:
            out["checks"] = default_checks(**checks)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
    if any(k in options for k in CHUNK_OPTIONS):
        model = model_name_of(llm) if llm is not None else out["llm"]
        out["chunker"] = Chunker(
            chunk_size=options.get("chunk_size", DEFAULT_CHUNK_SIZE),
            chunk_overlap=options.get("chunk_overlap", DEFAULT_CHUNK_OVERLAP),
            encoding=options.get("encoding"),
            model=model,
        )
    return out
