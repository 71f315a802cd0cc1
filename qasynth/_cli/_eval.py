"""``qasynth ask`` and ``qasynth eval``: does the model know the facts?"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .._constants import DEFAULT_MODEL
from ._app import EXIT_PROBLEMS, INTERRUPT_HINT, freeze_imports
from ._guard import refuse_overwriting_inputs

__all__ = ["ask_command", "eval_command"]

_BASE_URL = click.option(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    show_envvar=True,
    help="OpenAI-compatible server. Without OPENAI_API_KEY, no key is sent.",
)

_ASK_HELP = """Ask MODEL one QUESTION and print its answer.

\b
Examples:
  qasynth ask ft:gpt-4o-mini-2024-07-18:acme:manual:abc123 "Who makes the X200?"
  qasynth ask gpt-4o-mini "Who makes the X200?" --system "You are Acme's assistant."
"""


@click.command("ask", help=_ASK_HELP, short_help="Ask a model one question.")
@click.argument("model")
@click.argument("question")
@click.option("--system", help="System message to send before the question.")
@_BASE_URL
def ask_command(model: str, question: str, system: str | None, base_url: str | None) -> None:
    from .._errors import InputError
    from .._evaluate import aask
    from .._sync import run_sync

    if not question.strip():
        raise InputError("the question is empty; give the question to ask")
    click.echo(run_sync(aask(model, question, system=system, base_url=base_url or None)))


_EVAL_HELP = """Ask each model each test question and grade the answers.

TEST.jsonl is a chat JSONL file, normally the held-out test split `generate`
writes (split by chunk, so no test fact was trained verbatim). Each question is
asked with the file's system message. With --paraphrases N and
--also-languages, N rephrasings and translations of every question are asked
too; they are made once by --helper-model, saved beside the test file and
reused for every model and rerun. A model that only memorised its training
phrasing scores high on `verbatim` and low on `paraphrase` and `translation:xx`.

--grader exact needs no model: an answer is correct when it contains the
expected answer's numbers and names and enough of its words. --grader model
asks --grader-model (default: --helper-model) and first prints a cost
estimate.

Resumable: graded answers are kept beside -o (or the test file, in a hidden
file) and not asked again. Answers the grader model could not grade are left out
of the scores, and the command exits with 1; run it again to grade them.

\b
Examples:
  qasynth eval test.jsonl --model gpt-4o-mini --model ft:gpt-4o-mini:acme:manual:abc123
  qasynth eval test.jsonl --model ft:... --paraphrases 3 --also-languages ja,fr
  qasynth eval test.jsonl --model ft:... --grader model -o results.jsonl --report eval.html
"""


@click.command("eval", help=_EVAL_HELP, short_help="Accuracy per model: verbatim, rephrased.")
@click.argument("test", metavar="TEST.jsonl", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--model", "models", multiple=True, required=True, help="Model to evaluate (repeatable)."
)
@click.option(
    "--grader",
    type=click.Choice(["exact", "model"]),
    default="exact",
    show_default=True,
    help="How answers are graded.",
)
@click.option("--grader-model", help="Model that grades with --grader model.")
@click.option(
    "--paraphrases",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Rephrasings of each question to ask as well.",
)
@click.option(
    "--also-languages",
    metavar="CODES",
    default="",
    help="Comma-separated language codes to translate each question into (e.g. ja,fr).",
)
@click.option(
    "--helper-model",
    default=DEFAULT_MODEL,
    show_default=True,
    help="Model that writes the paraphrases and translations.",
)
@_BASE_URL
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Questions in flight at once.",
)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Write every graded answer (JSONL)."
)
@click.option("--report", type=click.Path(path_type=Path), help="Write an HTML report.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.pass_context
def eval_command(ctx: click.Context, /, test: Path, **options: Any) -> None:
    from .._eval_report import render_html
    from .._eval_results import ungraded_note
    from .._evaluate import aevaluate, answers_path, probes_path
    from .._sync import run_sync

    freeze_imports()
    refuse_overwriting_inputs(
        [
            (probes_path(test), "the saved rephrasings and translations", "-o"),
            (answers_path(test, options["output"]), "the answers graded so far", "-o"),
            (options["output"], "the graded answers", "-o"),
            (options["report"], "the report", "--report"),
        ],
        [test],
    )  # fmt: skip
    ctx.meta[INTERRUPT_HINT] = "answers graded so far are kept; run the same command to go on"
    result = run_sync(
        aevaluate(
            test,
            models=list(options["models"]),
            grader=options["grader"],
            grader_model=options["grader_model"],
            paraphrases=options["paraphrases"],
            languages=[c for c in options["also_languages"].split(",") if c.strip()],
            helper_model=options["helper_model"],
            base_url=options["base_url"] or None,
            output=options["output"],
            concurrency=options["concurrency"],
            on_estimate=lambda text: click.echo(f"Estimate: {text}", err=True),
        )
    )
    if options["report"] is not None:
        page = render_html(result, title=f"qasynth eval: {test.name}")
        options["report"].write_text(page, encoding="utf-8")
    if options["as_json"]:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(result.format_table())
        wrote = [str(p) for p in (options["output"], options["report"]) if p is not None]
        if wrote:
            click.echo(f"Wrote {', '.join(wrote)}", err=True)
    if result.ungraded:
        if options["as_json"]:  # the table says it otherwise
            click.echo(f"Warning: {ungraded_note(result.ungraded)}", err=True)
        ctx.exit(EXIT_PROBLEMS)
