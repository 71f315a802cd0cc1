"""``qasynth finetune``: upload a checked chat JSONL file, start a job, wait for the model."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._constants import DEFAULT_MODEL
from ._app import EXIT_OK, EXIT_PROBLEMS, INTERRUPT_HINT

if TYPE_CHECKING:
    from .._finetune import FineTuneProgress

__all__ = ["finetune_command"]

_HELP = """Fine-tune a model on a chat JSONL file and wait until it is ready.

Checks the files as `check` does and refuses (exit 2) on any problem; uploads
them (purpose fine-tune), waits until they are processed, creates the job and
waits until it ends, showing its status, events and trained tokens on stderr.
The fine-tuned model's name is the last line of stdout.

Interrupted (Ctrl-C, a crash, a lost connection), run the same command again:
it attaches to the same uploads and the same job (a small state file beside
the training file remembers them; it never holds the API key). Ctrl-C leaves
the job running. A job that failed or was cancelled is not reused: running
again starts a new one.

\b
Examples:
  qasynth finetune train.jsonl --suffix manual --epochs 4
  qasynth finetune train.jsonl --validation val.jsonl --no-wait
  qasynth finetune train.jsonl --suffix manual --epochs 4 --cancel

Exit code 0 when the job succeeded (or was started, with --no-wait), 1 when it
failed or was cancelled, 2 when a file has problems or the provider refuses.
"""


@click.command(
    "finetune", help=_HELP, short_help="Upload, start a fine-tuning job, wait for the model."
)
@click.argument("train", metavar="TRAIN.jsonl", type=click.Path(path_type=Path))
@click.option(
    "--validation",
    metavar="VAL.jsonl",
    type=click.Path(path_type=Path),
    help="Validation file, checked and uploaded like the training file.",
)
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="Base model to tune.")
@click.option("--suffix", help="Added to the fine-tuned model's name (up to 64 characters).")
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    help="Training epochs. Default: the provider's automatic choice.",
)
@click.option(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    show_envvar=True,
    help="OpenAI-compatible server with the files and fine-tuning endpoints.",
)
@click.option("--no-wait", is_flag=True, help="Print the job id once the job exists and return.")
@click.option("--cancel", is_flag=True, help="Cancel the job these file and options started.")
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds between status checks.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.pass_context
def finetune_command(ctx: click.Context, /, train: Path, **options: Any) -> None:
    from .._finetune import acancel_finetune, afinetune
    from .._sync import run_sync

    same = _same_options(train, options)
    if options["cancel"]:
        result = run_sync(acancel_finetune(train, **_api_options(options)))
        click.echo(f"Job {result.job_id}: {result.status}", err=True)
        _print(result.to_dict() if options["as_json"] else None, result.job_id)
        ctx.exit(EXIT_OK)
    ctx.meta[INTERRUPT_HINT] = _hint("nothing is lost", same)

    def show(progress: FineTuneProgress) -> None:
        if progress.job_id:
            ctx.meta[INTERRUPT_HINT] = _hint(f"job {progress.job_id} keeps running", same)
        click.echo(progress.message, err=True)

    result = run_sync(
        afinetune(
            train,
            wait=not options["no_wait"],
            poll_interval=options["poll_interval"],
            on_progress=show,
            **_api_options(options),
        )
    )
    payload = result.to_dict() if options["as_json"] else None
    if options["no_wait"]:
        _print(payload, result.job_id)
        ctx.exit(EXIT_OK)
    if not result.succeeded:
        reason = result.error or "no error message given"
        click.echo(f"Error: job {result.job_id} {result.status}: {reason}", err=True)
        _print(payload, None)
        ctx.exit(EXIT_PROBLEMS)
    _print(payload, result.fine_tuned_model)


def _hint(what: str, same: str) -> str:
    return f"{what} (wait for it again: `{same}`; cancel it: `{same} --cancel`)"


def _print(payload: dict[str, Any] | None, line: str | None) -> None:
    if payload is not None:
        click.echo(json.dumps(payload, ensure_ascii=False))
    elif line:
        click.echo(line)


def _api_options(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "validation": options["validation"],
        "model": options["model"],
        "suffix": options["suffix"],
        "epochs": options["epochs"],
        "base_url": options["base_url"] or None,
    }


def _same_options(train: Path, options: dict[str, Any]) -> str:
    """The command that attaches to this run again."""
    words = ["qasynth", "finetune", str(train)]
    for name in ("validation", "model", "suffix", "epochs", "base_url"):
        value = options[name]
        if value is not None and not (name == "model" and value == DEFAULT_MODEL):
            words += [f"--{name.replace('_', '-')}", str(value)]
    return shlex.join(words)
