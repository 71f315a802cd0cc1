"""Questions that lean on context they do not contain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qasynth._errors import InputError
from qasynth._quality import (
    StandaloneIssue,
    StandaloneRule,
    StandaloneRules,
    check_standalone,
    load_rules,
)

LABELLED = Path(__file__).with_name("standalone_labelled.json")


def _rules_hit(question: str) -> set[str]:
    return {issue.rule for issue in check_standalone(question)}


def _labelled(lang: str) -> list[tuple[str, bool]]:
    items = json.loads(LABELLED.read_text(encoding="utf-8"))["items"]
    return [(item["question"], not item["standalone"]) for item in items if item["lang"] == lang]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_labelled_set_has_at_least_150_questions_about_half_of_them_bad(lang: str) -> None:
    labelled = _labelled(lang)
    bad = sum(is_bad for _, is_bad in labelled)
    assert len(labelled) >= 150
    assert 0.4 <= bad / len(labelled) <= 0.6


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_flagging_finds_85_percent_of_bad_questions_and_at_most_5_percent_of_good(
    lang: str,
) -> None:
    outcomes = [(bool(check_standalone(q)), is_bad) for q, is_bad in _labelled(lang)]
    caught = sum(flagged for flagged, is_bad in outcomes if is_bad)
    false_alarms = sum(flagged for flagged, is_bad in outcomes if not is_bad)
    bad = sum(is_bad for _, is_bad in outcomes)
    recall, flagged_good = caught / bad, false_alarms / (len(outcomes) - bad)
    assert (recall >= 0.85, flagged_good <= 0.05) == (True, True), (recall, flagged_good)


@pytest.mark.parametrize(
    "question",
    [
        "Who won the men's pair?",
        "What does the new flag do?",
        "Where is the settings file stored?",
        "How many hosts are listed in the inventory?",
        "What changed in version 2.1?",
        "How many teams entered?",
        "Who won the top prize?",
        "What did the CEO say about layoffs?",
        "How many people were evacuated?",
        "What caused the outage on Tuesday?",
    ],
)
def test_english_questions_without_an_anchor_are_flagged(question: str) -> None:
    assert check_standalone(question)


@pytest.mark.parametrize(
    "question",
    [
        "What does the --onto option of git rebase do?",
        "Which settings file does the Foxtail database read at startup?",
        "What changed in version 2.1 of the Foxtail database?",
        "Which club did Cristiano Ronaldo join after he left Manchester United in 2022?",
        "What did Marie Curie discover in 1898, and why was this discovery important?",
        "Who won the final of the 2022 FIFA World Cup in Qatar?",
        "What is the boiling point of ethanol at sea level?",
        "How does the immune system fight viruses?",
        "What is the tallest building in the world?",
        "Which element has the atomic number 79?",
    ],
)
def test_english_questions_with_an_anchor_or_about_a_known_class_pass(question: str) -> None:
    assert check_standalone(question) == []


@pytest.mark.parametrize(
    "question",
    [
        "PKを決めたのは誰ですか？",
        "日本代表の監督は誰ですか？",
        "アップデートで何が変わりましたか？",
        "設定ファイルはどこに保存されていますか？",
        "MVPに選ばれたのは誰ですか？",
        "この道路の制限速度は何キロですか？",
        "避難した人は何人でしたか？",
    ],
)
def test_japanese_questions_without_an_anchor_are_flagged(question: str) -> None:
    assert check_standalone(question)


@pytest.mark.parametrize(
    "question",
    [
        "2022年のFIFAワールドカップ・カタール大会で、この大会の得点王になった選手は誰ですか？",
        "2019年のラグビーワールドカップ日本大会で、同大会の決勝に進んだ2チームはどこですか？",
        "トヨタ自動車が2023年に発表した決算で、同社の営業利益はいくらでしたか？",
        "git rebase --ontoとは何をするオプションですか？",
        "徳川家康が江戸幕府を開いたのは何年ですか？",
        "日本の首都はどこですか？",
    ],
)
def test_japanese_demonstratives_pass_when_the_referent_is_named_first(question: str) -> None:
    assert check_standalone(question) == []


@pytest.mark.parametrize(
    ("question", "rule"),
    [
        ("Who scored in the quarter-final?", "definite_reference"),
        ("According to the text, what year was it founded?", "text_reference"),
        ("When did he retire?", "person_pronoun"),
        ("He moved to which club in 2019?", "leading_pronoun"),
        ("Which team won?", "too_short"),
        ("What did this company announce in its annual report?", "demonstrative_reference"),
        ("How many teams entered?", "missing_anchor"),
        ("What changed in version 2.1?", "version_without_product"),
        ("Who won the league title this season?", "relative_time"),
        ("What is mentioned above about the budget?", "mentioned_above"),
        ("Ｗｈｏ ｓｃｏｒｅｄ ｉｎ ｔｈｅ ｆｉｎａｌ？", "definite_reference"),
    ],
)
def test_english_context_dependent_questions_are_flagged_with_the_rule(
    question: str, rule: str
) -> None:
    assert rule in _rules_hit(question)


@pytest.mark.parametrize(
    ("question", "rule"),
    [
        ("この大会で優勝したのは？", "demonstrative_reference"),
        ("彼はいつ引退しましたか？", "leading_pronoun"),
        ("本文によると、会社が設立されたのは何年ですか？", "text_reference"),
        ("準々決勝で得点したのは誰ですか？", "definite_reference"),
        ("同社の売上高はいくらでしたか？", "demonstrative_reference"),
        ("前回の開催地はどこでしたか？", "relative_time"),
        ("優勝は？", "too_short"),
    ],
)
def test_japanese_context_dependent_questions_are_flagged_with_the_rule(
    question: str, rule: str
) -> None:
    assert rule in _rules_hit(question)


@pytest.mark.parametrize(
    "question",
    [
        "Who scored in the quarter-final of the 2023 FIFA Women's World Cup?",
        "Who won the final of the 1966 World Cup?",
        'Who is the narrator of the novel "Moby-Dick"?',
        "2023年のFIFA女子ワールドカップの準々決勝で得点したのは誰ですか？",
        "「ワンピース」の作者が受賞した賞は何ですか？",
    ],
)
def test_a_question_that_names_its_subject_is_not_a_definite_reference(question: str) -> None:
    assert check_standalone(question) == []


def test_a_pronoun_after_the_name_it_stands_for_is_fine() -> None:
    assert check_standalone("Which club did Lionel Messi join after he left Barcelona?") == []
    assert check_standalone("When did he join Real Madrid?") != []


def test_an_issue_says_what_matched_and_why() -> None:
    [issue] = check_standalone("How many people attended the concert?")
    assert issue == StandaloneIssue("definite_reference", issue.reason, "the concert")
    assert "without saying which one" in issue.reason


def test_a_language_without_rules_gets_only_the_length_rule() -> None:
    assert check_standalone("Кто выиграл этот турнир в прошлом году?") == []
    assert _rules_hit("Кто выиграл?") == {"too_short"}
    assert _rules_hit("谁赢了？") == {"too_short"}


def test_lang_overrides_detection() -> None:
    assert check_standalone("Who scored in the quarter-final?", lang="xx") == []


def test_built_in_rules_are_read_once_and_cover_english_and_japanese() -> None:
    assert load_rules() is load_rules()
    assert load_rules().codes == ["en", "ja"]


def test_with_language_adds_rules_for_a_new_language() -> None:
    rule = StandaloneRule("leading_pronoun", "starts with a pronoun", r"(?i)^(er|sie|es)\b")
    rules = load_rules().with_language("de", rule, min_words=3)
    question = "Er trat wann zurück?"
    assert check_standalone(question, lang="de") == []
    assert [i.rule for i in check_standalone(question, lang="de", rules=rules)] == [
        "leading_pronoun"
    ]
    assert rules.codes == ["de", "en", "ja"]


def test_with_language_replaces_a_rule_of_the_same_name() -> None:
    quiet = StandaloneRule("definite_reference", "off", r"(?!)")
    rules = load_rules().with_language("en", quiet)
    assert check_standalone("How many people attended the concert?", rules=rules) == []
    assert len(rules.for_language("en").rules) == len(load_rules().for_language("en").rules)


def test_a_user_rules_file_merges_over_the_built_in_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    rule = {"name": "sponsor", "reason": "names no sponsor", "pattern": "(?i)the sponsor"}
    path.write_text(json.dumps({"languages": {"en": {"rules": [rule]}}}), encoding="utf-8")
    rules = load_rules().merge(load_rules(path))
    assert _rules_in(rules, "Who was the sponsor of the 2023 FIFA Women's World Cup?") == {
        "sponsor"
    }
    assert "definite_reference" in _rules_in(rules, "Who scored in the quarter-final?")


def _rules_in(rules: StandaloneRules, question: str) -> set[str]:
    return {issue.rule for issue in check_standalone(question, rules=rules)}


def test_an_unreadable_or_malformed_rules_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read standalone rules"):
        load_rules(tmp_path / "missing.json")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read standalone rules"):
        load_rules(bad_json)
    no_languages = tmp_path / "empty.json"
    no_languages.write_text("{}", encoding="utf-8")
    with pytest.raises(InputError, match="follow the layout"):
        load_rules(no_languages)


def test_a_bad_pattern_names_its_rule(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    rule = {"name": "broken", "reason": "r", "pattern": "(unclosed"}
    path.write_text(json.dumps({"languages": {"en": {"rules": [rule]}}}), encoding="utf-8")
    with pytest.raises(InputError, match="rule 'broken': invalid regular expression"):
        load_rules(path)


def test_unless_named_accepts_only_known_modes() -> None:
    with pytest.raises(ValueError, match="unless_named must be"):
        StandaloneRule("r", "reason", "x", unless_named="always")  # type: ignore[arg-type]


def test_a_rule_class_with_its_own_find_is_asked_through_it() -> None:
    """A rule may decide in Python (``find``) rather than by its pattern alone; the
    check asks it, whatever its pattern matches."""

    class Shouting(StandaloneRule):
        def find(self, question: str, names_subject: Any) -> StandaloneIssue | None:
            if question.isupper():
                return StandaloneIssue(self.name, self.reason, question)
            return None

    rules = load_rules().with_language(
        "en",
        Shouting("shouting", "a question in capitals", r"(?!)"),  # the pattern never matches
    )
    issues = check_standalone("WHO WON THE CUP IN 1998?", lang="en", rules=rules)
    assert [issue.rule for issue in issues] == ["shouting"]
    assert check_standalone("Who won the Orin Cup in 1998?", lang="en", rules=rules) == []
