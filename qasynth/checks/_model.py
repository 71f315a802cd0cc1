"""Chunk checks that call the model: top-ups, an LLM judge, paraphrases, translations.

They use the same contract as every other check: ``ctx.ask`` calls the model
(counted under the check's step name) and parses the reply into a Pydantic
schema on the usual path (local repair, then the output fixer); ``ctx.reject``
and ``ctx.add`` change the chunk's pairs. Pairs they add go through every
earlier model-free check. Subclass one to change its prompt (``instructions``,
``build_messages``).

- :class:`TopUp` asks again, naming the questions already kept, while a chunk
  keeps fewer than ``min_pairs`` pairs.
- :class:`LLMJudge` rates every pair 1-5 for standing alone, correctness against
  the chunk and usefulness, in one call per chunk; with ``only_uncertain`` only
  the pairs an earlier model-free check was unsure about (the ``unsure``
  annotation), and a chunk with none costs no call.
- :class:`Paraphraser` adds N rephrasings of each question with the same answer,
  in one call per chunk (models learn a fact only from many phrasings).
- :class:`AnswerParaphraser` adds N rewordings of each answer for the same
  question, in one call per chunk (answers, too, need many phrasings).
- :class:`Translator` adds each pair in other languages, one call per language.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from .._callerrors import CallFailed
from .._errors import ConfigurationError, ParseError
from .._prompts import topup_messages
from .._quality.language import detect_language, language_codes, same_language_code
from .._quality.text import normalize
from .._schema import Chunk, QARecord
from ._contract import CallEstimate, Check, ChunkContext

__all__ = [
    "DEFAULT_UNCERTAIN_SHARE",
    "AnswerParaphraser",
    "LLMJudge",
    "Paraphraser",
    "TopUp",
    "Translator",
    "pairs_per_chunk",
]

DEFAULT_UNCERTAIN_SHARE = 0.3
"""The share of pairs ``plan`` assumes the model-free checks are unsure about."""

TOKENS_PER_PAIR = 60
"""About the tokens one generated pair takes (for estimates that count pairs)."""


def pairs_per_chunk(pair_tokens: int) -> int:
    """The pairs a chunk gives, estimated from the tokens of its pairs."""
    return max(1, round(pair_tokens / TOKENS_PER_PAIR))


LANGUAGE_NAMES = {
    "en": "English", "ja": "Japanese", "zh": "Chinese", "ko": "Korean", "fr": "French",
    "de": "German", "es": "Spanish", "pt": "Portuguese", "it": "Italian", "ru": "Russian",
    "nl": "Dutch", "pl": "Polish", "vi": "Vietnamese",
}  # fmt: skip


def _numbered(records: Sequence[QARecord], *, answers: bool = True) -> str:
    items = [
        {"index": i, "question": r.question, **({"answer": r.answer} if answers else {})}
        for i, r in enumerate(records)
    ]
    return json.dumps(items, ensure_ascii=False, indent=1)


def _variant(source: QARecord, question: str, answer: str, origin: str) -> QARecord:
    return replace(
        source, question=question, answer=answer, origin=origin,
        derived_from=source.question, annotations={},
    )  # fmt: skip


# -- top-ups -------------------------------------------------------------------------


class TopUp(Check):
    """Ask again, naming the questions already kept, while a chunk has too few.

    At most ``max_calls`` extra calls per chunk; stops early when a reply adds
    nothing new. A failed top-up call keeps the pairs the chunk already has.
    """

    name = "topup"

    def __init__(self, min_pairs: int, *, max_calls: int = 2) -> None:
        if min_pairs < 1 or max_calls < 0:
            raise ConfigurationError(f"min_pairs must be at least 1 and max_calls 0 or more, got "
                             f"{min_pairs} and {max_calls}")  # fmt: skip
        self.min_pairs = min_pairs
        self.max_calls = max_calls

    def estimate(self, *, chunk_tokens: int, pair_tokens: int) -> CallEstimate:
        return CallEstimate(at_most=self.max_calls)

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        for _ in range(self.max_calls):
            kept = ctx.records
            missing = self.min_pairs - len(kept)
            if missing <= 0:
                return
            messages = topup_messages(ctx.prompt, ctx.chunk, [r.question for r in kept], missing)
            seen = {normalize(r.question) for r in kept}
            for pair in await ctx.ask_pairs(self.name, messages):
                record = QARecord.of(ctx.chunk, pair.question, pair.answer)
                ctx.add(record)
                if normalize(record.question) in seen:
                    ctx.reject(record, "duplicate_question", "asked again by a top-up")
                seen.add(normalize(record.question))
            await ctx.settle()  # count only what passes the checks before this one
            if len(ctx.records) <= len(kept):
                return  # the model has nothing more to add


# -- judge ---------------------------------------------------------------------------


class JudgeRating(BaseModel):
    index: int = Field(description="The index of the pair being rated.")
    standalone: int = Field(ge=1, le=5, description="1-5: the question makes sense alone.")
    correct: int = Field(ge=1, le=5, description="1-5: the answer is right per the text.")
    useful: int = Field(ge=1, le=5, description="1-5: worth learning for the theme.")
    reason: str = Field(default="", description="One short sentence explaining the scores.")


class JudgeRatings(BaseModel):
    ratings: list[JudgeRating]


class LLMJudge(Check):
    """Keep pairs the model rates at least ``threshold`` on every criterion."""

    name = "judge"
    instructions: ClassVar[str] = (
        "You review question-answer pairs written from a text, for training a chat model. "
        "Rate each pair from 1 (bad) to 5 (excellent) on three criteria: standalone (the "
        "question names who, what, when or which event, and makes sense without the text), "
        "correct (the answer is right and supported by the text), useful (worth learning "
        "about the theme). Give one short reason. Rate every pair, by its index. Reply with "
        'JSON only: {"ratings": [{"index": 0, "standalone": 5, "correct": 5, "useful": 4, '
        '"reason": "..."}]}'
    )

    def __init__(
        self,
        *,
        threshold: int = 3,
        only_uncertain: bool = False,
        uncertain_share: float = DEFAULT_UNCERTAIN_SHARE,
    ) -> None:
        if not 1 <= threshold <= 5:
            raise ConfigurationError(f"judge threshold must be between 1 and 5, got {threshold}")
        if not 0.0 <= uncertain_share <= 1.0:
            raise ConfigurationError(
                f"uncertain_share must be between 0 and 1, got {uncertain_share}"
            )
        self.threshold = threshold
        self.only_uncertain = only_uncertain
        self.uncertain_share = uncertain_share

    def estimate(self, *, chunk_tokens: int, pair_tokens: int) -> CallEstimate:
        """The chunk and its pairs plus ~250 tokens of instructions in; a quarter of the
        pairs' tokens of ratings out. With ``only_uncertain``: ``uncertain_share`` of
        the pairs, and a call only for a chunk with at least one of them (the chance
        of that, for independent pairs, rounded over the run by :meth:`estimate_run`)."""
        if not self.only_uncertain:
            return CallEstimate(1, chunk_tokens + pair_tokens + 250, pair_tokens // 4)
        share = self._call_share(pair_tokens)
        judged = round(self.uncertain_share * pair_tokens)
        return CallEstimate(round(share), round(share * (chunk_tokens + 250) + judged), judged // 4)

    def estimate_run(
        self, *, chunk_tokens: Sequence[int], pair_tokens: Sequence[int]
    ) -> CallEstimate:
        if not self.only_uncertain:
            return super().estimate_run(chunk_tokens=chunk_tokens, pair_tokens=pair_tokens)
        total = super().estimate_run(chunk_tokens=chunk_tokens, pair_tokens=pair_tokens)
        calls = sum(self._call_share(pairs) for pairs in pair_tokens)
        return replace(total, calls=round(calls))

    def _call_share(self, pair_tokens: int) -> float:
        """The chance that a chunk has at least one pair to judge."""
        return 1 - (1 - self.uncertain_share) ** pairs_per_chunk(pair_tokens)

    def build_messages(self, chunk: Chunk, records: Sequence[QARecord]) -> list[BaseMessage]:
        user = f"Theme: {chunk.theme or '(not given)'}\n\nText:\n{chunk.text}\n\nPairs:\n"
        return [
            SystemMessage(content=self.instructions),
            HumanMessage(content=user + _numbered(records)),
        ]

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        records = ctx.records
        if self.only_uncertain:
            records = [r for r in records if r.annotations.get("unsure")]
        if not records:
            return
        messages = self.build_messages(ctx.chunk, records)
        ratings = await ctx.ask(self.name, messages, JudgeRatings)
        by_index = {r.index: r for r in ratings.ratings}
        for index, record in enumerate(records):
            rating = by_index.get(index)
            if rating is None:
                continue  # unrated: keep rather than lose a paid pair
            scores = {"standalone": rating.standalone, "correct": rating.correct,
                      "useful": rating.useful}  # fmt: skip
            record = ctx.annotate(record, judge={**scores, "reason": rating.reason})
            low = [name for name, score in scores.items() if score < self.threshold]
            if low:
                ctx.reject(record, f"judge_low_{low[0]}", rating.reason)


# -- augmenters ----------------------------------------------------------------------


class Paraphrase(BaseModel):
    index: int
    questions: list[str]


class Paraphrases(BaseModel):
    paraphrases: list[Paraphrase]


class Paraphraser(Check):
    """Add ``n`` rephrasings of every question, each with the original answer."""

    name = "paraphrase"
    instructions: ClassVar[str] = (
        "Rephrase each question {n} times so that a reader asks for the same fact in "
        "different words: vary the wording, word order and question form. Every rephrasing "
        "must still stand alone (name who, what, when), keep the meaning exactly, and be in "
        "the same language as the original. Reply with JSON only: "
        '{{"paraphrases": [{{"index": 0, "questions": ["...", "..."]}}]}}'
    )

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ConfigurationError(f"the number of paraphrases must be at least 1, got {n}")
        self.n = n

    def estimate(self, *, chunk_tokens: int, pair_tokens: int) -> CallEstimate:
        """The questions (half the pairs' tokens) plus ~150 in; N times that out."""
        questions = pair_tokens // 2
        return CallEstimate(1, questions + 150, self.n * questions)

    def build_messages(self, records: Sequence[QARecord]) -> list[BaseMessage]:
        return [
            SystemMessage(content=self.instructions.format(n=self.n)),
            HumanMessage(content="Questions:\n" + _numbered(records, answers=False)),
        ]

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        records = ctx.records
        originals = [r for r in records if r.origin == "generated"]
        if not originals:
            return
        reply = await ctx.ask(self.name, self.build_messages(originals), Paraphrases)
        seen = {normalize(r.question) for r in records}
        for item in reply.paraphrases:
            if not 0 <= item.index < len(originals):
                continue
            source = originals[item.index]
            for question in item.questions[: self.n]:
                key = normalize(question)
                if key and key not in seen:
                    seen.add(key)
                    ctx.add(_variant(source, question.strip(), source.answer, "paraphrase"))


class Translation(BaseModel):
    index: int
    question: str
    answer: str


class Translations(BaseModel):
    translations: list[Translation]


class Translator(Check):
    """Add every pair translated into each of ``languages`` (ISO codes), except into
    the chunk's own language (``plan`` counts those calls all the same: an upper bound)."""

    name = "translate"
    instructions: ClassVar[str] = (
        "Translate each question-answer pair into {language}. Keep names, numbers and "
        "meaning exactly; the question must still stand alone. Reply with JSON only: "
        '{{"translations": [{{"index": 0, "question": "...", "answer": "..."}}]}}'
    )

    def __init__(self, languages: str | Sequence[str]) -> None:
        self.languages = language_codes(languages, "languages")
        if not self.languages:
            raise ConfigurationError("give at least one language code, e.g. ['ja', 'en']")

    def estimate(self, *, chunk_tokens: int, pair_tokens: int) -> CallEstimate:
        """Per language: the pairs plus ~100 in, as many tokens out."""
        n = len(self.languages)
        return CallEstimate(n, n * (pair_tokens + 100), n * pair_tokens)

    def build_messages(self, language: str, records: Sequence[QARecord]) -> list[BaseMessage]:
        name = LANGUAGE_NAMES.get(language, language)
        return [
            SystemMessage(content=self.instructions.format(language=name)),
            HumanMessage(content="Pairs:\n" + _numbered(records)),
        ]

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        originals = [r for r in ctx.records if r.origin == "generated"]
        if not originals:
            return
        own = detect_language(ctx.chunk.text)  # cached: the language check asked it too
        failed: Exception | None = None
        for language in self.languages:  # one language failing leaves the others
            if same_language_code(language, own):
                continue  # the pairs are in it already: a copy would be a paid duplicate
            messages = self.build_messages(language, originals)
            try:
                reply = await ctx.ask(self.name, messages, Translations)
            except (CallFailed, ParseError) as exc:
                failed = failed or exc
                continue
            for item in reply.translations:
                question, answer = item.question.strip(), item.answer.strip()
                if 0 <= item.index < len(originals) and question and answer:
                    source = originals[item.index]
                    variant = _variant(source, question, answer, f"translation:{language}")
                    ctx.add(replace(variant, annotations={"language": language}))
        if failed is not None:  # counted as the step's error; the other languages stay
            raise failed


class AnswerParaphraser(Check):
    """Add ``n`` rewordings of every answer, each with the original question.

    One call per chunk for the generated pairs; the rewordings go through the
    earlier model-free checks (grounding included), so a reworded answer that
    loses a number or a name is dropped. Origin ``answer_paraphrase``;
    ``derived_from`` is the question (which the variant repeats).
    """

    name = "answer_paraphrase"
    instructions: ClassVar[str] = (
        "Reword each answer {n} times so that the same fact is stated in different words: "
        "vary the wording, word order and sentence form. Every rewording must answer the "
        "question fully, keep every name, number and date exactly, add nothing the "
        "original does not say, and be in the same language as the original. Reply with "
        'JSON only: {{"paraphrases": [{{"index": 0, "answers": ["...", "..."]}}]}}'
    )

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ConfigurationError(
                f"the number of answer paraphrases must be at least 1, got {n}"
            )
        self.n = n

    def estimate(self, *, chunk_tokens: int, pair_tokens: int) -> CallEstimate:
        """The pairs plus ~150 in; N times the answers (half the pairs' tokens) out."""
        return CallEstimate(1, pair_tokens + 150, self.n * (pair_tokens // 2))

    def build_messages(self, records: Sequence[QARecord]) -> list[BaseMessage]:
        return [
            SystemMessage(content=self.instructions.format(n=self.n)),
            HumanMessage(content="Pairs:\n" + _numbered(records)),
        ]

    async def acheck_chunk(self, ctx: ChunkContext) -> None:
        originals = [r for r in ctx.records if r.origin == "generated"]
        if not originals:
            return
        reply = await ctx.ask(self.name, self.build_messages(originals), _AnswerReply)
        for item in reply.paraphrases:
            if not 0 <= item.index < len(originals):
                continue
            source = originals[item.index]
            seen = {normalize(source.answer)}
            for answer in item.answers[: self.n]:
                key = normalize(answer)
                if key and key not in seen:
                    seen.add(key)
                    variant = _variant(source, source.question, answer.strip(), self.name)
                    ctx.add(variant)


class _AnswerVariants(BaseModel):
    index: int
    answers: list[str]


class _AnswerReply(BaseModel):
    paraphrases: list[_AnswerVariants]
