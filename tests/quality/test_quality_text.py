"""Shared text helpers: normalisation, tokens, numbers and names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qasynth._quality import (
    char_ngrams,
    extract_names,
    extract_numbers,
    normalize,
    normalize_numbers,
    strip_punctuation,
    word_tokens,
)


def test_normalize_folds_width_case_and_whitespace() -> None:
    assert normalize("  ＦＩＦＡ　Women's\tWORLD   Cup\n") == "fifa women's world cup"


@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    assert normalize(normalize(text)) == normalize(text)


def test_strip_punctuation_keeps_letters_digits_and_combining_marks() -> None:
    assert (
        strip_punctuation("Hello, world!! (2023) 「テスト」です。")
        == "Hello world 2023 テスト です"
    )
    assert strip_punctuation("हिन्दी?") == "हिन्दी"


def test_word_tokens_gives_words_and_canonical_numbers_for_english() -> None:
    assert word_tokens("Spain beat England 1-0 before 75,784 FANS.") == [
        "spain",
        "beat",
        "england",
        "1",
        "0",
        "before",
        "75784",
        "fans",
    ]


def test_word_tokens_gives_bigrams_for_japanese_and_keeps_latin_words_whole() -> None:
    assert word_tokens("FIFA女子ワールドカップで優勝") == [
        "fifa",
        "女子",
        "子ワ",
        "ワー",
        "ール",
        "ルド",
        "ドカ",
        "カッ",
        "ップ",
        "プで",
        "で優",
        "優勝",
    ]


def test_word_tokens_reads_full_width_digits_and_separators() -> None:
    assert word_tokens("観客は１２，０００人") == word_tokens("観客は12000人")
    assert "12000" in word_tokens("観客は１２，０００人")


def test_word_tokens_split_a_number_from_its_latin_unit_in_japanese_text() -> None:
    # "16gb" is one run of Latin letters and digits: number and unit; "2日" is not a run
    assert word_tokens("メモリは16GBで2日間", lang="ja") == [
        "メモ", "モリ", "リは", "16", "gb", "で", "2", "日間",
    ]  # fmt: skip


def test_word_tokens_language_decides_whether_unspaced_runs_are_split() -> None:
    assert word_tokens("天ぷら is food", lang="en") == ["天ぷら", "is", "food"]
    assert word_tokens("天ぷら is food", lang="ja") == ["天ぷ", "ぷら", "is", "food"]


def test_char_ngrams_overlap_and_a_short_text_is_one_ngram() -> None:
    assert char_ngrams("abcd", 3) == ["abc", "bcd"]
    assert char_ngrams("ab", 3) == ["ab"]
    assert char_ngrams("", 3) == []
    with pytest.raises(ValueError, match="n must be at least 1"):
        char_ngrams("abc", 0)


def test_numbers_match_across_full_width_digits_and_thousands_separators() -> None:
    assert extract_numbers("１２,０００人") == extract_numbers("12000 people") == {"12000"}
    assert extract_numbers("12,000") == {"12000"}


def test_numbers_with_japanese_units_are_expanded() -> None:
    assert extract_numbers("観客は1万2000人") == {"12000"}
    assert extract_numbers("予算は1億2000万円") == {"120000000"}
    assert extract_numbers("1.5万人") == {"15000"}


def test_numbers_keep_decimals_and_separate_lists() -> None:
    assert extract_numbers("3.50 dollars in 2023,2024") == {"3.5", "2023", "2024"}
    assert normalize_numbers("１２,０００人と1万2000人") == "12000人と12000人"


def test_latin_names_are_capitalised_runs_not_at_sentence_start() -> None:
    text = (
        "Which team won the 2023 FIFA Women's World Cup final? Messi joined Inter Miami. "
        "She studied at the University of Tokyo and visited Spain's capital. Can I ask?"
    )
    assert extract_names(text) == {
        "FIFA Women's World Cup",
        "Inter Miami",
        "University of Tokyo",
        "Spain",
    }


def test_cjk_names_are_katakana_runs_of_three_or_more_and_latin_words() -> None:
    text = "2023年のFIFA女子ワールドカップでリオネル・メッシとReal Madridが180cmのドル箱と対戦"
    assert extract_names(text) == {"FIFA", "ワールドカップ", "リオネル・メッシ", "Real Madrid"}


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Twelve boats and twenty-one crew", {"12", "21"}),
        ("one hundred and five runners", {"105"}),
        ("2.5 million people", {"2500000"}),
        ("a dozen eggs", {"12"}),
        ("one of the founders", set()),
        ("三十五人と二〇二三年", {"35", "2023"}),
        ("十分に時間がある", set()),
    ],
)
def test_number_words_and_kanji_numerals_are_numbers(text: str, numbers: set[str]) -> None:
    assert extract_numbers(text) == numbers


def test_units_after_numbers_are_not_names_and_possessives_are_dropped() -> None:
    text = "The laptop has 8 GB of memory and Acme Systems' warranty covers it."
    assert extract_names(text) == {"Acme Systems"}
    assert word_tokens("8GB") == ["8", "gb"]


def test_kanji_names_before_a_title_are_names() -> None:
    assert extract_names("決勝では山田太郎選手が2得点を挙げた。") == {"山田太郎"}


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("rund 150 Millionen Fahrgäste", "rund 150 Millionen Fahrgäste"),
        ("150 millions de voyageurs", "150 millions de voyageurs"),
        ("2.5 million people", "2500000 people"),
    ],
)
def test_a_scale_word_counts_only_as_a_whole_word(text: str, normalized: str) -> None:
    assert normalize_numbers(text) == normalized
