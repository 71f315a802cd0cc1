"""Processing one chunk: generate, parse, validate, top up, run the chunk steps.

:class:`ChunkWorker` never raises for bad model output: a chunk ends as done
(with its records and rejections) or failed (with the reason and the raw
output). Only errors that retrying cannot fix (``AuthenticationError``) escape.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableLambda
from pydantic import BaseModel

from ._concurrency import CallFailed, CallUsage, ModelCaller
from ._dataset import Stats
from ._errors import ParseError
from ._parsing import ParsedReply, ReplyParser, StructuredParser, message_text
from ._prompts import QAPrompt
from ._schema import Chunk, ChunkFailure, QARecord, Rejection
from ._steps import ChunkStep, StepContext
from ._validation import PairValidator, first_rejection, normalize_for_comparison

__all__ = ["ChunkResult", "ChunkWorker"]

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
    usage: CallUsage = field(default_factory=CallUsage)
    fix_calls: int = 0
    calls_by_kind: Counter[str] = field(default_factory=Counter)
    step_errors: Counter[str] = field(default_factory=Counter)
    repairs: list[str] = field(default_factory=list)
    pairs_returned: int = 0
    raw_output: str = ""

    def add_to(self, stats: Stats) -> None:
        """Add this chunk's counts to a run's statistics."""
        stats.chunks_failed += self.failure is not None
        stats.chunks_done += self.failure is None
        stats.model_calls += self.usage.calls
        stats.fix_calls += self.fix_calls
        stats.retries += self.usage.retries
        stats.input_tokens += self.usage.input_tokens
        stats.output_tokens += self.usage.output_tokens
        stats.local_repairs += any(r != "llm_fix" for r in self.repairs)
        stats.repairs.update(self.repairs)
        stats.calls_by_kind.update(self.calls_by_kind)
        stats.step_errors.update(self.step_errors)
        stats.pairs_returned += self.pairs_returned
        stats.rejections.update(r.reason for r in self.rejections)

    def reject(self, record: QARecord, reason: str, detail: str = "") -> None:
        self.rejections.append(
            Rejection(reason, record.question, record.answer, record.chunk_id, detail)
        )


def make_record(chunk: Chunk, question: str, answer: str) -> QARecord:
    return QARecord(
        question=question.strip(),
        answer=answer.strip(),
        theme=chunk.theme,
        source=chunk.source,
        chunk_id=chunk.id,
        chunk_index=chunk.index,
        page=chunk.page,
    )


def make_failure(chunk: Chunk, reason: str, raw_output: str, attempts: int) -> ChunkFailure:
    return ChunkFailure(
        chunk_id=chunk.id,
        source=chunk.source,
        theme=chunk.theme,
        chunk_index=chunk.index,
        reason=reason,
        raw_output=raw_output,
        attempts=attempts,
    )


class ChunkWorker:
    """Turns one chunk into a :class:`ChunkResult` under a run's settings."""

    def __init__(
        self,
        caller: ModelCaller,
        *,
        prompt: QAPrompt,
        validators: Sequence[PairValidator],
        steps: Sequence[ChunkStep] = (),
        max_fix_attempts: int = 2,
        min_pairs_per_chunk: int = 0,
        max_topups: int = 2,
    ) -> None:
        self.caller = caller
        self.prompt = prompt
        self.validators = list(validators)
        self.steps = list(steps)
        self.max_fix_attempts = max_fix_attempts
        self.min_pairs_per_chunk = min_pairs_per_chunk
        self.max_topups = max_topups

    async def process(self, chunk: Chunk, seq: int = 0) -> ChunkResult:
        result = ChunkResult(seq=seq, chunk=chunk)
        parsed = await self._generate(chunk, self.prompt.build_messages(chunk), result)
        if parsed is None:
            return result
        self._accept(chunk, parsed, result)
        await self._top_up(chunk, result)
        for step in self.steps:
            await self._run_step(step, chunk, result)
        return result

    async def _generate(
        self, chunk: Chunk, messages: list[BaseMessage], result: ChunkResult, kind: str = "generate"
    ) -> ParsedReply | None:
        """One generation call and its parse; records a failure and returns None."""
        try:
            reply = await self.caller.call(messages, result.usage)
        except CallFailed as exc:
            result.failure = make_failure(chunk, f"model call failed: {exc}", "", exc.attempts)
            return None
        result.calls_by_kind[kind] += 1
        raw = message_text(reply)
        result.raw_output = raw if not result.raw_output else f"{result.raw_output}\n\n{raw}"
        parser = ReplyParser(self._fixer(result), max_fix_attempts=self.max_fix_attempts)
        try:
            return await parser.aparse(raw)
        except ParseError as exc:
            result.failure = make_failure(chunk, str(exc), exc.raw_output, exc.attempts)
        except CallFailed as exc:
            raw_all = _FIX_SEPARATOR.join(parser.transcript)
            result.failure = make_failure(
                chunk, f"fix call failed: {exc}", raw_all, 1 + parser.fix_calls
            )
        finally:
            self._count_parser(parser, result)
        return None

    def _count_parser(
        self, parser: ReplyParser | StructuredParser[Any], result: ChunkResult
    ) -> None:
        result.fix_calls += parser.fix_calls
        result.usage.input_tokens += parser.input_tokens
        result.usage.output_tokens += parser.output_tokens

    def _accept(self, chunk: Chunk, parsed: ParsedReply, result: ChunkResult) -> int:
        """Validate parsed pairs into the result; returns how many were kept."""
        result.repairs.extend(parsed.repairs)
        result.pairs_returned += len(parsed.pairs) + len(parsed.rejected)
        for why, question, answer in parsed.rejected:
            result.rejections.append(Rejection(why, question, answer, chunk.id))
        seen = {normalize_for_comparison(r.question) for r in result.records}
        kept = 0
        for pair in parsed.pairs:
            record = make_record(chunk, pair.question, pair.answer)
            reason = first_rejection(self.validators, record, chunk)
            if not reason and normalize_for_comparison(record.question) in seen:
                reason = "duplicate_question"
            if reason:
                result.reject(record, reason, _detail(record))
                continue
            seen.add(normalize_for_comparison(record.question))
            result.records.append(record)
            kept += 1
        return kept

    async def _top_up(self, chunk: Chunk, result: ChunkResult) -> None:
        """Ask again, naming the questions already kept, while a chunk has too few."""
        for _ in range(self.max_topups):
            missing = self.min_pairs_per_chunk - len(result.records)
            if missing <= 0:
                return
            existing = [r.question for r in result.records]
            messages = self.prompt.build_topup_messages(chunk, existing, missing)
            parsed = await self._generate(chunk, messages, result, kind="topup")
            if parsed is None:
                result.failure = None  # the chunk keeps what it already has
                result.step_errors["topup"] += 1
                return
            if self._accept(chunk, parsed, result) == 0:
                return  # the model has nothing more to add

    def _fixer(self, result: ChunkResult) -> RunnableLambda[Any, AIMessage]:
        async def fix(prompt: PromptValue) -> AIMessage:
            usage = CallUsage()  # tokens are counted by the parser; keep the retries
            try:
                return await self.caller.call(prompt.to_messages(), usage)
            finally:
                result.usage.retries += usage.retries

        return RunnableLambda(fix)

    async def _run_step(self, step: ChunkStep, chunk: Chunk, result: ChunkResult) -> None:
        async def ask(
            kind: str, messages: Sequence[BaseMessage], schema: type[BaseModel]
        ) -> BaseModel:
            reply = await self.caller.call(messages, result.usage)
            result.calls_by_kind[kind] += 1
            parser = StructuredParser(
                schema, self._fixer(result), max_fix_attempts=self.max_fix_attempts
            )
            try:
                return await parser.aparse(message_text(reply))
            finally:
                self._count_parser(parser, result)

        context = StepContext(ask=ask, reject=result.reject)
        try:
            records = await step.arun(chunk, list(result.records), context)
        except (CallFailed, ParseError) as exc:
            logger.warning("step %s failed for chunk %s: %s", step.name, chunk.id, exc)
            result.step_errors[step.name] += 1
            return  # keep the records as they were: nothing paid for is lost
        new = [r for r in records if r.origin != "generated"]
        kept = [r for r in records if r.origin == "generated"]
        for record in new:
            reason = first_rejection(self.validators, record, chunk)
            if reason:
                origin = f"{record.origin} of: {record.derived_from}"
                result.reject(record, reason, "; ".join(filter(None, [origin, _detail(record)])))
            else:
                kept.append(record)
        result.records = kept


def _detail(record: QARecord) -> str:
    """What the validators noted on a record (the rule that fired, a score, ...)."""
    return "; ".join(f"{key}: {value}" for key, value in record.meta.items())
