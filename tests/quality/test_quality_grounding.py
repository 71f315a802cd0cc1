"""Lexical grounding of answers in their chunk."""

from __future__ import annotations

from qasynth._quality import Grounding, grounding_score

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
