"""Chunk steps that call the model again: an LLM judge and augmenters.

A :class:`ChunkStep` runs after a chunk's pairs were generated and validated.
It gets the chunk, its kept records and a :class:`StepContext` (to ask the
model for a Pydantic schema on the same parse-and-repair path, and to reject
records with a reason), and returns the records to keep — possibly with new
ones added. Steps are composable: pass a list as ``Synthesizer(steps=...)``,
in the order they should run; subclass one to change its prompt.

- :class:`LLMJudge` rates every pair 1-5 for standing alone, correctness
  against the chunk and usefulness, in one call per chunk.
- :class:`Paraphraser` adds N rephrasings of each question with the same answer,
  in one call per chunk (the fix for models that only learn one phrasing).
- :class:`Translator` adds each pair in other languages, one call per language.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, TypeVar

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from ._schema import Chunk, QARecord
from ._validation import normalize_for_comparison

__all__ = [
    "ChunkStep",
    "JudgeRating",
    "JudgeRatings",
    "LLMJudge",
    "Paraphraser",
    "StepContext",
    "Translator",
]

M = TypeVar("M", bound=BaseModel)

LANGUAGE_NAMES = {
    "en": "English",
    "ja": "Japanese",
    "zh": "Chinese",
    "ko": "Korean",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "pt": "Portuguese",
    "it": "Italian",
    "ru": "Russian",
}


@dataclass
class StepContext:
    """What a step may use: ask the model, and reject records with a reason."""

    ask: Callable[[str, Sequence[BaseMessage], type[BaseModel]], Awaitable[BaseModel]]
    reject: Callable[[QARecord, str, str], None]

    async def ask_for(self, kind: str, messages: Sequence[BaseMessage], schema: type[M]) -> M:
        """Call the model (counted under ``kind``) and parse the reply into ``schema``."""
        value = await self.ask(kind, messages, schema)
        if not isinstance(value, schema):
            raise TypeError(f"expected {schema.__name__}, got {type(value).__name__}")
        return value


class ChunkStep:
    """A step over one chunk's kept records; may call the model."""

    name: ClassVar[str] = "step"

    async def arun(self, chunk: Chunk, records: list[QARecord], ctx: StepContext) -> list[QARecord]:
        raise NotImplementedError


def _numbered(records: Sequence[QARecord], *, answers: bool = True) -> str:
    items = [
        {"index": i, "question": r.question, **({"answer": r.answer} if answers else {})}
        for i, r in enumerate(records)
    ]
    return json.dumps(items, ensure_ascii=False, indent=1)


# -- judge ---------------------------------------------------------------------


class JudgeRating(BaseModel):
    index: int = Field(description="The index of the pair being rated.")
    standalone: int = Field(ge=1, le=5, description="1-5: the question makes sense alone.")
    correct: int = Field(ge=1, le=5, description="1-5: the answer is right per the text.")
    useful: int = Field(ge=1, le=5, description="1-5: worth learning for the theme.")
    reason: str = Field(default="", description="One short sentence explaining the scores.")


class JudgeRatings(BaseModel):
    ratings: list[JudgeRating]


class LLMJudge(ChunkStep):
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

    def __init__(self, *, threshold: int = 3) -> None:
        if not 1 <= threshold <= 5:
            raise ValueError(f"judge threshold must be between 1 and 5, got {threshold}")
        self.threshold = threshold

    def build_messages(self, chunk: Chunk, records: Sequence[QARecord]) -> list[BaseMessage]:
        user = f"Theme: {chunk.theme or '(not given)'}\n\nText:\n{chunk.text}\n\nPairs:\n"
        return [
            SystemMessage(content=self.instructions),
            HumanMessage(content=user + _numbered(records)),
        ]

    async def arun(self, chunk: Chunk, records: list[QARecord], ctx: StepContext) -> list[QARecord]:
        if not records:
            return records
        ratings = await ctx.ask_for("judge", self.build_messages(chunk, records), JudgeRatings)
        by_index = {r.index: r for r in ratings.ratings}
        kept: list[QARecord] = []
        for index, record in enumerate(records):
            rating = by_index.get(index)
            if rating is None:
                kept.append(record)  # unrated: keep rather than lose a paid pair
                continue
            scores = {"standalone": rating.standalone, "correct": rating.correct,
                      "useful": rating.useful}  # fmt: skip
            record.meta["judge"] = {**scores, "reason": rating.reason}
            low = [name for name, score in scores.items() if score < self.threshold]
            if low:
                ctx.reject(record, f"judge_low_{low[0]}", rating.reason)
            else:
                kept.append(record)
        return kept


# -- augmenters ----------------------------------------------------------------


class Paraphrase(BaseModel):
    index: int
    questions: list[str]


class Paraphrases(BaseModel):
    paraphrases: list[Paraphrase]


class Paraphraser(ChunkStep):
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
            raise ValueError(f"the number of paraphrases must be at least 1, got {n}")
        self.n = n

    def build_messages(self, records: Sequence[QARecord]) -> list[BaseMessage]:
        return [
            SystemMessage(content=self.instructions.format(n=self.n)),
            HumanMessage(content="Questions:\n" + _numbered(records, answers=False)),
        ]

    async def arun(self, chunk: Chunk, records: list[QARecord], ctx: StepContext) -> list[QARecord]:
        originals = [r for r in records if r.origin == "generated"]
        if not originals:
            return records
        reply = await ctx.ask_for("paraphrase", self.build_messages(originals), Paraphrases)
        seen = {normalize_for_comparison(r.question) for r in records}
        added: list[QARecord] = []
        for item in reply.paraphrases:
            if not 0 <= item.index < len(originals):
                continue
            source = originals[item.index]
            for question in item.questions[: self.n]:
                key = normalize_for_comparison(question)
                if key and key not in seen:
                    seen.add(key)
                    added.append(_variant(source, question.strip(), source.answer, "paraphrase"))
        return records + added


class Translation(BaseModel):
    index: int
    question: str
    answer: str


class Translations(BaseModel):
    translations: list[Translation]


class Translator(ChunkStep):
    """Add every pair translated into each of ``languages`` (ISO codes)."""

    name = "translate"
    instructions: ClassVar[str] = (
        "Translate each question-answer pair into {language}. Keep names, numbers and "
        "meaning exactly; the question must still stand alone. Reply with JSON only: "
        '{{"translations": [{{"index": 0, "question": "...", "answer": "..."}}]}}'
    )

    def __init__(self, languages: Sequence[str]) -> None:
        self.languages = [code.strip().lower() for code in languages if code.strip()]
        if not self.languages:
            raise ValueError("give at least one language code, e.g. ['ja', 'en']")

    def build_messages(self, language: str, records: Sequence[QARecord]) -> list[BaseMessage]:
        name = LANGUAGE_NAMES.get(language, language)
        return [
            SystemMessage(content=self.instructions.format(language=name)),
            HumanMessage(content="Pairs:\n" + _numbered(records)),
        ]

    async def arun(self, chunk: Chunk, records: list[QARecord], ctx: StepContext) -> list[QARecord]:
        originals = [r for r in records if r.origin == "generated"]
        added: list[QARecord] = []
        for language in self.languages:
            if not originals:
                break
            messages = self.build_messages(language, originals)
            reply = await ctx.ask_for("translate", messages, Translations)
            for item in reply.translations:
                if (
                    0 <= item.index < len(originals)
                    and item.question.strip()
                    and item.answer.strip()
                ):
                    source = originals[item.index]
                    variant = _variant(source, item.question.strip(), item.answer.strip(),
                                       f"translation:{language}")  # fmt: skip
                    variant.meta["language"] = language
                    added.append(variant)
        return records + added


def _variant(source: QARecord, question: str, answer: str, origin: str) -> QARecord:
    return replace(
        source, question=question, answer=answer, origin=origin,
        derived_from=source.question, meta={},
    )  # fmt: skip
