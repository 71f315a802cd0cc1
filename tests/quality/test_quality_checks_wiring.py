"""The pipeline's chunk checks call the heuristics the way a run does."""

from __future__ import annotations

import asyncio

from qasynth import Chunk, QARecord
from qasynth.checks import Check, ChunkContext, GroundingCheck, LanguageCheck

TEXT = (
    "The 2023 FIFA Women's World Cup final was played in Sydney. Spain beat England 1-0, "
    "with Olga Carmona scoring the only goal."
)
DUTCH = "De finale van het WK voor vrouwen in 2023 werd in Sydney gespeeld. Spanje won met 1-0."


async def _never(*args: object) -> object:
    raise AssertionError("a model-free check called the model")


def verdict(check: Check, question: str, answer: str, text: str) -> str | None:
    """The rejection reason ``check`` gives one pair of ``text`` (None: kept)."""
    chunk = Chunk(text=text, theme="t", source="s.txt", index=0, id="c0")
    ctx = ChunkContext(chunk, [QARecord.of(chunk, question, answer)], ask=_never, ask_pairs=_never)  # type: ignore[arg-type]
    asyncio.run(check.acheck_chunk(ctx))
    return ctx.rejections[0].reason if ctx.rejections else None


def test_grounding_check_rejects_the_loser_given_as_winner() -> None:
    question = "Who won the 2023 FIFA Women's World Cup final?"
    assert verdict(GroundingCheck(), question, "Spain won, 1-0.", TEXT) is None
    assert verdict(GroundingCheck(), question, "England.", TEXT) == "answer_contradicts_text"


def test_language_check_keeps_a_dutch_pair_from_a_dutch_chunk() -> None:
    question, answer = "Wie won de finale van het WK in 2023?", "Spanje won met 1-0."
    assert verdict(LanguageCheck(), question, answer, DUTCH) is None
    assert verdict(LanguageCheck(target="nl"), question, answer, DUTCH) is None
    english = ("Who won the 2023 final?", "Spain won the final.")
    assert verdict(LanguageCheck(), *english, DUTCH) == "wrong_language"
