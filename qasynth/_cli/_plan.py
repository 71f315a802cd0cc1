"""``qasynth plan``: a dry run — chunks, tokens and cost, with no model call and no key."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from .._constants import DEFAULT_OUTPUT_RATIO
from ._inputs import INPUT_HELP, collect_documents, input_options
from ._options import chunking_options
from ._quality import quality_options, run_settings

if TYPE_CHECKING:
    from .._plan import Plan

__all__ = ["format_plan", "plan_command"]

_HELP = f"""Show what `generate` would do with the same inputs and options, without
calling a model: no network and no API key needed (only the tokenizer's files).

{INPUT_HELP}

Counts documents (and empty ones), chunks and tokens per chunk exactly, with
the same chunker. Model calls: one per chunk (fix calls and retries come on
top). Input tokens are exact: each chunk's rendered prompt (system + user
messages) counted as OpenAI counts chat input. Cached input tokens are an
assumption: when the static system message is at least 1,024 tokens (OpenAI's
prompt-caching minimum), every call after the first is taken to find it cached.
Output tokens are an assumption: --output-ratio times the chunk tokens. The
cost uses the model's input, cached-input and output prices from qasynth's
dated price table; an unknown model gives "cost unknown".

\b
Examples:
  qasynth plan notes/
  qasynth plan notes/ --model gpt-4.1-mini --chunk-size 1000 --chunk-overlap 200
  qasynth plan manual.md --show-prompt          # the messages for the first chunk
  qasynth plan notes/ --json
"""


@click.command("plan", help=_HELP, short_help="Dry run: chunks, tokens and cost; no API key.")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@input_options
@chunking_options
@click.option(
    "--output-ratio",
    type=click.FloatRange(min=0),
    default=DEFAULT_OUTPUT_RATIO,
    show_default=True,
    help="Assumed output tokens per chunk token, for the output estimate.",
)
@click.option(
    "--show-prompt", is_flag=True, help="Print the rendered messages for the first chunk."
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--batch",
    is_flag=True,
    help="Price generation at the Batch API rate (generate --batch); other steps stay live.",
)
@click.option(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    show_envvar=True,
    help="The server generate would use: another server than OpenAI's gets the prompt "
    "with its JSON example (no native structured output under --structured auto). "
    "Nothing is sent to it.",
)
@quality_options
def plan_command(inputs: tuple[str, ...], **options: Any) -> None:
    from .._plan import plan

    result = plan(
        collect_documents(inputs, options),
        output_ratio=options["output_ratio"],
        batch=options["batch"],
        base_url=options["base_url"] or None,
        **run_settings(options),
    )
    if options["as_json"]:
        data = result.to_dict()
        if not options["show_prompt"]:
            del data["first_messages"]
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(format_plan(result))
    if options["show_prompt"]:
        click.echo(format_messages(result))


def _spread(result: Plan) -> str:
    tokens = result.chunk_tokens
    if tokens is None:
        return "-"
    median = f"{tokens.median:,.1f}".removesuffix(".0")
    return f"min {tokens.min:,}, median {median}, max {tokens.max:,}"


def _cost(result: Plan) -> str:
    price = result.price
    if result.estimated_cost is None or price is None:
        return (
            f"cost unknown (no input/output price for {result.model!r} in the price table "
            f"as of {result.prices_as_of})"
        )
    cached = (
        f"${price.cached_input_per_mtok:,.3f} cached in, "
        if price.cached_input_per_mtok is not None
        else ""
    )
    batch = ""
    if result.batch:
        from .._pricing import batch_price_factor

        batch = (
            f"; generation at the Batch API rate ({batch_price_factor():.0%} of these prices), "
            "other steps live"
        )
    return (
        f"${result.estimated_cost:,.4f} ({price.model}: ${price.input_per_mtok:,.2f} in, "
        f"{cached}${price.output_per_mtok:,.2f} out per 1M tokens, prices as of "
        f"{result.prices_as_of}{batch}; an estimate, check your provider's price page)"
    )


def _input(result: Plan) -> str:
    text = f"{result.input_tokens:,} (rendered prompts, system + user"
    if result.structured:
        text += "; structured output, no format example"
    if result.cached_input_tokens:
        return (
            text + f"; ~{result.cached_input_tokens:,} cached: the static prefix of "
            f"{result.static_prefix_tokens:,} tokens after the first call)"
        )
    return (
        text + f"; none cached: the static prefix of {result.static_prefix_tokens:,} "
        "tokens is below the 1,024-token caching minimum)"
    )


def _calls(result: Plan) -> str:
    text = f"{result.model_calls:,} (one per chunk"
    for kind, count in result.step_calls.items():
        text += f", {kind} {count:,}"
    text += "; fix calls and retries add more"
    if result.max_topup_calls:
        text += f"; top-ups up to {result.max_topup_calls:,}"
    return text + ")"


def format_plan(result: Plan) -> str:
    """The plan as a readable table."""
    documents = f"{result.documents:,}"
    if result.empty_documents:
        documents += f" ({result.empty_documents:,} empty, skipped)"
    rows = [
        ("documents", documents),
        ("chunks", f"{result.chunks:,}"),
        ("tokens per chunk", _spread(result)),
        ("model calls", _calls(result)),
        ("input tokens", _input(result)),
        (
            "output tokens",
            f"~{result.output_tokens:,} (assumed {result.output_ratio:g} x chunk tokens; "
            "--output-ratio)",
        ),
        ("estimated cost", _cost(result)),
    ]
    width = max(len(label) for label, _ in rows)
    head = (
        f"Plan for {result.model} ({result.encoding}, chunks of {result.chunk_size:,} tokens "
        f"with {result.chunk_overlap:,} overlap); no model was called"
    )
    return "\n".join([head, *(f"  {label.ljust(width)}  {value}" for label, value in rows)])


def format_messages(result: Plan) -> str:
    """The first chunk's rendered messages, each under a ``--- role ---`` line."""
    if result.first_chunk is None:
        return "\n(no chunks: there is no prompt to show)"
    from .._plan import message_dict

    chunk = result.first_chunk
    parts = [f"\nPrompt for the first chunk ({chunk.source}, chunk {chunk.index}):"]
    for message in result.first_messages:
        data = message_dict(message)
        parts.append(f"--- {data['role']} ---\n{data['content']}")
    return "\n".join(parts)
