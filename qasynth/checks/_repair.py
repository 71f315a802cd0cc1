"""Repair instead of drop: questions that do not stand alone, rewritten by the model.

:class:`RepairDangling` goes right after :class:`~qasynth.checks.StandaloneCheck`.
It takes the pairs that check rejected on this chunk (``not_standalone``), asks
the model in one call to rewrite each question so that it names its subject
(using the chunk), and adds the rewrites. Like every pair a check adds, they go
through the earlier model-free checks (the stand-alone rules included) and then
through every later check, so a rewrite is kept only when it passes. The
rejection of the original stays in the report; a rewrite is annotated with the
question it replaces (``repaired_from``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import ClassVar

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from .._errors import ConfigurationError
from .._quality.text import normalize
from .._schema import Chunk, QARecord
from ._contract import CallEstimate, Check, ChunkContext
from ._model import pairs_per_chunk

__all__ = ["DEFAULT_DANGLING_SHARE", "RepairDangling"]

DEFAULT_DANGLING_SHARE = 0.2
"""The share of pairs ``plan`` assumes the stand-alone check rejects."""

REJECTED_REASON = "not_standalone"


class _Rewrite(BaseModel):
    index: int
    question: str


class _Rewrites(BaseModel):
    rewrites: list[_Rewrite]


class RepairDangling(Check):
    """Rewrite the questions the stand-alone check rejected so they name their subject."""

    name = "repair"
    instructions: ClassVar[str] = (
        "Each question below was written from the text, but it only makes sense next to "
        "the text: it leans on words like 'he', 'this', 'the final' or 'the update' "
        "without naming who, what, when or which event, product or document it is about. "
        "Rewrite each question so that it stands alone: name its subject using the text "
        "(and the theme), keep it asking exactly the same thing so the given answer still "
        "answers it, and keep the question's language. If the text does not say what the "
        "subject is, leave that question out. Reply with JSON only: "
        '{"rewrites": [{"index": 0, "question": "..."}]}'
    )

    def __init__(self, *, dangling_share: float = DEFAULT_DANGLING_SHARE) -> None:
        if not 0.0 <= dangling_share <= 1.0:
            raise ConfigurationError(
                f"dangling_share must be between 0 and 1, got {dangling_share}"
            )
        self.dangling_share = dangling_share

    def estimate(self, *, chunk_tokens: int, pair_tokens: int) -> CallEstimate:
        """One call per chunk with at least one rejected question (for ``plan``,
        ``dangling_share`` of a chunk's pairs are assumed rejected, independently;
        :meth:`estimate_run` sums the chances over the run): the chunk, those pairs
        and ~200 tokens of instructions in; their questions out."""
        share = self._call_share(pair_tokens)
        pairs = round(self.dangling_share * pair_tokens)
        return CallEstimate(round(share), round(share * (chunk_tokens + 200)) + pairs, pairs // 2)

    def estimate_run(
        self, *, chunk_tokens: Sequence[int], pair_tokens: Sequence[int]
    ) -> CallEstimate:
        total = super().estimate_run(chunk_tokens=chunk_tokens, pair_tokens=pair_tokens)
        calls = round(sum(self._call_share(pairs) for pairs in pair_tokens))
        return CallEstimate(calls, total.input_tokens, total.output_tokens)

    def _call_share(self, pair_tokens: int) -> float:
        return 1 - (1 - self.dangling_share) ** pairs_per_chunk(pair_tokens)

    def build_messages(self, chunk: Chunk, records: Sequence[QARecord]) -> list[BaseMessage]:
        pairs = [
            {"index": i, "question": r.question, "answer": r.answer} for i, r in enumerate(records)
        ]
        user = (
            f"Theme: {chunk.theme or '(not given)'}\n\nText:\n{chunk.text}\n\nQuestions:\n"
            + json.dumps(pairs, ensure_ascii=False, indent=1)
        )
        return [SystemMessage(content=self.instructions), HumanMessage(content=user)]

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        dangling = [
            QARecord.of(ctx.chunk, r.question, r.answer)
            for r in ctx.rejections
            if r.reason == REJECTED_REASON
        ]
        if not dangling:
            return
        reply = await ctx.ask(self.name, self.build_messages(ctx.chunk, dangling), _Rewrites)
        seen = {normalize(r.question) for r in ctx.records}
        for item in reply.rewrites:
            if not 0 <= item.index < len(dangling):
                continue
            original, question = dangling[item.index], item.question.strip()
            key = normalize(question)
            if not key or key in seen or key == normalize(original.question):
                continue
            seen.add(key)
            rewrite = QARecord.of(ctx.chunk, question, original.answer)
            ctx.add(rewrite)
            ctx.annotate(rewrite, repaired_from=original.question)
