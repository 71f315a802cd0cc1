"""Quality options shared by ``generate`` and ``plan``, and the ``--report`` file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .._constants import (
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_GROUNDING_THRESHOLD,
    DEFAULT_NEAR_DUPLICATE_THRESHOLD,
    DEFAULT_SEMANTIC_THRESHOLD,
)
from ._options import apply_options, load_prompt

if TYPE_CHECKING:
    from .._filerun import RunReport, SplitOptions

__all__ = ["quality_options", "quality_settings", "run_settings", "split_options", "write_report"]

F = TypeVar("F", bound=Callable[..., Any])


def _languages(_: click.Context, __: click.Parameter, value: str | None) -> list[str]:
    return [code.strip().lower() for code in (value or "").split(",") if code.strip()]


_QUALITY_OPTIONS = (
    click.option(
        "--language",
        default="auto",
        show_default=True,
        metavar="auto|off|CODE",
        help="Language every question and answer must be in: the chunk's (auto), a code "
        "such as ja or en, or off.",
    ),
    click.option(
        "--grounding-threshold",
        type=click.FloatRange(0, 1),
        default=DEFAULT_GROUNDING_THRESHOLD,
        show_default=True,
        help="Share of an answer's words that must appear in its chunk (numbers and names "
        "must all appear).",
    ),
    click.option("--no-grounding-check", is_flag=True, help="Keep answers the chunk lacks."),
    click.option(
        "--no-standalone-check",
        is_flag=True,
        help="Keep questions that lean on the text ('he', 'this match', 'according to the "
        "text', 'この大会').",
    ),
    click.option(
        "--near-duplicate-threshold",
        type=click.FloatRange(0, 1, min_open=True),
        default=DEFAULT_NEAR_DUPLICATE_THRESHOLD,
        show_default=True,
        help="Similarity above which two questions count as one (the better-grounded stays).",
    ),
    click.option("--no-near-duplicates", is_flag=True, help="Keep near-duplicate questions."),
    click.option(
        "--min-pairs-per-chunk",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Ask again (naming the questions it has) while a chunk keeps fewer pairs.",
    ),
    click.option(
        "--max-topups",
        type=click.IntRange(min=0),
        default=2,
        show_default=True,
        help="Most extra calls per chunk for --min-pairs-per-chunk.",
    ),
    click.option(
        "--judge",
        type=click.Choice(["all", "uncertain"]),
        is_flag=False,
        flag_value="all",
        default=None,
        help="Have the model rate pairs 1-5 (one call per chunk): all of them (--judge alone "
        "is --judge all), or only those the model-free checks were unsure about (a grounding "
        "score near the threshold, a stand-alone rule that nearly fired, a language the "
        "detector hesitated on); a chunk with none costs no call.",
    ),
    click.option(
        "--judge-threshold",
        type=click.IntRange(1, 5),
        default=3,
        show_default=True,
        help="Lowest --judge score kept on each criterion.",
    ),
    click.option(
        "--paraphrases",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Add N rephrasings of each question with the same answer (one call per chunk).",
    ),
    click.option(
        "--answer-paraphrases",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Add N rewordings of each answer for the same question (one call per chunk; "
        "combines with --paraphrases and --also-languages).",
    ),
    click.option(
        "--repair-dangling",
        is_flag=True,
        help="Send questions that do not stand alone back to the model to be rewritten "
        "naming their subject (one call per chunk that has any); rewrites are checked "
        "again and kept when they pass.",
    ),
    click.option(
        "--semantic-duplicates",
        is_flag=True,
        help="Drop questions that paraphrase another generated question anywhere in the run, "
        "found with an embedding model (--embedding-model; same server and key as the chat "
        "model); questions naming different numbers or names are never merged. Needs "
        "numpy: pip install 'qasynth[semantic]'.",
    ),
    click.option(
        "--embedding-model",
        default=DEFAULT_EMBEDDING_MODEL,
        show_default=True,
        help="Embedding model for --semantic-duplicates (a multilingual one also finds "
        "paraphrases across languages).",
    ),
    click.option(
        "--semantic-duplicate-threshold",
        type=click.FloatRange(0, 1, min_open=True),
        default=DEFAULT_SEMANTIC_THRESHOLD,
        show_default=True,
        help="Cosine similarity above which --semantic-duplicates counts two questions as one.",
    ),
    click.option(
        "--also-languages",
        metavar="CODES",
        callback=_languages,
        help="Also add each pair translated into these languages, e.g. ja,en (one call per "
        "language per chunk).",
    ),
)

_SPLIT_OPTIONS = (
    click.option(
        "--val-fraction",
        type=click.FloatRange(0, 1, max_open=True),
        default=0.0,
        help="Share of chunks for the validation split. Splits go to a folder OUT/ holding "
        "train.jsonl, validation.jsonl and test.jsonl (split by chunk, so nothing leaks).",
    ),
    click.option(
        "--test-fraction",
        type=click.FloatRange(0, 1, max_open=True),
        default=0.0,
        help="Share of chunks for OUT/test.jsonl.",
    ),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed for the split."),
    click.option(
        "--report",
        "report_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write the quality report: FILE.html is a page with charts and a filterable "
        "table of rejected pairs; any other name gets JSON (counts by reason, with examples).",
    ),
)


def quality_options(function: F) -> F:
    return apply_options(_QUALITY_OPTIONS, function)


def split_options(function: F) -> F:
    return apply_options(_SPLIT_OPTIONS, function)


def quality_settings(options: dict[str, Any]) -> dict[str, Any]:
    """Flat run options (see ``Synthesizer.from_options``) for the quality options."""
    language = options["language"].strip().lower()
    return {
        "language": None if language == "off" else language,
        "grounding_threshold": None
        if options["no_grounding_check"]
        else options["grounding_threshold"],
        "standalone": not options["no_standalone_check"],
        "near_duplicate_threshold": None
        if options["no_near_duplicates"]
        else options["near_duplicate_threshold"],
        "min_pairs_per_chunk": options["min_pairs_per_chunk"],
        "max_topups": options["max_topups"],
        "judge": options["judge"],
        "judge_threshold": options["judge_threshold"],
        "paraphrases": options["paraphrases"],
        "also_languages": options["also_languages"],
        "answer_paraphrases": options["answer_paraphrases"],
        "repair_dangling": options["repair_dangling"],
        "semantic_duplicates": options["embedding_model"]
        if options["semantic_duplicates"]
        else None,
        "semantic_duplicate_threshold": options["semantic_duplicate_threshold"],
    }


def run_settings(options: dict[str, Any]) -> dict[str, Any]:
    """Flat run options shared by ``generate`` and ``plan`` (model, prompt, chunking,
    checks), for ``Synthesizer.from_options``/``plan``."""
    return {
        "model": options["model"],
        "prompt": load_prompt(options["prompt_spec"]),
        "theme": options["theme"],
        "context": options["context"],
        "structured": options["structured"],
        "chunk_size": options["chunk_size"],
        "chunk_overlap": options["chunk_overlap"],
        "encoding": options["encoding"],
        **quality_settings(options),
    }


def chosen_splits(options: dict[str, Any]) -> SplitOptions | None:
    """Split settings, or ``None`` to write a single file."""
    val, test = options["val_fraction"], options["test_fraction"]
    if not val and not test:
        return None
    if val + test >= 1:
        raise click.BadParameter(
            f"--val-fraction + --test-fraction must be below 1 (got {val} + {test})",
            param_hint="'--val-fraction'",
        )
    from .._filerun import SplitOptions

    return SplitOptions(val_fraction=val, test_fraction=test, seed=options["seed"])


def write_report(path: Path, report: RunReport) -> None:
    """Write the quality report of a run as JSON, atomically."""
    from .._report import QualityReport
    from .._writers import atomic_writer

    with atomic_writer(path) as handle:
        json.dump(QualityReport.of(report).to_dict(), handle, ensure_ascii=False, indent=2)
        handle.write("\n")
