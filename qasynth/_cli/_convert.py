"""``qasynth convert``: a hand-made Q&A table (CSV, TSV, JSON, JSONL) → chat JSONL."""

from __future__ import annotations

from pathlib import Path

import click

from ._app import EXIT_OK, EXIT_PROBLEMS
from ._check import check_line
from ._guard import refuse_overwriting_inputs
from ._options import chosen_system_prompt, system_prompt_options

__all__ = ["convert"]

_SHOWN_SKIPS = 50

_HELP = """Convert a question-answer table into chat fine-tuning JSONL.

IN is CSV or TSV as spreadsheets export them (BOM, CRLF, quoted cells with
commas and line breaks), a JSON list of objects, or JSONL. The format follows
the extension (.csv, .txt, .tsv, .json, .jsonl, .ndjson) unless --format is
given. Non-ASCII text stays readable in the output (no \\uXXXX escapes).

\b
Examples:
  qasynth convert qa.csv -o train.jsonl
  qasynth convert qa.csv -o train.jsonl --encoding cp932      # Excel, Japanese Windows
  qasynth convert faq.tsv -o train.jsonl --user-column question --assistant-column answer
  qasynth convert persona.csv -o train.jsonl --system-prompt "You are Aiko, a cheerful guide."

Rows with an empty user or assistant cell are skipped and listed with their
line numbers (the header is line 1); blank rows are ignored. Exit code 1 when
any row was skipped (with --strict, the first such row stops the conversion
with exit code 2), 2 when the file cannot be read or a column is missing.
"""


@click.command(help=_HELP, short_help="Convert a Q&A table (CSV/TSV/JSON/JSONL) to chat JSONL.")
@click.argument("source", metavar="IN", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The chat JSONL file to write.",
)
@system_prompt_options
@click.option("--user-column", default="user", show_default=True, help="Column of questions.")
@click.option(
    "--assistant-column", default="assistant", show_default=True, help="Column of answers."
)
@click.option(
    "--system-column",
    help="Column of per-row system messages; a non-empty cell replaces --system-prompt.",
)
@click.option("--delimiter", help="CSV delimiter (default: sniffed; 'tab' for tabs).")
@click.option("--encoding", help="Text encoding of IN, e.g. cp932 (default: UTF-8 or UTF-16 BOM).")
@click.option("--strict", is_flag=True, help="Stop at the first unusable row instead of skipping.")
@click.option(
    "--format",
    "--input-format",
    "input_format",
    type=click.Choice(["csv", "tsv", "json", "jsonl"]),
    help="Format of IN (default: from the extension).",
)
@click.pass_context
def convert(
    ctx: click.Context,
    source: Path,
    output: Path,
    system_prompt: str,
    no_system_prompt: bool,
    user_column: str,
    assistant_column: str,
    system_column: str | None,
    delimiter: str | None,
    encoding: str | None,
    strict: bool,
    input_format: str | None,
) -> None:
    from .._convert import csv_to_jsonl

    refuse_overwriting_inputs([(output, "the output", "-o")], [source])
    report = csv_to_jsonl(
        source,
        output,
        system_prompt=chosen_system_prompt(system_prompt, no_system_prompt),
        user_column=user_column,
        assistant_column=assistant_column,
        system_column=system_column,
        delimiter=delimiter,
        encoding=encoding,
        strict=strict,
        input_format=input_format,
    )
    click.echo(report.summary(), err=True)
    if report.skipped:
        click.echo("Skipped rows:", err=True)
        for row in report.skipped[:_SHOWN_SKIPS]:
            click.echo(f"  line {row.line}: {row.reason}", err=True)
        if len(report.skipped) > _SHOWN_SKIPS:
            click.echo(f"  ... and {len(report.skipped) - _SHOWN_SKIPS} more", err=True)
    click.echo(check_line(output, encoding=None), err=True)
    ctx.exit(EXIT_PROBLEMS if report.skipped else EXIT_OK)
