"""The pipeline's pair checks call the heuristics the way a run does."""

from __future__ import annotations

from qasynth._filters import GroundingCheck, LanguageCheck
from qasynth._schema import Chunk, QARecord

TEXT = (
    "The 2023 FIFA Women's World Cup final was played in Sydney. Spain beat England 1-0, "
    "with Olga Carmona scoring the only goal."
)
DUTCH = "De finale van het WK voor vrouwen in 2023 werd in Sydney gespeeld. Spanje won met 1-0."


def _pair(question: str, answer: str, text: str) -> tuple[QARecord, Chunk]:
    chunk = Chunk(text=text, theme="t", source="s.txt", index=0, id="c0")
    record = QARecord(
        question=question,
        answer=answer,
        theme="t",
        source="s.txt",
        chunk_id="c0",
        chunk_index=0,
    )
    return record, chunk


def test_grounding_check_rejects_the_loser_given_as_winner() -> None:
    check = GroundingCheck()
    question = "Who won the 2023 FIFA Women's World Cup final?"
    assert check.check(*_pair(question, "Spain won, 1-0.", TEXT)) is None
    assert check.check(*_pair(question, "England.", TEXT)) == "answer_contradicts_text"


def test_language_check_keeps_a_dutch_pair_from_a_dutch_chunk() -> None:
    record, chunk = _pair("Wie won de finale van het WK in 2023?", "Spanje won met 1-0.", DUTCH)
    assert LanguageCheck().check(record, chunk) is None
    assert LanguageCheck(target="nl").check(record, chunk) is None
    english, _ = _pair("Who won the 2023 final?", "Spain won the final.", DUTCH)
    assert LanguageCheck().check(english, chunk) == "wrong_language"
