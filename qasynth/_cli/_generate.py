"""``qasynth generate``: documents → question-answer pairs → chat JSONL, resumably."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .._llm import DEFAULT_REQUEST_TIMEOUT
from .._parsing import DEFAULT_MAX_FIX_ATTEMPTS
from .._pipeline import Synthesizer
from .._report import QualityReport
from .._runs import RunReport, state_path_for
from ._app import EXIT_OK, EXIT_PROBLEMS, INTERRUPT_HINT
from ._check import check_line
from ._inputs import INPUT_HELP, collect_documents, input_options
from ._options import (
    apply_options,
    chosen_system_prompt,
    chunking_options,
    load_prompt,
    system_prompt_options,
)
from ._quality import chosen_splits, quality_options, quality_settings, split_options, write_report

__all__ = ["generate", "summary_lines"]

_HELP = f"""Generate question→answer pairs from documents with a chat model.

{INPUT_HELP}

\b
Examples:
  export OPENAI_API_KEY=sk-...
  qasynth generate notes/ -o train.jsonl
  qasynth generate manual.md --theme "Acme X200" --model gpt-4.1-mini -o x200.jsonl
  cat notes.txt | qasynth generate - --theme "Season 2025" -o season.jsonl
  qasynth generate manuals/ --include "*.pdf" -o manuals.jsonl
  qasynth generate notes/ -o train.jsonl --base-url http://localhost:11434/v1 \\
      --model llama3.1:8b --encoding cl100k_base

Runs are resumable: finished chunks are kept in OUT.qasynth.sqlite, so running
the same command again after a crash or Ctrl-C continues where it stopped.
Failed chunks (with the reason and the raw model output) go to
OUT.failures.jsonl; --retry-failed tries them again. A summary is printed on
stderr, followed by a check of the written file. Exit code 1 when any chunk
failed; 2 without an API key (OPENAI_API_KEY, or --base-url for a server that
needs none), checked before any work.
"""

_RUN_OPTIONS = (
    click.option(
        "--base-url",
        envvar="OPENAI_BASE_URL",
        show_envvar=True,
        help="OpenAI-compatible server (Ollama, vLLM, LM Studio, ...). "
        "Without OPENAI_API_KEY, no key is sent.",
    ),
    click.option(
        "--temperature",
        type=click.FloatRange(0, 2),
        default=0.0,
        show_default=True,
        help="Sampling temperature.",
    ),
    click.option(
        "--max-fix-attempts",
        type=click.IntRange(min=0),
        default=DEFAULT_MAX_FIX_ATTEMPTS,
        show_default=True,
        help="Model calls allowed per chunk to repair a reply that local repair cannot.",
    ),
    click.option(
        "--concurrency",
        type=click.IntRange(min=1),
        default=8,
        show_default=True,
        help="Model calls in flight at once.",
    ),
    click.option(
        "--rpm", type=click.FloatRange(min=0, min_open=True), help="Most requests per minute."
    ),
    click.option("--tpm", type=click.IntRange(min=1), help="Most tokens per minute (estimated)."),
    click.option(
        "--request-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=DEFAULT_REQUEST_TIMEOUT,
        show_default=True,
        help="Seconds to wait for one model reply before retrying.",
    ),
    click.option("--retry-failed", is_flag=True, help="Retry the chunks that failed last time."),
    click.option(
        "--restart",
        is_flag=True,
        help="Discard saved results made with another prompt, model or chunking.",
    ),
    click.option("--quiet", "-q", is_flag=True, help="No progress bar; only the summary."),
)


def _run_options(function: Any) -> Any:
    return apply_options(_RUN_OPTIONS, function)


@click.command(help=_HELP, short_help="Generate Q&A pairs from documents with a chat model.")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The chat JSONL file to write.",
)
@input_options
@chunking_options
@system_prompt_options
@_run_options
@quality_options
@split_options
@click.pass_context
def generate(ctx: click.Context, /, inputs: tuple[str, ...], output: Path, **options: Any) -> None:
    system_prompt = chosen_system_prompt(options["system_prompt"], options["no_system_prompt"])
    splits = chosen_splits(options)
    synthesizer = _synthesizer(options)
    synthesizer.chat_model()  # no API key: ConfigurationError (exit 2) before any work
    documents = collect_documents(inputs, options)
    ctx.meta[INTERRUPT_HINT] = (
        f"finished chunks are saved in {state_path_for(output)}; "
        "run the same command again to resume"
    )
    report = synthesizer.run_to_file(
        documents,
        output,
        system_prompt=system_prompt,
        restart=options["restart"],
        retry_failed=options["retry_failed"],
        splits=splits,
    )
    for line in summary_lines(report):
        click.echo(line, err=True)
    if options["report_path"] is not None:
        write_report(options["report_path"], report)
        click.echo(f"Quality report written to {options['report_path']}", err=True)
    for path in report.split_paths.values() or [output]:
        click.echo(check_line(path, encoding=options["encoding"]), err=True)
    ctx.exit(EXIT_PROBLEMS if report.failures else EXIT_OK)


def _synthesizer(options: dict[str, Any]) -> Synthesizer:
    return Synthesizer(
        model=options["model"],
        base_url=options["base_url"] or None,
        temperature=options["temperature"],
        prompt=load_prompt(options["prompt_spec"]),
        theme=options["theme"],
        chunk_size=options["chunk_size"],
        chunk_overlap=options["chunk_overlap"],
        encoding=options["encoding"],
        max_fix_attempts=options["max_fix_attempts"],
        concurrency=options["concurrency"],
        rpm=options["rpm"],
        tpm=options["tpm"],
        request_timeout=options["request_timeout"],
        progress=not options["quiet"],
        **quality_settings(options),
    )


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def summary_lines(report: RunReport) -> list[str]:
    """The end-of-run summary: what was done, kept, rejected and failed, and where it went."""
    stats = report.stats
    documents = f"{stats.documents:,}"
    if stats.empty_documents:
        documents += f" ({stats.empty_documents:,} empty, skipped)"
    rows = [
        ("documents", documents),
        (
            "chunks",
            f"{stats.chunks_done:,} done, {stats.chunks_failed:,} failed, "
            f"{stats.chunks_resumed:,} resumed from an earlier run",
        ),
        ("model calls", _calls_text(report)),
        ("pairs", _pairs_text(report)),
        ("tokens", f"{stats.input_tokens:,} in, {stats.output_tokens:,} out"),
    ]
    if stats.step_errors:
        errors = ", ".join(f"{kind} {n:,}" for kind, n in stats.step_errors.most_common())
        rows.append(("step errors", f"{errors} (those chunks kept the pairs they had)"))
    if report.failures:
        rows.append(
            (
                "failed",
                f"{_plural(len(report.failures), 'chunk')} written to {report.failures_path} "
                "(reason and raw model output); add --retry-failed to try them again",
            )
        )
    width = max(len(label) for label, _ in rows)
    targets = ", ".join(str(p) for p in report.split_paths.values()) or str(report.output)
    head = f"Wrote {_plural(report.records_written, 'pair')} to {targets}"
    lines = [head, *(f"  {label.ljust(width)}  {value}" for label, value in rows)]
    quality = QualityReport.of(report, examples_per_reason=1)
    for reason, count in quality.by_reason.items():
        example = quality.examples.get(reason, [{}])[0].get("question", "")
        lines.append(f"    {reason} ({count:,}), e.g. {_clip(example)!r}")
    return lines


def _clip(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _calls_text(report: RunReport) -> str:
    stats = report.stats
    text = f"{stats.model_calls:,}"
    if len(stats.calls_by_kind) > 1:
        text += " (" + ", ".join(f"{k} {n:,}" for k, n in stats.calls_by_kind.items()) + ")"
    return f"{text}, plus {_plural(stats.fix_calls, 'fix call')}"


def _pairs_text(report: RunReport) -> str:
    rejections = report.stats.rejections
    text = f"{report.records_written:,} kept, {sum(rejections.values()):,} rejected"
    if rejections:
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in rejections.most_common())
        text += f" ({reasons})"
    return text
