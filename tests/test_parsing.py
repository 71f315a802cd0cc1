"""Specs for turning a model reply into pairs: local repair first, the LLM fixer last."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from qasynth import ParseError
from qasynth._parsing import ParsedReply, ReplyParser

GOOD = [("Who won the 2023 FIFA Women's World Cup?", "Spain"), ("Where was it held?", "AU/NZ")]
FIXED_REPLY = json.dumps(
    {"question_answer_pairs": [{"question": "What did the fixer return?", "answer": "JSON"}]}
)
BODY = (
    '{"question_answer_pairs": ['
    '{"question": "Who won the 2023 FIFA Women\'s World Cup?", "answer": "Spain"}, '
    '{"question": "Where was it held?", "answer": "AU/NZ"}]}'
)


def fixer(*replies: str) -> FakeListChatModel:
    """A fixer model that answers with ``replies`` in turn (cycling)."""
    return FakeListChatModel(responses=list(replies or [FIXED_REPLY]))


def parse_locally(reply: str) -> tuple[ParsedReply, ReplyParser]:
    """Parse with a fixer at hand, so that a fallback to it would show in the result."""
    parser = ReplyParser(fixer(), max_fix_attempts=2)
    return parser.parse(reply), parser


def pairs_of(parsed: ParsedReply) -> list[tuple[str, str]]:
    return [(p.question, p.answer) for p in parsed.pairs]


@pytest.mark.parametrize(
    ("reply", "repair"),
    [
        pytest.param(BODY, None, id="clean-json"),
        pytest.param(f"Sure! Here are the pairs:\n{BODY}", "surrounding_text", id="prose-before"),
        pytest.param(
            f"Here you go:\n{BODY}\n\nLet me know if you need more.",
            "surrounding_text",
            id="prose-before-and-after",
        ),
        pytest.param(f"```json\n{BODY}\n```", "code_fence", id="code-fence"),
        pytest.param(f"Result:\n```\n{BODY}\n```\nDone.", "code_fence", id="bare-code-fence"),
        pytest.param(
            BODY.replace('"AU/NZ"}', '"AU/NZ",},').replace("]}", "],}"),
            "json_repair",
            id="trailing-commas",
        ),
        pytest.param(
            "{'question_answer_pairs': ["
            "{'question': \"Who won the 2023 FIFA Women's World Cup?\", 'answer': 'Spain', "
            "'verified': True, 'source': None}, "
            "{'question': 'Where was it held?', 'answer': 'AU/NZ', 'verified': False}]}",
            "json_repair",
            id="single-quotes-and-python-literals",
        ),
        pytest.param(BODY.replace("question_answer_pairs", "qa_list"), "wrong_key", id="wrong-key"),
        pytest.param(BODY[len('{"question_answer_pairs": ') : -1], "bare_list", id="bare-list"),
        pytest.param(
            '<think>The reply must look like {"question_answer_pairs": [...]}.</think>\n' + BODY,
            "reasoning_block",
            id="reasoning-block-with-braces",
        ),
        pytest.param(
            'First {"a": 1}, then the list.\n</think>\n\n' + BODY,
            "reasoning_block",
            id="reasoning-block-without-its-opening-tag",
        ),
        pytest.param(
            "Each pair is {question, answer}; the list is [...]. Here it is:\n" + BODY,
            "surrounding_text",
            id="braces-in-the-prose-before",
        ),
        pytest.param(
            'Draft: {"note": "no pairs yet"}\nFinal:\n' + BODY,
            "surrounding_text",
            id="another-object-before",
        ),
    ],
)
def test_repairable_reply_is_parsed_locally_without_calling_the_fixer(
    reply: str, repair: str | None
) -> None:
    parsed, parser = parse_locally(reply)

    assert pairs_of(parsed) == GOOD
    assert parsed.rejected == []
    assert parser.fix_calls == 0
    assert "llm_fix" not in parsed.repairs
    if repair is None:
        assert parsed.repairs == []
    else:
        assert repair in parsed.repairs


def test_prose_after_the_json_does_not_cost_the_last_pair() -> None:
    parsed, _ = parse_locally('[{"question": "Q1?", "answer": "A1"}]\n-- done, 1 pair')

    assert pairs_of(parsed) == [("Q1?", "A1")]
    assert parsed.rejected == []


def test_braces_and_quotes_inside_strings_do_not_end_the_json_early() -> None:
    reply = json.dumps({"question_answer_pairs": [{"question": 'Is "{x]" a set?', "answer": "}"}]})

    parsed, _ = parse_locally(f"Answer: {reply} (end)")

    assert pairs_of(parsed) == [('Is "{x]" a set?', "}")]


def test_truncated_array_keeps_the_complete_pairs_and_rejects_the_cut_one() -> None:
    reply = BODY[: BODY.index('"AU/NZ"') + len('"AU')]  # cut inside the second answer

    parsed, parser = parse_locally(reply)

    assert pairs_of(parsed) == GOOD[:1]
    assert parsed.rejected == [("truncated_pair", "Where was it held?", "AU")]
    assert parser.fix_calls == 0


def test_array_cut_between_pairs_keeps_every_pair() -> None:
    reply = BODY[:-2] + ", "  # cut after the last complete pair

    parsed, _ = parse_locally(reply)

    assert pairs_of(parsed) == GOOD
    assert parsed.rejected == []


def test_numbers_as_answers_become_text() -> None:
    reply = json.dumps(
        {
            "question_answer_pairs": [
                {"question": "How many goals did Spain score in the final?", "answer": 1},
                {"question": "What is the grinder's burr size in mm?", "answer": 38.5},
            ]
        }
    )

    parsed, _ = parse_locally(reply)

    assert [p.answer for p in parsed.pairs] == ["1", "38.5"]


def test_one_malformed_pair_is_dropped_with_a_reason_and_the_others_are_kept() -> None:
    reply = json.dumps(
        {
            "question_answer_pairs": [
                {"question": "Q1?", "answer": "A1"},
                {"question": "No answer here?"},
                "just a string",
                {"question": "Q2?", "answer": ["a", "list"]},
                {"question": "Q3?", "answer": "A3"},
            ]
        }
    )

    parsed, parser = parse_locally(reply)

    assert pairs_of(parsed) == [("Q1?", "A1"), ("Q3?", "A3")]
    assert [r[0] for r in parsed.rejected] == ["malformed_pair"] * 3
    assert [r[1] for r in parsed.rejected] == ["No answer here?", '"just a string"', "Q2?"]
    assert parser.fix_calls == 0


def test_reply_beyond_local_repair_is_sent_to_the_fixer_model() -> None:
    parser = ReplyParser(fixer(FIXED_REPLY), max_fix_attempts=2)

    parsed = parser.parse("I am sorry, but I cannot produce JSON for this text.")

    assert pairs_of(parsed) == [("What did the fixer return?", "JSON")]
    assert parser.fix_calls == 1
    assert "llm_fix" in parsed.repairs


def test_only_malformed_pairs_count_as_unusable_and_go_to_the_fixer() -> None:
    parser = ReplyParser(fixer(FIXED_REPLY), max_fix_attempts=1)

    parsed = parser.parse('{"question_answer_pairs": [{"question": "Q?", "answer": true}]}')

    assert parser.fix_calls == 1
    assert pairs_of(parsed) == [("What did the fixer return?", "JSON")]


async def test_async_parse_uses_the_fixer_too() -> None:
    parser = ReplyParser(fixer(FIXED_REPLY), max_fix_attempts=2)

    parsed = await parser.aparse("No JSON at all.")

    assert pairs_of(parsed) == [("What did the fixer return?", "JSON")]
    assert parser.fix_calls == 1


@pytest.mark.parametrize("max_fix_attempts", [1, 2, 3])
def test_fixer_failing_too_raises_parse_error_with_every_reply(max_fix_attempts: int) -> None:
    model = fixer("Still no JSON, sorry.")
    parser = ReplyParser(model, max_fix_attempts=max_fix_attempts)

    with pytest.raises(ParseError) as caught:
        parser.parse("Original prose reply without any JSON.")

    error = caught.value
    assert error.attempts == 1 + max_fix_attempts
    assert parser.fix_calls == max_fix_attempts
    assert "Original prose reply without any JSON." in error.raw_output
    assert error.raw_output.count("Still no JSON, sorry.") == max_fix_attempts
    assert f"{1 + max_fix_attempts} attempt" in str(error)


def test_max_fix_attempts_zero_never_calls_the_fixer() -> None:
    parser = ReplyParser(fixer(FIXED_REPLY), max_fix_attempts=0)

    with pytest.raises(ParseError) as caught:
        parser.parse("No JSON at all.")

    assert caught.value.attempts == 1
    assert caught.value.raw_output == "No JSON at all."
    assert parser.fix_calls == 0


def test_without_a_fixer_model_unusable_output_fails_after_one_attempt() -> None:
    with pytest.raises(ParseError) as caught:
        ReplyParser(None).parse("No JSON at all.")

    assert caught.value.attempts == 1


def test_negative_max_fix_attempts_is_refused() -> None:
    with pytest.raises(ValueError, match="max_fix_attempts"):
        ReplyParser(fixer(), max_fix_attempts=-1)


@pytest.mark.parametrize(
    "reply", ["I cannot comply with this request {{{", "Sorry, there is nothing to ask. []"]
)
def test_prose_with_stray_brackets_is_unusable_not_a_reply_without_pairs(reply: str) -> None:
    """A refusal is not "no pairs": it goes to the fixer, and fails with its raw output
    kept, rather than finishing the chunk with nothing."""
    parser = ReplyParser(None, max_fix_attempts=0)
    with pytest.raises(ParseError, match="no pairs: only text") as failure:
        parser.parse(reply)
    assert failure.value.raw_output == reply


@pytest.mark.parametrize("reply", ['{"question_answer_pairs": []}', "[]",
                                   'None apply: {"question_answer_pairs": []}'])  # fmt: skip
def test_a_reply_that_says_it_has_no_pairs_is_taken_at_its_word(reply: str) -> None:
    assert ReplyParser(None, max_fix_attempts=0).parse(reply).pairs == []
