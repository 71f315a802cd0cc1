"""``qasynth generate``: documents → question-answer pairs → chat JSONL, resumably."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._constants import (
    DEFAULT_BATCH_POLL_INTERVAL,
    DEFAULT_MAX_FIX_ATTEMPTS,
    DEFAULT_REQUEST_TIMEOUT,
)
from ._app import EXIT_OK, EXIT_PROBLEMS, INTERRUPT_HINT, freeze_imports
from ._guard import refuse_overwriting_inputs
from ._inputs import INPUT_HELP, collect_documents, input_options
from ._options import (
    apply_options,
    chosen_system_prompt,
    chunking_options,
    system_prompt_options,
)
from ._outputs import (
    check_lines,
    output_options,
    prepare_outputs,
    provenance_path_for,
    write_outputs,
)
from ._quality import chosen_splits, quality_options, run_settings, split_options

if TYPE_CHECKING:
    from .._filerun import RunReport
    from .._pipeline import Synthesizer

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
  qasynth generate notes/ -o train.jsonl --batch    # half price, within 24 h

Runs are resumable: finished chunks are kept in OUT.qasynth.sqlite, so running
the same command again after a crash, a kill or Ctrl-C continues where it
stopped. Failed chunks (with the reason and the raw model output) go to
OUT.failures.jsonl; --retry-failed tries them again. A summary is printed on
stderr, followed by a check of the written file.

\b
When things go wrong:
  every input is read first: an unreadable file stops the run before any call (exit 2)
  an output that is an input, or lies where inputs are read: refused (exit 2)
  a second run on the same OUT: refused at once, naming the first run's pid (exit 2)
  429, 5xx, timeouts, dropped connections: retried; chunks that still fail are
      tried again by the same command (exit 1)
  Retry-After above --max-wait: the run stops; run the same command later (exit 1)
  a request refused (context length, content filter): that chunk fails, the rest
      is written (exit 1); an over-long chunk is first tried in halves
  no server at the URL, an HTML page instead of the API, a refused key, an
      unknown model, no quota: the run stops within seconds (exit 2)
  a damaged state file: named, --restart replaces it; a full disk or read-only
      folder: named (exit 2). Finished chunks are kept in every case.
Exit code 1 when any chunk failed; 2 without an API key (OPENAI_API_KEY, or
--base-url for a server that needs none), checked before any work.
"""


def _check_workers(_ctx: click.Context, _param: click.Parameter, value: str) -> int | None:
    """``auto`` (``None``: started when the checks slow the run down) or a count."""
    text = str(value).strip().lower()
    if text == "auto":
        return None
    if not text.isdigit():
        raise click.BadParameter(
            f"{value!r} is neither 'auto' nor a number of processes (0 or more)"
        )
    return int(text)


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
        "--check-workers",
        metavar="auto|N",
        default="auto",
        show_default=True,
        callback=_check_workers,
        help="Processes that run the model-free checks off the event loop. auto starts "
        "them in a run of 200 chunks or more once the checks slow it down (a fast "
        "server, many requests in flight); 0 checks in the main process.",
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
    click.option(
        "--engine",
        type=click.Choice(["local", "ray"]),
        default="local",
        show_default=True,
        help="Where chunks are worked: this process, or Ray actors (pip install "
        "'qasynth[ray]'; results are kept per chunk in OUT.qasynth.ray/).",
    ),
    click.option(
        "--ray-address",
        metavar="ADDRESS",
        help="A Ray cluster to join (default: start a local one with --ray-actors CPUs).",
    ),
    click.option(
        "--ray-actors",
        type=click.IntRange(min=1),
        default=2,
        show_default=True,
        help="Ray actors, each with one model client and --concurrency requests in flight.",
    ),
    click.option(
        "--max-wait",
        type=click.FloatRange(min=0),
        default=60.0,
        show_default=True,
        help="Longest Retry-After (seconds) to honour; a longer one stops the run, to be "
        "resumed later by the same command.",
    ),
    click.option(
        "--retry-failed",
        is_flag=True,
        help="Also retry the chunks whose output stayed unusable (chunks that hit timeouts, "
        "rate limits or server errors are retried by any rerun).",
    ),
    click.option(
        "--restart",
        is_flag=True,
        help="Discard saved results made with another prompt, model or chunking.",
    ),
    click.option("--quiet", "-q", is_flag=True, help="No progress bar; only the summary."),
    click.option(
        "--batch",
        is_flag=True,
        help="Send the generation requests through the Batch API (OpenAI models; half "
        "price, replies within 24 h) and wait for them; run the same command again after a "
        "stop to keep waiting. Fix calls and checks that call the model are made live.",
    ),
    click.option(
        "--batch-poll-interval",
        type=click.FloatRange(min=0),
        default=DEFAULT_BATCH_POLL_INTERVAL,
        show_default=True,
        metavar="SECONDS",
        help="Seconds between two looks at the batch (--batch).",
    ),
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
@output_options
@click.pass_context
def generate(ctx: click.Context, /, inputs: tuple[str, ...], output: Path, **options: Any) -> None:
    from .._batch import check_batchable
    from .._finalize import split_paths
    from .._loaders import SUFFIXES
    from .._ray import run_to_file_on_ray
    from .._runs import failures_path_for, state_path_for
    from .._sync import run_sync

    system_prompt = chosen_system_prompt(options["system_prompt"], options["no_system_prompt"])
    splits = chosen_splits(options)
    prepare_outputs(output)
    synthesizer = _synthesizer(options)
    synthesizer.chat_model()  # no API key: ConfigurationError (exit 2) before any work
    freeze_imports()
    if options["batch"]:
        check_batchable(synthesizer.chat_model())  # not an OpenAI model: exit 2, no work
    documents = collect_documents(inputs, options)
    refuse_overwriting_inputs(
        [(output, "the output", "-o"),
         *((path, f"the {name} split", "-o") for name, path in split_paths(output).items()
           if splits),
         (state_path_for(output), "the run state", "-o"),
         (failures_path_for(output), "the failures file", "-o"),
         (provenance_path_for(output) if options["provenance"] else None,
          "the provenance file", "-o"),
         (options["report_path"], "the report", "--report")],
        documents.items,
        read_suffixes=SUFFIXES,
        splits_folder=next(iter(split_paths(output).values())).parent if splits else None,
    )  # fmt: skip
    ctx.meta[INTERRUPT_HINT] = (
        f"finished chunks are saved in {state_path_for(output)}; "
        + ("the batch goes on at the provider; " if options["batch"] else "")
        + "run the same command again to resume"
    )
    how = {"system_prompt": system_prompt, "restart": options["restart"],
           "retry_failed": options["retry_failed"], "splits": splits}  # fmt: skip
    if options["engine"] == "ray":
        if options["batch"]:
            raise click.UsageError("use either --batch or --engine ray, not both")
        report = run_sync(
            run_to_file_on_ray(
                documents, output, options=_flat_options(options), **how,
                address=options["ray_address"], actors=options["ray_actors"],
            )
        )  # fmt: skip
    else:
        report = synthesizer.run_to_file(
            documents, output, **how, batch=options["batch"],
            batch_poll_interval=options["batch_poll_interval"],
        )  # fmt: skip
    extra = write_outputs(
        report, options, system_prompt=system_prompt, splits=splits,
        chunks=lambda: synthesizer.iter_chunks(documents),
    )  # fmt: skip
    lines = summary_lines(report, model=synthesizer.model_name)
    problems = _empty_output_lines(report, splits is not None)
    for line in [*lines, *extra, *check_lines(report, options), *problems]:
        click.echo(line, err=True)
    failed_steps = bool(report.stats.step_errors)  # pairs without the judge, paraphrases...
    ctx.exit(EXIT_PROBLEMS if report.failures or problems or failed_steps else EXIT_OK)


def _empty_output_lines(report: RunReport, split: bool) -> list[str]:
    """What makes an output unusable for training although nothing failed: no pair
    kept at all, or a train split left empty by the fractions (exit 1, not 0)."""
    if not report.records_written:
        return [
            "No pairs were kept, so the output holds no examples: see the pairs line above "
            "(empty inputs, or every pair rejected)"
        ]
    if split and "train" not in report.split_paths:
        return [
            "The train split is empty: every chunk went to validation or test; lower "
            "--val-fraction/--test-fraction or add material"
        ]
    return []


def _flat_options(options: dict[str, Any]) -> dict[str, Any]:
    """The run's flat options (``Synthesizer.from_options``), from the command line."""
    return {
        **run_settings(options),
        "base_url": options["base_url"] or None,
        "temperature": options["temperature"],
        "max_fix_attempts": options["max_fix_attempts"],
        "concurrency": options["concurrency"],
        "rpm": options["rpm"],
        "tpm": options["tpm"],
        "request_timeout": options["request_timeout"],
        "max_wait": options["max_wait"],
        "check_workers": options["check_workers"],
        "progress": not options["quiet"],
    }


def _synthesizer(options: dict[str, Any]) -> Synthesizer:
    from .._pipeline import Synthesizer

    return Synthesizer.from_options(**_flat_options(options))


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def summary_lines(report: RunReport, *, model: str | None = None) -> list[str]:
    """The end-of-run summary: what was done, kept, rejected and failed, and where it
    went; with ``model``, what this invocation's tokens cost at its prices."""
    from .._report import QualityReport

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
        ("tokens", _tokens_text(report)),
        *([("cost", _cost_text(report, model))] if model else []),
        ("retries", _retries_text(report)),
        ("pairs", _pairs_text(report)),
    ]
    if stats.step_errors:
        errors = ", ".join(f"{kind} {n:,}" for kind, n in stats.step_errors.most_common())
        rows.append(
            ("step errors", f"{errors} (those chunks kept the pairs they had, without the step)")
        )
    if report.failures:
        lasting = sum(not failure.transient for failure in report.failures)
        again = (  # transient failures (timeouts, 5xx) are tried again by a plain rerun
            "add --retry-failed to try them again"
            if lasting == len(report.failures)
            else "run the same command again to retry them"
            if not lasting
            else f"a rerun retries the {len(report.failures) - lasting:,} that failed on "
            "timeouts or server errors; add --retry-failed for the others"
        )
        rows.append(
            (
                "failed",
                f"{_plural(len(report.failures), 'chunk')} written to {report.failures_path} "
                f"(reason and raw model output); {again}",
            )
        )
    width = max(len(label) for label, _ in rows)
    targets = ", ".join(str(p) for p in report.split_paths.values()) or str(report.output)
    head = f"Wrote {_plural(report.records_written, 'pair')} to {targets}"
    lines = [head, *(f"  {label.ljust(width)}  {value}" for label, value in rows)]
    if stats.chunks_resumed:
        lines.append(
            "  (calls, tokens and retries are this invocation's; pairs and failures are the "
            "whole run's)"
        )
    quality = QualityReport.of(report, examples_per_reason=1)
    if quality.phrasings.get("max", 1) > 1:
        p = quality.phrasings
        lines.insert(
            len(rows) + 1,
            f"  {'phrasings'.ljust(width)}  per fact (records per generated pair): min "
            f"{p['min']:g}, median {p['median']:g}, mean {p['mean']:g}, max {p['max']:g} "
            f"over {p['facts']:,g} facts",
        )
    for reason, count in quality.by_reason.items():
        example = quality.examples.get(reason, [{}])[0].get("question", "")
        lines.append(f"    {reason} ({count:,}), e.g. {_clip(example)!r}")
    return lines


def _clip(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _tokens_text(report: RunReport) -> str:
    stats = report.stats
    cached = f" ({stats.cached_input_tokens:,} cached)" if stats.cached_input_tokens else ""
    return f"{stats.input_tokens:,} in{cached}, {stats.output_tokens:,} out"


def _cost_text(report: RunReport, model: str) -> str:
    from .._pricing import batch_price_factor, model_price

    stats = report.stats
    price = model_price(model)
    batch = (stats.batch_input_tokens, stats.batch_output_tokens, stats.batch_cached_input_tokens)
    live = (
        stats.input_tokens - batch[0],
        stats.output_tokens - batch[1],
        stats.cached_input_tokens - batch[2],
    )
    live_cost = None if price is None else price.cost(*live)
    batch_cost = None if price is None else price.cost(*batch)
    if price is None or live_cost is None or batch_cost is None:
        return f"unknown (no prices for {model!r} in qasynth's price table)"
    cost = live_cost + batch_price_factor() * batch_cost
    cached = ""
    if stats.cached_input_tokens and price.cached_input_per_mtok is not None:
        cached = f", cached input at ${price.cached_input_per_mtok:,.3f}"
    rate = ""
    if any(batch):
        rate = f"; batch replies at {batch_price_factor():.0%} of that"
    return (
        f"~${cost:,.4f} at {price.model} prices (${price.input_per_mtok:,.2f} in{cached}, "
        f"${price.output_per_mtok:,.2f} out per 1M tokens{rate}; an estimate)"
    )


def _retries_text(report: RunReport) -> str:
    stats = report.stats
    return (
        f"{stats.retries:,} requests retried after {stats.waited:,.0f} s of waits "
        "(summed over the requests that waited side by side); "
        f"{stats.local_repairs:,} replies repaired locally (no paid fix)"
    )


def _calls_text(report: RunReport) -> str:
    stats = report.stats
    text = f"{stats.model_calls:,}"
    if len(stats.calls_by_kind) > 1 or "batch" in stats.calls_by_kind:  # say where they came from
        text += " (" + ", ".join(f"{k} {n:,}" for k, n in stats.calls_by_kind.items()) + ")"
    return f"{text}, plus {_plural(stats.fix_calls, 'fix call')}"


def _pairs_text(report: RunReport) -> str:
    rejections = report.stats.rejections
    text = f"{report.records_written:,} kept, {sum(rejections.values()):,} rejected"
    if rejections:
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in rejections.most_common())
        text += f" ({reasons})"
    if report.stats.pairs_added:  # this invocation's: the model's, and those made from them
        text += (
            f"; {report.stats.pairs_returned:,} returned by the model, "
            f"{report.stats.pairs_added:,} made from them (paraphrases, translations)"
        )
    return text
