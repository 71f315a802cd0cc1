"""Script-level language detection."""

from __future__ import annotations

import pytest

from qasynth._quality import detect_language, is_cjk, is_unspaced, same_language


def test_japanese_question_with_latin_words_and_digits_is_japanese() -> None:
    assert detect_language("FIFAワールドカップ2023で優勝したのは？") == "ja"


def test_han_without_kana_is_chinese_and_with_kana_is_japanese() -> None:
    assert detect_language("中国的首都是哪里？") == "zh"
    assert detect_language("東京都の人口は？") == "ja"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("서울은 한국의 수도입니다", "ko"),
        ("Кто выиграл чемпионат мира?", "ru"),
        ("من فاز بكأس العالم؟", "ar"),
        ("ใครชนะฟุตบอลโลก", "th"),
        ("מי ניצח במונדיאל?", "he"),
        ("Ποιος κέρδισε το Μουντιάλ;", "el"),
        ("विश्व कप किसने जीता?", "hi"),
        ("Who won the World Cup?", "en"),
    ],
)
def test_each_script_maps_to_its_language(text: str, code: str) -> None:
    assert detect_language(text) == code


def test_full_width_latin_is_latin() -> None:
    assert detect_language("Ｗｈｏ ｗｏｎ ｔｈｅ ｆｉｎａｌ？") == "en"


def test_text_without_letters_is_undetermined() -> None:
    assert detect_language("2023 - 12,000 !!") == "und"
    assert detect_language("") == "und"


def test_an_english_sentence_quoting_one_japanese_word_stays_english() -> None:
    assert detect_language("What does the Japanese word 寿司 mean in English?") == "en"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Qui a gagné la Coupe du monde en 2018 ?", "fr"),
        ("Wer hat die Weltmeisterschaft 2014 gewonnen?", "de"),
        ("¿Quién ganó la Copa Mundial Femenina de la FIFA en 2023?", "es"),
        ("Who is the author of Les Misérables?", "en"),
        ("Who won the Tour de France in 2019?", "en"),
    ],
)
def test_function_words_tell_latin_languages_apart_only_when_clear(text: str, code: str) -> None:
    assert detect_language(text) == code


def test_same_language_compares_detected_codes_and_lets_numbers_match_anything() -> None:
    assert same_language("日本の首都は？", "東京です。")
    assert not same_language("日本の首都は？", "Tokyo is the capital.")
    assert same_language("2023年に何人？", "12,000")


def test_cjk_and_unspaced_codes() -> None:
    assert [is_cjk(code) for code in ("ja", "zh", "ko", "th", "en")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert [is_unspaced(code) for code in ("ja", "zh", "ko", "th", "en")] == [
        True,
        True,
        False,
        True,
        False,
    ]
