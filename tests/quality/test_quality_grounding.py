"""Lexical grounding of answers in their chunk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qasynth._quality import ChunkAnalysis, Grounding, analyze_chunk, grounding_score

LABELLED = Path(__file__).with_name("grounding_labelled.json")
KINDS = ("correct", "reworded", "swapped", "wrong_number")

CHUNK_EN = (
    "The 2023 FIFA Women's World Cup final was played in Sydney on 20 August 2023. "
    "Spain beat England 1-0, with Olga Carmona scoring the only goal in front of "
    "75,784 spectators."
)
CHUNK_JA = (
    "2023年のFIFA女子ワールドカップ決勝は8月20日にシドニーで行われ、"
    "スペインがイングランドを1対0で破った。観客は７５,７８４人だった。"
)


def test_an_answer_taken_from_the_chunk_is_supported() -> None:
    result = grounding_score("Olga Carmona scored the only goal for Spain.", CHUNK_EN)
    assert result.score >= 0.8
    assert result.supported()


def test_a_wrong_number_is_reported_and_makes_the_answer_unsupported() -> None:
    result = grounding_score("Spain beat England 2-0 in Sydney.", CHUNK_EN)
    assert result.missing_numbers == ("2",)
    assert not result.supported()


def test_a_name_the_chunk_never_mentions_is_reported() -> None:
    result = grounding_score("The goal was scored by Alexia Putellas.", CHUNK_EN)
    assert result.missing_names == ("Alexia Putellas",)
    assert not result.supported()


def test_an_answer_about_something_else_scores_low() -> None:
    result = grounding_score("Germany won the final on penalties.", CHUNK_EN)
    assert result.score < 0.5
    assert not result.supported()


def test_numbers_match_whatever_their_separators_or_width() -> None:
    assert grounding_score("75784 spectators watched.", CHUNK_EN).missing_numbers == ()
    assert grounding_score("観客は75,784人でした。", CHUNK_JA).missing_numbers == ()
    assert grounding_score("観客は１２，０００人", "観客は12000人だった").missing_numbers == ()
    assert grounding_score("Around 1万2000人.", "About 12,000 people came.").missing_numbers == ()


def test_a_japanese_answer_is_compared_by_bigrams_without_particles() -> None:
    result = grounding_score("決勝はシドニーで行われました。", CHUNK_JA)
    assert result.score >= 0.8
    assert result.supported()


def test_a_japanese_answer_with_a_wrong_number_or_name_is_unsupported() -> None:
    wrong_number = grounding_score("観客は8万人でした。", CHUNK_JA)
    assert wrong_number.missing_numbers == ("80000",)
    wrong_name = grounding_score("ドイツが優勝しました。", CHUNK_JA)
    assert wrong_name.missing_names == ("ドイツ",)
    assert not wrong_number.supported() and not wrong_name.supported()


def test_names_match_when_all_their_words_appear() -> None:
    result = grounding_score("It was Carmona Olga's goal.", CHUNK_EN)
    assert result.missing_names == ()


def test_an_answer_without_content_words_has_nothing_to_check() -> None:
    assert grounding_score("Yes, it was them.", CHUNK_EN) == Grounding(score=1.0)
    assert grounding_score("はい、そうです。", CHUNK_JA) == Grounding(score=1.0)


def test_supported_threshold_is_adjustable() -> None:
    result = Grounding(score=0.6)
    assert result.supported() and not result.supported(threshold=0.7)
    assert not Grounding(score=1.0, missing_names=("Spain",)).supported()


CHUNK_FOCUS = (
    "The 2023 FIFA Women's World Cup final was played in Sydney. Spain beat England 1-0, "
    "with Olga Carmona scoring the only goal. In the semi-finals, England had beaten "
    "Australia 3-1 and Spain edged Sweden 2-1. Hinata Miyazawa of Japan won the Golden Boot "
    "with five goals. Alcaraz was 20 years old at the time; Djokovic was 36."
)


def test_a_name_from_another_part_of_the_chunk_does_not_support_the_answer() -> None:
    question = "Who won the Golden Boot at the 2023 FIFA Women's World Cup?"
    assert grounding_score("Hinata Miyazawa.", CHUNK_FOCUS, question=question).supported()
    wrong = grounding_score("Sweden's player.", CHUNK_FOCUS, question=question)
    assert wrong.missing_names == ("Sweden",)
    assert grounding_score("Sweden's player.", CHUNK_FOCUS).missing_names == ()  # no question


def test_a_number_the_text_gives_to_something_else_is_reported() -> None:
    question = "How old was Carlos Alcaraz in 2023?"
    assert grounding_score("Twenty years old.", CHUNK_FOCUS, question=question).supported()
    assert grounding_score("36 years old.", CHUNK_FOCUS, question=question).missing_numbers
    goals = "How many goals did Hinata Miyazawa score at the 2023 Women's World Cup?"
    assert grounding_score("She scored 3 goals.", CHUNK_FOCUS, question=goals).missing_numbers


def test_winner_and_loser_swapped_are_reported() -> None:
    final = "Who won the 2023 FIFA Women's World Cup final?"
    assert grounding_score("Spain.", CHUNK_FOCUS, question=final).supported()
    assert grounding_score("England.", CHUNK_FOCUS, question=final).wrong_roles == ("England",)
    swapped = grounding_score("England beat Spain 1-0.", CHUNK_FOCUS, question=final)
    assert swapped.wrong_roles == ("England",)
    assert not swapped.supported()
    semi = "Which team did England beat in the semi-finals of the 2023 Women's World Cup?"
    assert grounding_score("Australia.", CHUNK_FOCUS, question=semi).supported()
    assert grounding_score("Sweden.", CHUNK_FOCUS, question=semi).wrong_roles == ("Sweden",)


def test_a_scoreline_of_another_match_is_reported() -> None:
    final = "Who won the 2023 FIFA Women's World Cup final?"
    assert grounding_score("Spain, 1-0.", CHUNK_FOCUS, question=final).supported()
    assert grounding_score("Spain, 2-1.", CHUNK_FOCUS, question=final).missing_numbers


def test_japanese_winner_and_loser_swapped_are_reported() -> None:
    question = "2023年のFIFA女子ワールドカップ決勝で優勝したのはどこですか？"
    assert grounding_score("スペインです。", CHUNK_JA, question=question).supported()
    assert grounding_score("イングランドです。", CHUNK_JA, question=question).wrong_roles


@pytest.mark.parametrize(
    ("answer", "chunk"),
    [
        ("12 boats took part.", "Twelve boats started the race."),
        ("Twelve boats.", "A field of 12 boats started the race."),
        ("It has 8GB of memory.", "The laptop ships with 8 GB of memory."),
        ("1000 users.", "The service has 1,000 users."),
        ("Acme Systems' laptop.", "The laptop is made by Acme Systems."),
        ("Six of them.", "Twelve boats retired; half of them had broken rudders."),
        ("About 51%.", "Turnout was 50.9% of voters."),
        ("十二人です。", "参加者は12人だった。"),
        ("１６ＧＢです。", "メモリは16GBである。"),
    ],
)
def test_numbers_units_possessives_and_derived_figures_are_normalised(
    answer: str, chunk: str
) -> None:
    result = grounding_score(answer, chunk)
    assert result.supported(), result


def test_a_kanji_name_the_chunk_lacks_is_reported() -> None:
    chunk = "2023年の大会で大谷翔平選手が最優秀選手に選ばれた。"
    assert grounding_score("大谷翔平", chunk).missing_names == ()
    assert grounding_score("鈴木一朗", chunk).missing_names == ("鈴木一朗",)
    assert grounding_score("山田太郎選手です。", chunk).missing_names == ("山田太郎",)


def test_a_chunk_analysed_once_gives_the_same_result_as_its_text() -> None:
    analysis = ChunkAnalysis.of(CHUNK_FOCUS)
    assert analyze_chunk(CHUNK_FOCUS) is analyze_chunk(CHUNK_FOCUS)
    for item in _labelled():
        chunk, shared = item["chunk"], ChunkAnalysis.of(item["chunk"])
        for pair in item["pairs"]:
            for kind in KINDS:
                if kind in pair:
                    expected = grounding_score(pair[kind], chunk, question=pair["question"])
                    assert (
                        grounding_score(pair[kind], shared, question=pair["question"]) == expected
                    )
    assert analysis.focus("Who won the Golden Boot?")[0].text.startswith("In the semi-finals")


def test_on_the_labelled_set_correct_answers_pass_and_wrong_ones_are_caught() -> None:
    outcomes: dict[str, list[bool]] = {kind: [] for kind in KINDS}
    for item in _labelled():
        for pair in item["pairs"]:
            for kind in KINDS:
                if kind in pair:
                    result = grounding_score(pair[kind], item["chunk"], question=pair["question"])
                    outcomes[kind].append(not result.supported())
    good = outcomes["correct"] + outcomes["reworded"]
    bad = outcomes["swapped"] + outcomes["wrong_number"]
    assert len(good) >= 120 and len(bad) >= 70
    assert sum(good) / len(good) <= 0.03
    assert sum(bad) / len(bad) >= 0.7


def _labelled() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(LABELLED.read_text(encoding="utf-8"))["items"]
    return items


def test_a_number_of_a_sibling_product_does_not_support_the_answer() -> None:
    chunk = (
        "The Acme X200 laptop ships with 16 GB of memory; the cheaper X100 has 8 GB. "
        "The warranty is two years for the X200 and one year for the X100."
    )
    question = "How much memory does the Acme X200 laptop have?"
    assert grounding_score("16 GB.", chunk, question=question).supported()
    assert grounding_score("8 GB.", chunk, question=question).missing_numbers == ("8",)
    bridge = (
        "The Northgate Bridge is 1,240 metres long and carries four lanes. "
        "The older Southgate Bridge is 800 metres long and carries two lanes."
    )
    lanes = "How many lanes does the Northgate Bridge carry?"
    assert grounding_score("Four lanes.", bridge, question=lanes).supported()
    assert grounding_score("Two lanes.", bridge, question=lanes).missing_numbers == ("2",)


BAHN = (
    "Die Deutsche Bahn AG entstand 1994. Der ICE erreicht auf der Schnellfahrstrecke eine "
    "Höchstgeschwindigkeit von 300 km/h. Im Fernverkehr reisen jedes Jahr rund 150 Millionen "
    "Fahrgäste."
)


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Welche Höchstgeschwindigkeit erreicht der ICE?", "Bis zu 300 km/h."),
        ("Wie viele Fahrgäste reisen im Fernverkehr?", "Rund 150 Millionen Fahrgäste."),
        ("Wie viele Fahrgäste reisen im Fernverkehr?", "Etwa 150 Millionen."),
    ],
)
def test_a_german_answer_opening_with_an_ordinary_word_is_grounded(
    question: str, answer: str
) -> None:
    """The list of ordinary words is English: "Bis" and "Etwa" are no names, and
    "Millionen" is not "million" followed by "en"."""
    found = grounding_score(answer, BAHN, question=question)

    assert found.missing_names == () and found.missing_numbers == ()


def test_a_one_word_answer_naming_what_the_text_does_not_is_still_caught_in_german() -> None:
    found = grounding_score("Österreich.", BAHN, question="Wo entstand die Deutsche Bahn AG?")

    assert found.missing_names == ("Österreich",)
