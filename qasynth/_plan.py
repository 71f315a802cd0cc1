"""A dry run: what a generation run would send, and roughly what it would cost.

:func:`plan` reads and splits the documents exactly as a run would
(:meth:`Synthesizer.iter_chunks`) and renders the prompt for every chunk, but
makes no model call and needs no API key (only the tokenizer's files)::

    from qasynth._plan import plan

    p = plan(["notes/"], model="gpt-4o-mini", chunk_size=1000, chunk_overlap=200)
    print(p.chunks, p.input_tokens, p.estimated_cost)

What is exact and what is estimated:

- documents, empty documents, chunks, tokens per chunk: exact (same chunker).
- model calls: one per chunk, plus what each check that calls the model
  declares (:meth:`qasynth.checks.Check.estimate`: the LLM judge, paraphrases,
  each ``also_languages`` language), in :attr:`Plan.step_calls`. Top-ups for
  ``min_pairs_per_chunk`` are at most ``max_topups`` per chunk
  (:attr:`Plan.max_topup_calls`). Fix calls (only for replies that local
  repair cannot mend) and retries come on top.
- input tokens: exact for the first call of each chunk. Each chunk's rendered
  messages (system + user) are counted with the run's encoding the way OpenAI
  counts chat input: 3 tokens per message plus its role and content, plus 3
  for the reply priming.
- output tokens: an assumption, ``output_ratio`` (default
  :data:`DEFAULT_OUTPUT_RATIO`, 0.6) times each chunk's tokens, because a reply
  restates the chunk's facts as questions and answers wrapped in JSON.
- step tokens: what each check estimates from the chunk's tokens and the
  generation estimate.
- cached input tokens: an assumption. The leading messages that are the same
  for every chunk (the static system message) form a prefix that OpenAI's
  prompt cache serves at the cached rate once it is at least 1,024 tokens
  (then in steps of 128; :func:`~qasynth._pricing.cached_prefix_tokens`).
  ``plan`` assumes every generation call after the first finds it cached (a
  run sends many calls a minute with the same prefix, and the cache keeps it
  for minutes); step calls are counted as uncached. The default prompt's
  static part is below 1,024 tokens, so it plans no cached tokens.
- cost: input (cached ones at the cached rate) and output tokens (generation
  plus steps) at the model's prices from :mod:`qasynth._pricing` (dated
  :attr:`Plan.prices_as_of`); ``None`` when the model is not in the price table.
  With ``batch=True`` the generation tokens are priced at the Batch API rate
  (:func:`qasynth._pricing.batch_price_factor`, half the live price for OpenAI)
  with no cached tokens, and the step tokens at the live rate, because the
  steps' calls are made live.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage

from ._chunking import Chunker
from ._constants import DEFAULT_OUTPUT_RATIO
from ._errors import ConfigurationError
from ._pipeline import Inputs, Synthesizer
from ._pricing import (
    ModelPrice,
    batch_price_factor,
    cached_prefix_tokens,
    count_example_tokens,
    model_price,
    prices_as_of,
)
from ._prompts import PromptLike, render_messages
from ._schema import Chunk
from ._stats import Stats

__all__ = ["DEFAULT_OUTPUT_RATIO", "Plan", "TokenSpread", "plan"]


_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


@dataclass(frozen=True)
class TokenSpread:
    """Smallest, median and largest token count of the chunks."""

    min: int
    median: float
    max: int

    @classmethod
    def of(cls, counts: Sequence[int]) -> TokenSpread | None:
        if not counts:
            return None
        return cls(min(counts), float(statistics.median(counts)), max(counts))


@dataclass(frozen=True)
class Plan:
    """What a run over the same documents with the same options would do."""

    model: str
    encoding: str
    chunk_size: int
    chunk_overlap: int
    documents: int
    empty_documents: int
    chunks: int
    chunk_tokens: TokenSpread | None
    """Tokens of chunk text per chunk; ``None`` when there are no chunks."""
    model_calls: int
    """One per chunk; fix calls, retries and top-ups come on top."""
    input_tokens: int
    """Exact tokens of the rendered prompts (system + user messages), all chunks."""
    output_tokens: int
    """Estimated: ``output_ratio`` times the chunk tokens."""
    output_ratio: float
    price: ModelPrice | None
    estimated_cost: float | None
    """US dollars for input plus output tokens; ``None`` when the price is unknown."""
    prices_as_of: str
    first_chunk: Chunk | None = field(repr=False)
    """The first chunk, for :meth:`first_messages` (``None`` without chunks)."""
    first_messages: tuple[BaseMessage, ...] = field(default=(), repr=False)
    """The rendered messages for :attr:`first_chunk`."""
    step_calls: dict[str, int] = field(default_factory=dict)
    """Calls of the chunk steps (judge, paraphrase, translate), by kind."""
    step_input_tokens: int = 0
    """Estimated input tokens of the step calls (included in :attr:`input_tokens`)."""
    step_output_tokens: int = 0
    """Estimated output tokens of the step calls (included in :attr:`output_tokens`)."""
    max_topup_calls: int = 0
    """The most top-up calls ``min_pairs_per_chunk`` may add (not in the totals)."""
    batch: bool = False
    """Generation priced at the Batch API rate (steps stay at the live rate)."""
    static_prefix_tokens: int = 0
    """Tokens of the leading messages that are the same for every chunk."""
    cached_input_tokens: int = 0
    """Estimated input tokens served from the prompt cache (part of :attr:`input_tokens`)."""
    structured: bool = False
    """Whether the run would use native structured outputs (no format example)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the first chunk's messages as role/content objects)."""
        return {
            "model": self.model,
            "encoding": self.encoding,
            "chunk_size": self.chunk_size,
            "chunk_overlap": self.chunk_overlap,
            "documents": self.documents,
            "empty_documents": self.empty_documents,
            "chunks": self.chunks,
            "chunk_tokens": None if self.chunk_tokens is None else asdict(self.chunk_tokens),
            "model_calls": self.model_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "output_ratio": self.output_ratio,
            "price": None if self.price is None else asdict(self.price),
            "estimated_cost": self.estimated_cost,
            "prices_as_of": self.prices_as_of,
            "step_calls": self.step_calls,
            "step_input_tokens": self.step_input_tokens,
            "step_output_tokens": self.step_output_tokens,
            "max_topup_calls": self.max_topup_calls,
            "batch": self.batch,
            "static_prefix_tokens": self.static_prefix_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "structured": self.structured,
            "first_messages": [message_dict(m) for m in self.first_messages],
        }


def message_dict(message: BaseMessage) -> dict[str, str]:
    """A LangChain message as an OpenAI-style ``{"role", "content"}`` object."""
    return {"role": _ROLES.get(message.type, message.type), "content": message.text}


def prompt_tokens(messages: Sequence[BaseMessage], chunker: Chunker) -> int:
    """Chat input tokens of rendered messages, counted as OpenAI does."""
    return count_example_tokens([message_dict(m) for m in messages], chunker.encoding)


def plan(
    docs: Inputs,
    *,
    output_ratio: float = DEFAULT_OUTPUT_RATIO,
    synthesizer: Synthesizer | None = None,
    batch: bool = False,
    **options: Any,
) -> Plan:
    """Plan a run over ``docs`` without calling a model (see the module docstring).

    ``options`` are :class:`~qasynth.Synthesizer` options (``model=``,
    ``chunk_size=``, ``encoding=``, ``prompt=``, ``theme=``, ...), or pass a
    ready ``synthesizer``; ``batch`` prices generation at the Batch API rate.
    Raises what reading the documents raises (:class:`~qasynth._errors.DocumentError`) and
    :class:`~qasynth._errors.ConfigurationError` for a bad chunking or encoding.
    """
    if output_ratio < 0:
        raise ConfigurationError(f"output_ratio must not be negative, got {output_ratio}")
    synth = synthesizer if synthesizer is not None else Synthesizer.from_options(**options)
    chunker = synth.chunker
    stats = Stats()
    prompt = synth.run_prompt()
    counts, input_tokens, first = _measure(synth, prompt, chunker, docs, stats)
    prefix = _static_prefix_tokens(prompt, chunker, first) if first else 0
    cached = 0 if batch else cached_prefix_tokens(prefix) * max(0, len(counts) - 1)
    output_tokens = round(output_ratio * sum(counts))
    step_calls, step_in, step_out, topups = _step_tokens(synth, counts, output_ratio)
    price = model_price(synth.model_name)
    cost = None if price is None else price.cost(input_tokens, output_tokens, cached)
    if cost is not None and price is not None:
        cost = cost * (batch_price_factor() if batch else 1.0)
        cost += price.cost(step_in, step_out) or 0.0
    input_tokens += step_in
    output_tokens += step_out
    return Plan(
        model=synth.model_name,
        encoding=chunker.encoding.name,
        chunk_size=chunker.chunk_size,
        chunk_overlap=chunker.chunk_overlap,
        documents=stats.documents,
        empty_documents=stats.empty_documents,
        chunks=len(counts),
        chunk_tokens=TokenSpread.of(counts),
        model_calls=len(counts) + sum(step_calls.values()),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        output_ratio=output_ratio,
        price=price,
        estimated_cost=cost,
        prices_as_of=prices_as_of(),
        first_chunk=first,
        first_messages=tuple(render_messages(prompt, first)) if first else (),
        step_calls=step_calls,
        step_input_tokens=step_in,
        step_output_tokens=step_out,
        max_topup_calls=topups,
        batch=batch,
        static_prefix_tokens=prefix,
        cached_input_tokens=cached,
        structured=synth.uses_structured_output(),
    )


def _step_tokens(
    synth: Synthesizer, counts: Sequence[int], output_ratio: float
) -> tuple[dict[str, int], int, int, int]:
    """Calls (by check name), input and output tokens of the checks that call the
    model, from each check's own estimate; and the bound on occasional calls."""
    calls: dict[str, int] = {}
    tokens_in = tokens_out = at_most = 0
    pair_tokens = [round(output_ratio * chunk_tokens) for chunk_tokens in counts]
    for check in synth.checks:
        estimate = check.estimate_run(chunk_tokens=counts, pair_tokens=pair_tokens)
        if estimate.calls:
            calls[check.name] = calls.get(check.name, 0) + estimate.calls
        tokens_in += estimate.input_tokens
        tokens_out += estimate.output_tokens
        at_most += estimate.at_most
    return calls, tokens_in, tokens_out, at_most


def _static_prefix_tokens(prompt: PromptLike, chunker: Chunker, first: Chunk) -> int:
    """Tokens of the leading messages the prompt renders alike for every chunk."""
    probe = Chunk(text="\x00probe\x00", theme="\x00probe\x00", source="<probe>", index=0)
    same: list[BaseMessage] = []
    for a, b in zip(render_messages(prompt, first), render_messages(prompt, probe), strict=False):
        if a != b:
            break
        same.append(a)
    return prompt_tokens(same, chunker) - 3 if same else 0  # no reply priming


def _measure(
    synth: Synthesizer, prompt: PromptLike, chunker: Chunker, docs: Inputs, stats: Stats
) -> tuple[list[int], int, Chunk | None]:
    """Chunk tokens, total prompt tokens and the first chunk (documents read lazily)."""
    counts: list[int] = []
    input_tokens = 0
    first: Chunk | None = None
    for chunk in synth.iter_chunks(docs, stats=stats):
        first = first or chunk
        counts.append(chunker.count_tokens(chunk.text))
        input_tokens += prompt_tokens(render_messages(prompt, chunk), chunker)
    return counts, input_tokens, first
