"""``qasynth check``: validate a chat JSONL file and estimate what training on it costs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .._constants import DEFAULT_MODEL
from .._errors import QasynthError
from ._app import EXIT_OK, EXIT_PROBLEMS

if TYPE_CHECKING:
    from .._filecheck import CheckReport

__all__ = ["check", "check_line", "one_line"]

_HELP = """Check a chat fine-tuning JSONL file the way a provider does before it
accepts a job, and estimate the training tokens and cost.

Every problem is reported with its line number (a line that is not JSON, a
role other than system/user/assistant, empty content, no assistant message,
fewer than 10 examples, ...). Then: tokens per example, examples over the
model's limit, epochs, billed tokens, estimated cost and duplicates.

\b
Examples:
  qasynth check train.jsonl
  qasynth check train.jsonl --model gpt-4.1-mini --epochs 2
  qasynth check train.jsonl --json > report.json

Exit code 0 when no problem is found, 1 when any is, 2 when the file cannot
be read.
"""


@click.command(help=_HELP, short_help="Validate a chat JSONL file; tokens and training cost.")
@click.argument("file", metavar="FILE.jsonl", type=click.Path(path_type=Path))
@click.option(
    "--model",
    default=DEFAULT_MODEL,
    show_default=True,
    help="The model you will fine-tune: sets the token limit, price and tokenizer.",
)
@click.option("--encoding", help="tiktoken encoding to count with. Default: the model's.")
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    help="Training epochs. Default: OpenAI's automatic rule for the file's size.",
)
@click.option(
    "--price-per-mtok",
    type=click.FloatRange(min=0),
    help="US dollars per million training tokens, instead of the built-in price table.",
)
@click.option(
    "--max-tokens-per-example",
    type=click.IntRange(min=1),
    help="Per-example token limit, instead of the model's.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def check(
    ctx: click.Context,
    file: Path,
    model: str,
    encoding: str | None,
    epochs: int | None,
    price_per_mtok: float | None,
    max_tokens_per_example: int | None,
    as_json: bool,
) -> None:
    from .._filecheck import check_jsonl

    report = check_jsonl(
        file,
        model=model,
        encoding=encoding,
        epochs=epochs,
        price_per_mtok=price_per_mtok,
        max_tokens_per_example=max_tokens_per_example,
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(report.format_table())
    ctx.exit(EXIT_OK if report.ok else EXIT_PROBLEMS)


def one_line(report: CheckReport, *, priced: bool = True) -> str:
    """The check report in one line, for the end of ``generate`` and ``convert``;
    ``priced=False`` leaves out training tokens and cost (validation and test files)."""
    count = len(report.problems)
    if count:
        noun = "problem" if count == 1 else "problems"
        found = f"{count} {noun} (first: {report.problems[0]})"
    else:
        found = "no problems"
    examples = "example" if report.examples == 1 else "examples"
    text = f"{report.path}: {report.examples:,} valid {examples}, {found}"
    if not priced:
        return text
    text += f", {report.total_tokens:,} training tokens"
    if report.estimated_cost is not None:
        text += (
            f", about {_dollars(report.estimated_cost)} to fine-tune {report.model} "
            f"for {report.epochs} epochs"
        )
    return text


def _dollars(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 0.01 or amount == 0 else f"${amount:.4f}"


def check_line(path: Path, *, encoding: str | None, priced: bool = True) -> str:
    """Check a file just written and sum it up in one line (never fails the command)."""
    from .._filecheck import check_jsonl

    try:
        report = check_jsonl(path, encoding=encoding)
    except (QasynthError, OSError) as exc:
        return f"Check: skipped ({exc})"
    return f"Check: {one_line(report, priced=priced)}; details: qasynth check {path}"
