"""One chunk's work: the generation chain, then the chunk checks.

The generation chain is built with ``|`` from Runnables: the prompt (a
``QAPrompt`` or a ``ChatPromptTemplate``), the model (the run's
:class:`~qasynth._calls.ModelCaller`) and the parser (local repair, then
LangChain's ``OutputFixingParser`` through the same caller). Every call is made
under a config naming its step (``generate``, ``fix``, ``topup``, ``judge``, ...)
with ``qasynth_chunk_id`` and ``qasynth_source`` metadata, nested under the
run's trace.

When no callback handler would see them (no callbacks given, no LangChain tracing
on), a step calls the same links without the chain's runnable layers
(:mod:`qasynth._links`): the same request, the same result, less client CPU.

:class:`ChunkRunner` never raises for bad model output: a chunk ends as done
(records and rejections) or failed (reason and raw output). Only errors that
hold for every request (:class:`~qasynth.ModelError`) escape.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from pydantic import BaseModel

from ._callerrors import CallFailed, RequestRefused
from ._calls import USAGE_KEY, ModelCaller, Usage, as_messages
from ._errors import REPORTED, CheckError, ParseError, QasynthError
from ._links import as_link, builds_its_messages, link_config, untraced
from ._offload import CheckOffload
from ._parsing import ParsedReply, ReplyParser, StructuredParser, message_text
from ._prompts import PromptLike, chunk_variables
from ._schema import QA, Chunk, ChunkFailure, QARecord, Rejection
from ._secrets import redact, remove_secrets
from ._stats import Stats
from .checks._contract import Check, ChunkContext

__all__ = ["ChunkResult", "ChunkRunner", "step_config"]

logger = logging.getLogger("qasynth")
_FIX_SEPARATOR = "\n\n----- fix attempt -----\n\n"


@dataclass
class ChunkResult:
    """Everything one chunk produced; ``seq`` is its position in the run."""

    seq: int
    chunk: Chunk
    records: list[QARecord] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    failure: ChunkFailure | None = None
    usage: Usage = field(default_factory=Usage)
    step_errors: Counter[str] = field(default_factory=Counter)
    repairs: list[str] = field(default_factory=list)
    pairs_returned: int = 0
    pairs_added: int = 0
    """Pairs the checks made from the returned ones (paraphrases, translations)."""
    raw_output: str = ""

    @property
    def fix_calls(self) -> int:
        return self.usage.calls["fix"]

    def add_to(self, stats: Stats) -> None:
        """Add this chunk's counts to a run's statistics."""
        stats.chunks_failed += self.failure is not None
        stats.chunks_done += self.failure is None
        calls = Counter({k: n for k, n in self.usage.calls.items() if k != "fix"})
        stats.model_calls += sum(calls.values())
        stats.calls_by_kind.update(calls)
        stats.fix_calls += self.fix_calls
        stats.retries += self.usage.retries
        stats.waited += self.usage.waited
        stats.input_tokens += self.usage.input_tokens
        stats.cached_input_tokens += self.usage.cached_input_tokens
        stats.output_tokens += self.usage.output_tokens
        batch_in, batch_cached, batch_out = self.usage.batch_tokens
        stats.batch_input_tokens += batch_in
        stats.batch_cached_input_tokens += batch_cached
        stats.batch_output_tokens += batch_out
        stats.local_repairs += any(r != "llm_fix" for r in self.repairs)
        stats.repairs.update(self.repairs)
        stats.step_errors.update(self.step_errors)
        stats.pairs_returned += self.pairs_returned
        stats.pairs_added += self.pairs_added
        stats.rejections.update(r.reason for r in self.rejections)


def step_config(
    config: RunnableConfig | None, step: str, chunk: Chunk, usage: Usage
) -> RunnableConfig:
    """``config`` for one step of one chunk: named by the step, with chunk metadata,
    counting its calls in ``usage``."""
    base: dict[str, Any] = dict(config or {})
    metadata = {
        **(base.get("metadata") or {}),
        "qasynth_step": step,
        "qasynth_chunk_id": chunk.id,
        "qasynth_source": chunk.source,
    }
    configurable = {**(base.get("configurable") or {}), USAGE_KEY: usage}
    tags = [*(base.get("tags") or []), f"qasynth:{step}"]
    out: RunnableConfig = {
        **base,  # type: ignore[typeddict-item]
        "run_name": step,
        "metadata": metadata,
        "configurable": configurable,
        "tags": tags,
    }
    return out


class ChunkRunner:
    """Turns one chunk into a :class:`ChunkResult` under a run's settings."""

    def __init__(
        self,
        caller: ModelCaller,
        *,
        prompt: PromptLike,
        checks: Sequence[Check],
        max_fix_attempts: int = 2,
        response_format: dict[str, Any] | None = None,
        check_workers: int | None = 0,
    ) -> None:
        self.caller = caller
        self.prompt = prompt
        self.checks = [c for c in checks if c.scope == "chunk"]
        self.offload = CheckOffload(
            self.checks, workers=check_workers, slots=caller.limits.concurrency
        )
        """Runs the leading model-free checks, inline or in worker processes."""
        self.max_fix_attempts = max_fix_attempts
        # structured mode: the pairs calls (generate, top-up) carry the strict schema
        self._bound = {"response_format": response_format} if response_format else {}
        model = caller.as_runnable(**self._bound)
        self._pairs: Runnable[Any, ParsedReply] = model | RunnableLambda(
            self._parse_pairs, name="parse"
        )
        self.chain: Runnable[Any, ParsedReply] = prompt | self._pairs
        """The generation chain: ``prompt | model | parse``, from a chunk's variables."""
        self._fixer = RunnableLambda(self._fix, name="fix")
        self._builder = prompt if builds_its_messages(prompt) else None
        """The prompt, when its link's output is its ``build_messages`` (the link is skipped)."""

    # -- the chain's links --------------------------------------------------------------

    async def _fix(self, prompt: PromptValue, config: RunnableConfig) -> Any:
        metadata = {**(config.get("metadata") or {}), "qasynth_step": "fix"}
        return await self.caller.call(prompt.to_messages(), {**config, "metadata": metadata})

    async def _parse_pairs(self, reply: Any) -> ParsedReply:
        parser = ReplyParser(self._fixer, max_fix_attempts=self.max_fix_attempts)
        try:
            parsed = await parser.aparse(message_text(reply))
        except CallFailed as exc:
            raise ParseError(
                f"fix call failed: {exc}",
                raw_output=_FIX_SEPARATOR.join(parser.transcript),
                attempts=1 + parser.fix_calls,
            ) from None
        parsed.raw_output = _FIX_SEPARATOR.join(parser.transcript)
        secrets = self.caller.credentials
        if secrets:  # whatever escape a secret hid behind in the reply
            parsed.pairs = [_scrubbed(pair, secrets) for pair in parsed.pairs]
            parsed.rejected = [
                (reason, remove_secrets(question, secrets), remove_secrets(answer, secrets))
                for reason, question, answer in parsed.rejected
            ]
        return parsed

    async def _parse_schema(self, reply: Any, schema: type[BaseModel]) -> BaseModel:
        parser = StructuredParser(schema, self._fixer, max_fix_attempts=self.max_fix_attempts)
        return await parser.aparse(message_text(reply))

    # -- the same links, called directly when no handler would see them --------------------

    async def _run_pairs(self, value: Any, config: RunnableConfig) -> ParsedReply:
        """``prompt | model | parse`` (or ``model | parse`` for messages) on ``value``,
        without the runnable layers when no callback handler would see them."""
        if not untraced(config):
            chain = self._pairs if isinstance(value, list) else self.chain
            parsed: ParsedReply = await chain.ainvoke(value, config)
            return parsed
        link = link_config(config)
        with as_link(link):
            reply = await self.caller.call(await self._messages(value, link), link, **self._bound)
            return await self._parse_pairs(reply)

    async def _messages(self, value: Any, link: RunnableConfig) -> list[BaseMessage]:
        """What the prompt link gives the model link for ``value`` (messages as they are)."""
        if isinstance(value, list):
            return value
        if self._builder is not None:
            return self._builder.build_messages(value["chunk"])
        return as_messages(await self.prompt.ainvoke(value, link))

    # -- one chunk ----------------------------------------------------------------------

    async def process(
        self,
        chunk: Chunk,
        seq: int = 0,
        config: RunnableConfig | None = None,
        result: ChunkResult | None = None,
    ) -> ChunkResult:
        """The chunk's result, filled in ``result`` if given (the run reads its usage
        while the chunk is in progress)."""
        if result is None:
            result = ChunkResult(seq=seq, chunk=chunk)
        records = await self._generate(chunk, config, result)
        if records is None:
            return result
        first = len(self.offload.checks)
        records, rejections = await self.offload.check(chunk, records)
        current = 0

        async def settle(ctx: ChunkContext) -> None:
            result.pairs_added += await self._settle(ctx, self.checks[:current])

        ctx = ChunkContext(
            chunk, records, prompt=self.prompt, settle=settle,
            ask=lambda step, messages, schema: self._ask(step, messages, schema, result, config),
            ask_pairs=lambda step, messages: self._ask_pairs(step, messages, result, config),
        )  # fmt: skip
        ctx.rejections.extend(rejections)  # later checks see them (the repair step does)
        for current, check in enumerate(self.checks):  # settle reads current
            if current < first:
                continue  # done above
            try:
                await check.acheck_chunk(ctx)
            except (CallFailed, ParseError) as exc:
                logger.warning(
                    "check %s failed for chunk %s: %s", check.name, chunk.id, exc, extra=REPORTED
                )
                result.step_errors[check.name] += 1  # the chunk keeps what it had
            except QasynthError:
                raise
            except Exception as exc:  # a bug in the check: say which, and where
                raise CheckError(
                    f"check {check.name!r} ({type(check).__name__}) failed on chunk "
                    f"{chunk.index} of {chunk.source}: {type(exc).__name__}: {exc}"
                ) from exc
            await settle(ctx)
        result.records = ctx.records
        result.rejections.extend(ctx.rejections)
        return result

    async def aclose(self) -> None:
        """Stop the check workers, if any were started."""
        await self.offload.aclose()

    async def _generate(
        self, chunk: Chunk, config: RunnableConfig | None, result: ChunkResult, depth: int = 0
    ) -> list[QARecord] | None:
        """The chunk's first pairs; ``None`` after recording why the chunk failed.

        A chunk the provider finds over the model's context is split in halves
        (twice at most), each half asked alone, before it counts as failed."""
        try:
            parsed = await self._run_pairs(
                chunk_variables(chunk), step_config(config, "generate", result.chunk, result.usage)
            )
        except RequestRefused as exc:
            halves = _halves(chunk.text) if depth < 2 and _over_context(exc) else None
            if not halves:
                result.failure = _failure(result.chunk, exc, self.caller.secrets)
                return None
            records: list[QARecord] = []
            for half in halves:
                part = await self._generate(replace(chunk, text=half), config, result, depth + 1)
                if part is None:
                    return None
                records.extend(part)
            result.repairs.append("split_over_context")
            return records
        except (CallFailed, ParseError) as exc:
            result.failure = _failure(result.chunk, exc, self.caller.secrets)
            return None
        result.raw_output = f"{result.raw_output}\n\n{parsed.raw_output}".strip()
        return self._take(parsed, result.chunk, result)

    @staticmethod
    async def _settle(ctx: ChunkContext, earlier_checks: Sequence[Check]) -> int:
        """Put records added by the current check through every earlier model-free check;
        returns how many of them the check made from other pairs: variants, and
        rewrites of dangling questions (top-up pairs come from the model, and are
        counted as returned)."""
        added = ctx.take_added()
        if not added:
            return 0
        sub = ctx.sub_context(added)
        for earlier in earlier_checks:
            if not earlier.calls_model:
                await earlier.acheck_chunk(sub)
        ctx.absorb(added, sub)
        return sum(
            record.origin != "generated" or "repaired_from" in record.annotations
            for record in added
        )

    def _take(self, parsed: ParsedReply, chunk: Chunk, result: ChunkResult) -> list[QARecord]:
        result.repairs.extend(parsed.repairs)
        result.pairs_returned += len(parsed.pairs) + len(parsed.rejected)
        for why, question, answer in parsed.rejected:
            result.rejections.append(Rejection(why, question, answer, chunk.id))
        return [QARecord.of(chunk, pair.question, pair.answer) for pair in parsed.pairs]

    async def _ask(
        self,
        step: str,
        messages: Sequence[BaseMessage],
        schema: type[BaseModel],
        result: ChunkResult,
        config: RunnableConfig | None,
    ) -> BaseModel:
        async def parse(reply: Any) -> BaseModel:
            return await self._parse_schema(reply, schema)

        step_cfg = step_config(config, step, result.chunk, result.usage)
        if untraced(step_cfg):
            link = link_config(step_cfg)
            with as_link(link):
                return await parse(await self.caller.call(list(messages), link))
        chain = self.caller.as_runnable() | RunnableLambda(parse, name="parse")
        value: BaseModel = await chain.ainvoke(list(messages), step_cfg)
        return value

    async def _ask_pairs(
        self,
        step: str,
        messages: Sequence[BaseMessage],
        result: ChunkResult,
        config: RunnableConfig | None,
    ) -> list[QA]:
        parsed = await self._run_pairs(
            list(messages), step_config(config, step, result.chunk, result.usage)
        )
        result.raw_output = f"{result.raw_output}\n\n{parsed.raw_output}".strip()
        self._take(parsed, result.chunk, result)
        return parsed.pairs


def _over_context(exc: RequestRefused) -> bool:
    message = exc.error.message.lower()
    return exc.error.code == "context_length_exceeded" or (
        "context" in message and ("length" in message or "maximum" in message)
    )


def _halves(text: str) -> list[str] | None:
    """``text`` cut in two near the middle, at a paragraph, line or sentence end."""
    middle = len(text) // 2
    if middle < 50:
        return None
    for separator in ("\n\n", "\n", "。", ". ", " "):
        before = text.rfind(separator, 0, middle)
        after = text.find(separator, middle)
        cuts = [i + len(separator) for i in (before, after) if i > 0]
        if cuts:
            cut = min(cuts, key=lambda i: abs(i - middle))
            if 0 < cut < len(text):
                return [text[:cut].strip(), text[cut:].strip()]
    return [text[:middle], text[middle:]]


def _refusal_text(chunk: Chunk, exc: RequestRefused) -> str:
    where = f"chunk {chunk.index} of {chunk.source}"
    code, message = exc.error.code or "", exc.error.message
    if _over_context(exc):
        return (
            f"{where} is over the model's context, even in halves; lower --chunk-size "
            f"(chunk_size=) and run again ({message})"
        )
    if "content" in code or "content_filter" in message or "content management" in message:
        return f"the provider's content filter refused {where} ({message})"
    return f"the provider refused {where} as an invalid request ({message})"


def _failure(chunk: Chunk, exc: CallFailed | ParseError, secrets: Sequence[str]) -> ChunkFailure:
    """Why ``chunk`` failed, with the raw output, the configured keys removed."""
    transient = False
    if isinstance(exc, ParseError):
        reason, raw, attempts = str(exc), exc.raw_output, exc.attempts
    elif isinstance(exc, RequestRefused):
        reason, raw, attempts = _refusal_text(chunk, exc), "", exc.attempts
    else:
        reason, raw, attempts = f"model call failed: {exc}", "", exc.attempts
        transient = True
    failure = ChunkFailure(
        chunk_id=chunk.id,
        source=chunk.source,
        theme=chunk.theme,
        chunk_index=chunk.index,
        reason=redact(reason, secrets),
        raw_output=redact(raw, secrets),
        attempts=attempts,
        transient=transient,
    )
    logger.warning(
        "chunk %d of %s failed: %s", chunk.index, chunk.source, failure.reason, extra=REPORTED
    )
    return failure


def _scrubbed(pair: QA, secrets: Sequence[str]) -> QA:
    question, answer = (remove_secrets(text, secrets) for text in (pair.question, pair.answer))
    if question == pair.question and answer == pair.answer:
        return pair
    return pair.model_copy(update={"question": question, "answer": answer})
